"""Branch set-up: the services (ticket classes) and the counters that serve them.

Read from a TOML file for a live branch, or from a `branch_config` event when a
log is replayed. The same dataclasses serve both.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidInput, NotFound

DEFAULT_TIMEZONE = "Asia/Shanghai"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PREFIX = re.compile(r"^[A-Z]{1,2}$")
MAX_NAME = 64  # characters of a branch, service or counter name (a counter-top screen shows it whole)


@dataclass(frozen=True)
class Service:
    """A class of business with its own ticket letter, e.g. A 现金/简单业务."""

    id: str
    name: str
    prefix: str
    priority: int = 1
    name_en: str = ""

    def label(self, lang: str = "zh") -> str:
        return self.name_en or self.name if lang == "en" else self.name


@dataclass(frozen=True)
class Counter:
    """A window. `services` is the order in which it prefers to call them."""

    id: str
    name: str
    services: tuple[str, ...]
    name_en: str = ""

    def label(self, lang: str = "zh") -> str:
        return self.name_en or self.name if lang == "en" else self.name


@dataclass(frozen=True)
class BranchConfig:
    """The day's set-up of one branch."""

    branch: str
    services: tuple[Service, ...]
    counters: tuple[Counter, ...]
    name: str = ""
    timezone: str = DEFAULT_TIMEZONE
    day_starts_at: time = time(0, 0)
    _by_service: dict[str, Service] = field(init=False, repr=False, compare=False)
    _by_counter: dict[str, Counter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_service", {s.id: s for s in self.services})
        object.__setattr__(self, "_by_counter", {c.id: c for c in self.counters})

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, service_id: str) -> Service:
        try:
            return self._by_service[service_id]
        except KeyError:
            allowed = ", ".join(s.id for s in self.services)
            raise NotFound(
                f"Unknown service '{service_id}'; this branch offers: {allowed}.",
                f"没有'{service_id}'这项业务;本网点可办理: {allowed}。",
            ) from None

    def counter(self, counter_id: str) -> Counter:
        try:
            return self._by_counter[counter_id]
        except KeyError:
            allowed = ", ".join(c.id for c in self.counters)
            raise NotFound(
                f"Unknown counter '{counter_id}'; this branch has counters: {allowed}.",
                f"没有'{counter_id}'号窗口;本网点窗口: {allowed}。",
            ) from None

    def has_service(self, service_id: str) -> bool:
        return service_id in self._by_service

    def has_counter(self, counter_id: str) -> bool:
        return counter_id in self._by_counter

    def service_by_prefix(self, prefix: str) -> Service | None:
        return next((s for s in self.services if s.prefix == prefix), None)

    def priority(self) -> dict[str, int]:
        return {s.id: s.priority for s in self.services}

    def with_service(self, service: Service) -> BranchConfig:
        return replace(self, services=(*self.services, service))

    def with_counter(self, counter: Counter) -> BranchConfig:
        return replace(self, counters=(*self.counters, counter))

    def event_fields(self) -> dict[str, Any]:
        """The fields of a `branch_config` event (spec fields plus our extras)."""
        return {
            "branch": self.branch,
            "name": self.name,
            "timezone": self.timezone,
            "day_starts_at": self.day_starts_at.strftime("%H:%M"),
            "services": [
                {"id": s.id, "name": s.name, "name_en": s.name_en, "prefix": s.prefix,
                 "priority": s.priority}
                for s in self.services
            ],
            "counters": [
                {"id": c.id, "name": c.name, "name_en": c.name_en, "services": list(c.services)}
                for c in self.counters
            ],
        }


def config_from_mapping(data: Mapping[str, Any], *, strict: bool = True) -> BranchConfig:
    """Build and validate a config from a TOML table or a `branch_config` event.

    `strict` applies the rules for configs a bank writes (ids and prefixes of a
    safe form); imported history is taken as it is written.
    """
    branch = str(data.get("branch") or data.get("id") or "").strip()
    if not branch:
        raise InvalidInput("The branch config needs a 'branch' id.")
    if strict and not _ID.match(branch):
        raise InvalidInput(
            f"Branch id '{branch}' is not allowed; use 1-32 letters, digits, '-' or '_'."
        )
    services = tuple(_service(s, strict) for s in _list(data, "services"))
    if not services:
        raise InvalidInput("The branch config needs at least one service.")
    _unique([s.id for s in services], "service id")
    _unique([s.prefix for s in services], "service prefix")
    known = {s.id for s in services}
    counters = tuple(_counter(c, known, strict) for c in _list(data, "counters"))
    _unique([c.id for c in counters], "counter id")
    timezone = str(data.get("timezone") or DEFAULT_TIMEZONE)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown timezone '{timezone}'; use an IANA name such as Asia/Shanghai.") from None
    return BranchConfig(
        branch=branch, services=services, counters=counters,
        name=_name(data.get("name") or branch, f"Branch '{branch}'", strict), timezone=timezone,
        day_starts_at=_hhmm(data.get("day_starts_at", "00:00")),
    )


def load_config(path: str | Path) -> BranchConfig:
    """Read a branch config TOML file (see server/branches/demo.toml)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc}).") from None
    return config_from_mapping(data)


def _list(data: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise InvalidInput(f"'{key}' must be a list of tables.")
    return value


def _service(d: Mapping[str, Any], strict: bool) -> Service:
    sid = str(d.get("id", "")).strip()
    prefix = str(d.get("prefix", "")).strip()
    if not sid:
        raise InvalidInput("Every service needs an 'id'.")
    if strict and not _ID.match(sid):
        raise InvalidInput(f"Service id '{sid}' is not allowed; use letters, digits, '-' or '_'.")
    if not prefix or (strict and not _PREFIX.match(prefix)):
        raise InvalidInput(f"Service '{sid}' needs a ticket prefix of one or two capital letters.")
    try:
        priority = int(d.get("priority", 1))
    except (TypeError, ValueError):
        raise InvalidInput(f"Service '{sid}': priority must be a whole number.") from None
    return Service(
        id=sid, name=_name(d.get("name") or sid, f"Service '{sid}'", strict), prefix=prefix, priority=priority,
        name_en=_name(d.get("name_en") or "", f"Service '{sid}'", strict),
    )


def _counter(d: Mapping[str, Any], known: set[str], strict: bool) -> Counter:
    cid = str(d.get("id", "")).strip()
    if not cid:
        raise InvalidInput("Every counter needs an 'id'.")
    if strict and not _ID.match(cid):  # it is part of the teller's URL: /counters/{id}/call-next
        raise InvalidInput(f"Counter id '{cid}' is not allowed; use 1-32 letters, digits, '-' or '_'.")
    services = d.get("services", [])
    if not isinstance(services, list) or not services:
        raise InvalidInput(f"Counter '{cid}' needs a non-empty list of services.")
    unknown = [s for s in services if s not in known]
    if unknown:
        raise InvalidInput(
            f"Counter '{cid}' names unknown services {unknown}; known: {sorted(known)}."
        )
    return Counter(
        id=cid, name=_name(d.get("name") or cid, f"Counter '{cid}'", strict),
        services=tuple(str(s) for s in services), name_en=_name(d.get("name_en") or "", f"Counter '{cid}'", strict),
    )


def _name(value: Any, whose: str, strict: bool) -> str:
    """A name shown on screens: no control characters (they print as nothing or garbage, and
    PostgreSQL refuses a NUL in text), at most MAX_NAME characters."""
    name = str(value)
    if strict and (not name.isprintable() or len(name) > MAX_NAME):
        raise InvalidInput(f"{whose}: the name '{name.encode('unicode_escape').decode()[:80]}' is not allowed; "
                           f"use up to {MAX_NAME} printable characters (no control characters such as line breaks).")
    return name


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise InvalidInput(f"Duplicate {what} '{v}' in the branch config.")
        seen.add(v)


def _hhmm(value: Any) -> time:
    try:
        hh, mm = str(value).split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise InvalidInput(f"day_starts_at must be HH:MM, not '{value}'.") from None
