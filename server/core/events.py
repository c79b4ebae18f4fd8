"""Events in the branch event-log format (shared/spec/event-log.md, v1.1).

One event per state change. Reading is strict about form (every malformed line
is an error naming its line number) and lenient about the future (unknown types
are skipped with a warning, unknown fields are kept and ignored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import LogError

SPEC_VERSION = "1.1"
MAX_LINE_BYTES = 64 * 1024  # a branch event is a few hundred bytes; a megabyte line is an attack

# Required fields of each known type (besides ts and type), and their JSON types.
REQUIRED: dict[str, tuple[str, ...]] = {
    "branch_config": ("branch", "services", "counters"),
    "ticket_issued": ("ticket", "service"),
    "called": ("ticket", "counter"),
    "recalled": ("ticket", "counter"),
    "service_started": ("ticket", "counter"),
    "service_finished": ("ticket", "counter"),
    "wrapup_started": ("counter",),
    "wrapup_finished": ("counter",),
    "no_show": ("ticket", "counter"),
    "abandoned": ("ticket",),
    "transferred": ("ticket", "service"),
    "counter_opened": ("counter",),
    "counter_paused": ("counter",),
    "counter_resumed": ("counter",),
    "counter_closed": ("counter",),
}
EVENT_TYPES = frozenset(REQUIRED)
CHANNELS = ("kiosk", "mobile", "staff", "appointment")
# Reasons of an event that ends a ticket at a time that is not the customer's: yesterday closed out at
# the next day's start, or a finish the log did not record, put in when a replay repairs the history.
NOT_MEASURED = frozenset({"end_of_day", "not_recorded"})


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the log: when, what, and the type's own fields."""

    ts: datetime
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ticket(self) -> str:
        return self.data["ticket"]

    @property
    def counter(self) -> str:
        return self.data["counter"]

    @property
    def service(self) -> str:
        return self.data["service"]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def measured(self) -> bool:
        """Whether its time is the customer's: a duration or a wait to learn from (not a close-out or a repair)."""
        return self.data.get("reason") not in NOT_MEASURED

    def to_dict(self) -> dict[str, Any]:
        return {"ts": format_ts(self.ts), "type": self.type, **self.data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(", ", ": "))


def event(ts: datetime, type_: str, **fields: Any) -> Event:
    """Build an event, dropping optional fields that are None."""
    return Event(ts, type_, {k: v for k, v in fields.items() if v is not None})


def format_ts(ts: datetime) -> str:
    """ISO 8601 with milliseconds and the UTC offset, as the spec writes it."""
    return ts.isoformat(timespec="milliseconds")


def parse_ts(value: Any, name: str = "ts") -> datetime:
    """Parse an ISO 8601 time that must carry its UTC offset (`name`: the field, for the error)."""
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be an ISO 8601 time as a string, like 2026-11-28T09:00:03.120+08:00")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise ValueError(f"'{value}' has no UTC offset; write it like 2026-11-28T09:00:03.120+08:00")
    try:
        ts.astimezone(UTC)  # storage and comparisons work in UTC
    except OverflowError:
        raise ValueError(f"'{value}' is out of range: in UTC it falls outside the years 1-9999") from None
    return ts


# Optional free-text fields of the spec. Their values are not limited to the
# spec's examples (a call centre's export may say "phone" for `channel`), only
# their type: a number where text belongs is a broken export, said so.
OPTIONAL_TEXT = ("channel", "reason", "transaction")


def parse_event(obj: Any) -> Event | None:
    """Validate one decoded JSON object. Returns None for an unknown type."""
    if not isinstance(obj, dict):
        raise ValueError("an event must be a JSON object")
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise ValueError("missing 'type'" if type_ is None else "'type' must be a string")
    ts = parse_ts(obj.get("ts"))
    if type_ not in REQUIRED:
        return None
    missing = [f for f in REQUIRED[type_] if obj.get(f) in (None, "")]
    if missing:
        raise ValueError(f"'{type_}' needs {', '.join(missing)}")
    ids = {}
    for key in ("ticket", "counter", "service"):
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            ids[key] = str(value)  # an export's agent 1034 or window 7: the same id as "1034", "7"
        elif key in obj and not isinstance(value, str):
            raise ValueError(f"'{key}' must be a string (or a whole number)")
    for key in OPTIONAL_TEXT:  # optional: null is the same as absent
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f"'{key}' must be a string or null")
    if obj.get("wrapup") is not None and not isinstance(obj["wrapup"], bool):
        raise ValueError("'wrapup' must be true, false or null")
    if type_ != "branch_config" and obj.get("services") is not None and not (
            isinstance(obj["services"], list) and all(isinstance(s, str) for s in obj["services"])):
        raise ValueError(f"'services' of '{type_}' must be a list of service ids")
    if "expected_return" in obj and obj["expected_return"] is not None:
        parse_ts(obj["expected_return"], "expected_return")
    data = {k: v for k, v in obj.items() if k not in ("ts", "type")}
    return Event(ts, type_, {**data, **ids})


@dataclass
class LogReader:
    """Reads JSONL lines into events, collecting warnings for skipped lines."""

    check_order: bool = True
    warnings: list[str] = field(default_factory=list)

    def read(self, lines: Iterable[str | bytes]) -> Iterator[tuple[int, Event]]:
        last: datetime | None = None
        for number, raw in enumerate(lines, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise LogError(number, f"line is longer than {MAX_LINE_BYTES} bytes")
            try:
                text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
                if not text.strip():
                    continue
                obj = json.loads(text)
                ev = parse_event(obj)
            except UnicodeDecodeError:
                raise LogError(number, "not UTF-8") from None
            except json.JSONDecodeError as exc:
                raise LogError(number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            except ValueError as exc:
                raise LogError(number, str(exc)) from None
            if ev is None:
                self.warnings.append(f"line {number}: skipped unknown event type '{obj['type']}'")
                continue
            if self.check_order and last is not None and ev.ts < last:
                raise LogError(
                    number, f"events out of order: {format_ts(ev.ts)} comes after {format_ts(last)}"
                )
            last = ev.ts if last is None else max(last, ev.ts)
            yield number, ev


def read_events(lines: Iterable[str | bytes]) -> list[Event]:
    """All events of a log, or LogError naming the first bad line."""
    return [ev for _, ev in LogReader().read(lines)]


def dump_events(events: Iterable[Event]) -> str:
    return "".join(ev.to_json() + "\n" for ev in events)
