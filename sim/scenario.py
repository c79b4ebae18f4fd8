"""A scenario: one branch's day as the simulator sees it, read from TOML.

The file is a branch config (the same top-level keys and `[[services]]` /
`[[counters]]` tables as `server/branches/*.toml`) with extra keys a manager can
read: arrivals per hour by interval, service times, the counters' shifts and
pauses. `sim/scenarios/demo.toml` documents every key. Times are minutes since
local midnight inside the simulator; the file writes them as "HH:MM".
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from server.core.config import BranchConfig, config_from_mapping
from server.core.errors import InvalidInput


def hhmm(value: Any) -> float:
    """"HH:MM" → minutes since midnight."""
    try:
        hh, mm = str(value).split(":")
        return int(hh) * 60 + float(mm)
    except ValueError:
        raise InvalidInput(f"A time must be written HH:MM, not '{value}'.") from None


def fmt_hhmm(minutes: float) -> str:
    m = int(round(minutes))
    return f"{m // 60:02d}:{m % 60:02d}"


@dataclass(frozen=True)
class Dist:
    """A duration distribution in minutes: lognormal (default), exponential,
    gamma, fixed, empirical (resampled) or none (never: infinite patience)."""

    kind: str = "lognormal"
    mean: float = 5.0
    cv: float = 1.0
    values: tuple[float, ...] = ()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = self.kind
        if n == 0:
            return np.empty(0)
        if k == "none":
            return np.full(n, math.inf)
        if k == "fixed":
            return np.full(n, self.mean)
        if k == "exponential":
            return rng.exponential(self.mean, n)
        if k == "lognormal":
            s2 = math.log1p(self.cv**2)
            return rng.lognormal(math.log(self.mean) - s2 / 2, math.sqrt(s2), n)
        if k == "gamma":
            shape = 1.0 / self.cv**2
            return rng.gamma(shape, self.mean / shape, n)
        if k == "empirical":
            return rng.choice(np.asarray(self.values, dtype=float), n)
        raise InvalidInput(f"Unknown distribution '{k}'; use lognormal, exponential, gamma, fixed, empirical or none.")

    def to_toml(self) -> str:
        if self.kind == "empirical":
            vals = ", ".join(f"{v:.2f}" for v in self.values)
            return f'{{ dist = "empirical", minutes = [{vals}] }}'
        if self.kind in ("none",):
            return '{ dist = "none" }'
        if self.kind in ("exponential", "fixed"):
            return f'{{ dist = "{self.kind}", mean_minutes = {self.mean:.3f} }}'
        return f'{{ dist = "{self.kind}", mean_minutes = {self.mean:.3f}, cv = {self.cv:.3f} }}'


def parse_dist(d: Any, default: Dist, what: str) -> Dist:
    if d is None:
        return default
    if not isinstance(d, dict):
        raise InvalidInput(f"{what} must be a table like {{ dist = \"lognormal\", mean_minutes = 5, cv = 0.8 }}.")
    kind = str(d.get("dist", default.kind))
    values = tuple(float(v) for v in d.get("minutes", ()))
    if kind == "empirical" and not values:
        raise InvalidInput(f"{what}: an empirical distribution needs a list 'minutes'.")
    mean = float(d.get("mean_minutes", np.mean(values) if values else default.mean))
    cv = float(d.get("cv", 1.0 if kind == "exponential" else default.cv))
    if kind != "none" and mean <= 0:
        raise InvalidInput(f"{what}: mean_minutes must be positive.")
    return Dist(kind, mean, cv, values)


@dataclass(frozen=True)
class ClassSpec:
    """How customers of one service class behave."""

    id: str
    time: Dist
    wrapup_share: float = 0.0
    wrapup: Dist = Dist("lognormal", 1.5, 0.6)
    no_show: float = 0.0
    patience: Dist = Dist("none")
    transfer: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Pause:
    start: float
    minutes: float
    reason: str = "break"


@dataclass(frozen=True)
class CounterPlan:
    """A counter's day: speed (1.2 = 20 % faster than average), shifts, pauses."""

    id: str
    speed: float = 1.0
    shifts: tuple[tuple[float, float], ...] = ()
    pauses: tuple[Pause, ...] = ()


@dataclass(frozen=True)
class Surge:
    start: float
    end: float
    factor: float
    services: tuple[str, ...] = ()  # empty: all
    probability: float = 1.0  # chance it happens on a given day


@dataclass(frozen=True)
class Scenario:
    name: str
    config: BranchConfig
    classes: dict[str, ClassSpec]
    counters: dict[str, CounterPlan]
    doors_open: float
    doors_close: float
    interval: float  # minutes per arrival-rate interval
    rates: dict[str, tuple[float, ...]]  # customers per hour per interval
    surges: tuple[Surge, ...] = ()
    volume_cv: float = 0.0
    start_date: date = date(2026, 12, 1)
    service_level_minutes: float = 10.0
    walk_seconds: float = 15.0
    recall_after_seconds: float = 30.0
    no_show_after_seconds: float = 90.0
    announced_abandon: float = 0.3
    abandon_detect_minutes: float = 0.0  # mean delay before staff notice an announced leaver
    mobile_share: float = 0.0
    overrun_share: float = 0.0
    overrun_minutes: float = 5.0
    unplanned_per_hour: float = 0.0
    unplanned_minutes: float = 4.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_intervals(self) -> int:
        return max(len(r) for r in self.rates.values())

    def interval_starts(self) -> np.ndarray:
        return self.doors_open + self.interval * np.arange(self.n_intervals)

    def rate_matrix(self) -> np.ndarray:
        """Arrivals per minute, shape (classes, intervals), in config order."""
        m = np.zeros((len(self.config.services), self.n_intervals))
        for i, s in enumerate(self.config.services):
            r = self.rates.get(s.id, ())
            m[i, : len(r)] = np.asarray(r, dtype=float) / 60.0
        return m

    def with_counters(self, counters: dict[str, CounterPlan]) -> Scenario:
        return replace(self, counters=counters)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc}).") from None
    return scenario_from_mapping(data, name=path.stem)


def scenario_from_mapping(data: dict[str, Any], name: str = "scenario") -> Scenario:
    config = config_from_mapping(data)
    day = data.get("day", {})
    cust = data.get("customers", {})
    pauses = data.get("pauses", {})
    arrivals = dict(data.get("arrivals", {}))
    interval = float(arrivals.pop("interval_minutes", 30))
    doors_open, doors_close = hhmm(day.get("doors_open", "09:00")), hhmm(day.get("doors_close", "17:00"))
    rates = {}
    for s in config.services:
        r = arrivals.get(s.id, [])
        if not isinstance(r, list) or any(float(x) < 0 for x in r):
            raise InvalidInput(f"arrivals.{s.id} must be a list of customers per hour (>= 0).")
        rates[s.id] = tuple(float(x) for x in r)
    unknown = set(arrivals) - set(rates)
    if unknown:
        raise InvalidInput(f"arrivals for unknown services {sorted(unknown)}.")
    if not any(rates.values()):
        raise InvalidInput("The scenario needs arrivals: [arrivals] A = [customers per hour, ...].")
    n_int = max(len(r) for r in rates.values())
    if doors_open + n_int * interval > doors_close + 1e-9:
        raise InvalidInput(f"{n_int} arrival intervals of {interval:g} min run past doors_close.")

    default_patience = parse_dist(cust.get("patience"), Dist("none"), "customers.patience")
    default_no_show = float(cust.get("no_show", 0.0))
    classes = {}
    by_id = {s["id"]: s for s in data.get("services", [])}
    for s in config.services:
        d = by_id[s.id]
        wr = d.get("wrapup", {})
        transfer = tuple((str(k), float(v)) for k, v in d.get("transfer", {}).items())
        for k, _ in transfer:
            if not config.has_service(k) or k == s.id:
                raise InvalidInput(f"Service {s.id}: transfer to unknown or same service '{k}'.")
        classes[s.id] = ClassSpec(
            id=s.id,
            time=parse_dist(d.get("service"), Dist("lognormal", 5.0, 0.9), f"services.{s.id}.service"),
            wrapup_share=float(wr.get("share", 0.0)),
            wrapup=parse_dist(wr or None, Dist("lognormal", 1.5, 0.6), f"services.{s.id}.wrapup"),
            no_show=float(d.get("no_show", default_no_show)),
            patience=parse_dist(d.get("patience"), default_patience, f"services.{s.id}.patience"),
            transfer=transfer,
        )
    counters = {}
    by_cid = {c["id"]: c for c in data.get("counters", [])}
    for c in config.counters:
        d = by_cid[c.id]
        shifts = []
        for sh in d.get("shifts", [f"{fmt_hhmm(doors_open)}-{fmt_hhmm(doors_close)}"]):
            a, b = str(sh).split("-")
            shifts.append((hhmm(a), hhmm(b)))
        shifts.sort()
        plist = [Pause(hhmm(p["at"]), float(p["minutes"]), str(p.get("reason", "break"))) for p in d.get("pauses", [])]
        if "lunch" in d:
            a, b = str(d["lunch"]).split("-")
            plist.append(Pause(hhmm(a), hhmm(b) - hhmm(a), "lunch"))
        counters[c.id] = CounterPlan(c.id, float(d.get("speed", 1.0)), tuple(shifts),
                                     tuple(sorted(plist, key=lambda p: p.start)))
    surges = tuple(
        Surge(hhmm(s["from"]), hhmm(s["to"]), float(s["factor"]), tuple(s.get("services", ())),
              float(s.get("probability", 1.0)))
        for s in data.get("surges", [])
    )
    sd = data.get("start_date", "2026-12-01")
    return Scenario(
        name=str(data.get("scenario", name)), config=config, classes=classes, counters=counters,
        doors_open=doors_open, doors_close=doors_close, interval=interval, rates=rates, surges=surges,
        volume_cv=float(day.get("volume_cv", 0.0)),
        start_date=sd if isinstance(sd, date) else date.fromisoformat(str(sd)),
        service_level_minutes=float(day.get("service_level_minutes", 10)),
        walk_seconds=float(cust.get("walk_seconds", 15)),
        recall_after_seconds=float(cust.get("recall_after_seconds", 30)),
        no_show_after_seconds=float(cust.get("no_show_after_seconds", 90)),
        announced_abandon=float(cust.get("announced_abandon", 0.3)),
        abandon_detect_minutes=float(cust.get("abandon_detect_minutes", 0.0)),
        mobile_share=float(cust.get("mobile_share", 0.0)),
        overrun_share=float(pauses.get("overrun_share", 0.0)),
        overrun_minutes=float(pauses.get("overrun_minutes", 5.0)),
        unplanned_per_hour=float(pauses.get("unplanned_per_hour", 0.0)),
        unplanned_minutes=float(pauses.get("unplanned_minutes", 4.0)),
        raw=data,
    )
