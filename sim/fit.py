"""Fit a scenario to a branch's event log (its history, or a simulated one).

Estimates, per service class: arrival rates by interval, lognormal service and
wrap-up times (MLE on logs), no-show share, exponential patience (censored MLE:
abandonments are events, customers called before giving up are censored at their
call), transfer shares; per counter: speed, opening hours, lunch and other pauses.
Silent leavers cannot be told from no-shows in a log, so the fitted scenario
models the logged abandonments as announced (announced_abandon = 1) and the
silent ones inside the no-show share.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

import numpy as np

from server.core.config import BranchConfig, config_from_mapping
from server.core.events import read_events

from .scenario import Dist, fmt_hhmm


@dataclass
class _Ticket:
    service: str
    issued: float
    queued: float
    called: float | None = None
    started: float | None = None
    counter: str | None = None


@dataclass
class Observations:
    """What the log shows, gathered in one pass (times in minutes since local midnight)."""

    config: BranchConfig | None = None
    days: set = field(default_factory=set)
    issued: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    daily: dict = field(default_factory=lambda: defaultdict(int))
    service: dict[str, list[tuple[str, float]]] = field(default_factory=lambda: defaultdict(list))
    wrapup: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    finished: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wrapped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    no_shows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    abandons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    exposure: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    transfers: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    walk: list[float] = field(default_factory=list)
    recall_after: list[float] = field(default_factory=list)
    no_show_after: list[float] = field(default_factory=list)
    mobile: int = 0
    shifts: dict[str, dict] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))  # counter → day → [(open, close)]
    pauses: dict[str, list[tuple[str, float, float, float | None]]] = field(default_factory=lambda: defaultdict(list))
    open_minutes: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def observe(events) -> Observations:  # type: ignore[no-untyped-def]
    ob = Observations()
    tz = ZoneInfo("UTC")
    tickets: dict[str, _Ticket] = {}
    day = None
    wrap_from: dict[str, float] = {}
    wrap_svc: dict[str, str] = {}  # the class whose service the wrap-up follows
    pause_at: dict[str, tuple[str, float, float | None]] = {}
    open_at: dict[str, float] = {}

    def minutes(ts: datetime) -> float:
        local = ts.astimezone(tz)
        return local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7

    for ev in events:
        if ev.type == "branch_config":
            ob.config = config_from_mapping(ev.data, strict=False)
            tz = ob.config.tz
            continue
        d = ev.ts.astimezone(tz).date()
        if d != day:
            day, tickets, wrap_from, wrap_svc, pause_at, open_at = d, {}, {}, {}, {}, {}
            ob.days.add(d)
        m = minutes(ev.ts)
        g = ev.get
        if ev.type == "ticket_issued":
            tickets[ev.ticket] = _Ticket(ev.service, m, m)
            ob.issued[ev.service].append(m)
            ob.daily[d] += 1
            ob.mobile += g("channel") == "mobile"
        elif ev.type == "called" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            if t.called is None:
                ob.first_calls[t.service] += 1
                ob.exposure[t.service] += m - t.issued
            t.called, t.counter = m, ev.counter
        elif ev.type == "recalled" and ev.ticket in tickets and tickets[ev.ticket].called is not None:
            ob.recall_after.append(m - tickets[ev.ticket].called)
        elif ev.type == "service_started" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            t.started = m
            if t.called is not None:
                ob.walk.append(m - t.called)
        elif ev.type == "service_finished" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            if t.started is not None:
                ob.service[t.service].append((ev.counter, m - t.started))
            ob.finished[t.service] += 1
            if g("wrapup"):
                ob.wrapped[t.service] += 1
                wrap_from[ev.counter] = m
                wrap_svc[ev.counter] = t.service
        elif ev.type == "wrapup_started":
            wrap_from[ev.counter] = m
        elif ev.type == "wrapup_finished" and ev.counter in wrap_from:
            svc = wrap_svc.pop(ev.counter, "")
            ob.wrapup[svc].append(m - wrap_from.pop(ev.counter))
        elif ev.type == "no_show" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            ob.no_shows[t.service] += 1
            if t.called is not None:
                ob.no_show_after.append(m - t.called)
        elif ev.type == "abandoned" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            if g("reason") != "end_of_day" and t.called is None:
                ob.abandons[t.service] += 1
                ob.exposure[t.service] += m - t.issued
        elif ev.type == "transferred" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            ob.transfers[t.service][ev.service] += 1
            ob.finished[t.service] -= 1  # a transfer is not a finished service for wrap-up shares
            t.service, t.started = ev.service, None
        elif ev.type == "counter_opened":
            open_at[ev.counter] = m
        elif ev.type == "counter_closed":
            if ev.counter in open_at:
                o = open_at.pop(ev.counter)
                ob.open_minutes[ev.counter] += m - o
                ob.shifts[ev.counter][d].append((o, m))
        elif ev.type == "counter_paused":
            ret = g("expected_return")
            planned = minutes(datetime.fromisoformat(ret)) - m if ret else None
            pause_at[ev.counter] = (str(g("reason") or "break"), m, planned)
        elif ev.type == "counter_resumed" and ev.counter in pause_at:
            reason, start, planned = pause_at.pop(ev.counter)
            ob.pauses[ev.counter].append((reason, start, m - start, planned))
    return ob


def lognormal_fit(x: list[float] | np.ndarray) -> Dist:
    """MLE of a lognormal on the logs, written as mean and cv."""
    x = np.asarray([v for v in x if v > 0], dtype=float)
    if len(x) < 2:
        return Dist("lognormal", float(x.mean()) if len(x) else 5.0, 0.9)
    lx = np.log(x)
    mu, s2 = lx.mean(), lx.var(ddof=1)
    return Dist("lognormal", float(math.exp(mu + s2 / 2)), float(math.sqrt(math.expm1(s2))))


def fit_log(path: Path, interval: int = 30, name: str = "fitted") -> str:
    text = Path(path).read_text(encoding="utf-8")
    return fit_events(read_events(text.splitlines()), interval, name)


def fit_events(events, interval: int = 30, name: str = "fitted") -> str:  # type: ignore[no-untyped-def]
    ob = observe(events)
    cfg = ob.config
    if cfg is None:
        raise ValueError("the log has no branch_config event")
    n_days = max(1, len(ob.days))
    all_t = [t for v in ob.issued.values() for t in v]
    open_ = math.floor(min(all_t) / interval) * interval
    close = math.ceil(max(all_t) / interval) * interval
    n_int = int((close - open_) // interval)

    # counter speed: how much faster than the class average each counter works,
    # then class means of the work at speed 1 (one round of alternation is enough)
    # (compared on logs: service times are lognormal-like, and means of logs are robust)
    log_mean = {s: np.mean([math.log(d) for _, d in v if d > 0]) for s, v in ob.service.items() if v}
    ratios: dict[str, list[float]] = defaultdict(list)
    for s, v in ob.service.items():
        for k, d in v:
            if d > 0:
                ratios[k].append(math.log(d) - log_mean[s])
    speed = {k: math.exp(-np.mean(r)) for k, r in ratios.items() if len(r) >= 5}
    total = sum(len(v) for v in ob.issued.values())
    daily = np.array([ob.daily[d] for d in sorted(ob.days)], dtype=float)
    vcv = 0.0
    if len(daily) >= 3 and daily.mean() > 0:
        vcv = math.sqrt(max(0.0, daily.var(ddof=1) / daily.mean() ** 2 - 1 / daily.mean()))

    out = [
        f"# Scenario fitted by `branchq sim fit` from {n_days} day(s), {total} tickets.",
        "# Keys are documented in sim/scenarios/demo.toml. Logged abandonments are modelled as",
        "# announced; silent leavers are inside the no-show share (a log cannot tell them apart).",
        f'scenario = "{name}"',
        f'start_date = "{min(ob.days).isoformat()}"',
        f'branch = "{_safe_id(cfg.branch)}"',
        f'name = "{cfg.name}"',
        f'timezone = "{cfg.timezone}"',
        "",
        "[day]",
        f'doors_open = "{fmt_hhmm(open_)}"',
        f'doors_close = "{fmt_hhmm(close)}"',
        f"volume_cv = {vcv:.3f}",
        "service_level_minutes = 10",
        "",
        "[arrivals]  # customers per hour, per interval from doors_open",
        f"interval_minutes = {interval}",
    ]
    for s in cfg.services:
        counts = np.bincount(((np.asarray(ob.issued.get(s.id, [])) - open_) // interval).astype(int),
                             minlength=n_int)[:n_int]
        per_hour = counts / n_days * 60 / interval
        out.append(f"{s.id} = [{', '.join(f'{v:.2f}' for v in per_hour)}]")
    waits = [v for v in ob.recall_after if v > 0]
    out += [
        "",
        "[customers]",
        f"walk_seconds = {60 * float(np.mean(ob.walk)) if ob.walk else 15:.1f}",
        f"recall_after_seconds = {60 * median(waits) if waits else 30:.1f}",
        f"no_show_after_seconds = {60 * median(ob.no_show_after) if ob.no_show_after else 90:.1f}",
        "announced_abandon = 1.0",
        f"mobile_share = {ob.mobile / max(total, 1):.3f}",
        "",
    ]
    planned = [p for ps in ob.pauses.values() for p in ps if p[3] is not None]
    over = [p[2] - p[3] for p in planned if p[2] > p[3] + 0.25]
    unplanned = [p for ps in ob.pauses.values() for p in ps if p[0] != "lunch"]
    open_h = sum(ob.open_minutes.values()) / 60
    out += [
        "[pauses]",
        f"overrun_share = {len(over) / len(planned) if planned else 0:.3f}",
        f"overrun_minutes = {float(np.mean(over)) if over else 5:.2f}",
        f"unplanned_per_hour = {len(unplanned) / open_h if open_h else 0:.3f}",
        f"unplanned_minutes = {float(np.mean([p[2] for p in unplanned])) if unplanned else 4:.2f}",
    ]
    for s in cfg.services:
        durs = [d * speed.get(k, 1.0) for k, d in ob.service.get(s.id, [])]
        svc = lognormal_fit(durs) if durs else Dist("lognormal", 5.0, 0.9)
        share = ob.wrapped[s.id] / ob.finished[s.id] if ob.finished[s.id] > 0 else 0.0
        wr = lognormal_fit(ob.wrapup[s.id]) if ob.wrapup.get(s.id) else Dist("lognormal", 1.5, 0.6)
        calls = ob.first_calls[s.id]
        exposure, gave_up = ob.exposure[s.id], ob.abandons[s.id]
        patience = (f'{{ dist = "exponential", mean_minutes = {exposure / gave_up:.2f} }}'
                    if gave_up else '{ dist = "none" }')
        moved = ob.transfers.get(s.id, {})
        served = ob.finished[s.id] + sum(moved.values())
        transfer = ", ".join(f"{t} = {n / served:.4f}" for t, n in moved.items()) if served else ""
        out += [
            "",
            "[[services]]",
            f'id = "{s.id}"', f'name = "{s.name}"', f'name_en = "{s.name_en}"',
            f'prefix = "{s.prefix}"', f"priority = {s.priority}",
            f"service = {svc.to_toml()}   # from {len(durs)} services",
            f"wrapup = {{ share = {share:.3f}, mean_minutes = {wr.mean:.3f}, cv = {wr.cv:.3f} }}",
            f"no_show = {ob.no_shows[s.id] / calls if calls else 0:.4f}",
            f"patience = {patience}   # {gave_up} abandoned",
            f"transfer = {{ {transfer} }}",
        ]
    for c in cfg.counters:
        shifts = _typical_shifts(ob.shifts.get(c.id, {}), open_, close)
        lunches = [p for p in ob.pauses.get(c.id, []) if p[0] == "lunch"]
        out += [
            "",
            "[[counters]]",
            f'id = "{c.id}"', f'name = "{c.name}"', f'name_en = "{c.name_en}"',
            f"services = [{', '.join(repr(s).replace(chr(39), chr(34)) for s in c.services)}]",
            f"speed = {speed.get(c.id, 1.0):.3f}",
            "shifts = [" + ", ".join(f'"{fmt_hhmm(o)}-{fmt_hhmm(max(cl, o + 15))}"' for o, cl in shifts) + "]",
        ]
        if lunches:
            start = median(p[1] for p in lunches)
            length = median(p[3] if p[3] is not None else p[2] for p in lunches)
            out.append(f'lunch = "{fmt_hhmm(start)}-{fmt_hhmm(start + length)}"')
    return "\n".join(out) + "\n"


def _typical_shifts(days: dict, open_: float, close: float) -> list[tuple[float, float]]:
    """A counter's usual day: the commonest number of shifts, each at its median times
    (a window that closes over lunch has two shifts, not one from the average opening
    to the average closing)."""
    per_day = [v for v in days.values() if v]
    if not per_day:
        return [(open_ - 5, close)]
    k = Counter(len(v) for v in per_day).most_common(1)[0][0]
    usual = [sorted(v) for v in per_day if len(v) == k]
    return [(median(v[i][0] for v in usual), median(v[i][1] for v in usual)) for i in range(k)]


def _safe_id(branch: str) -> str:
    """A branch id the strict config reader accepts (imported logs may use any text)."""
    import re

    return branch if re.match(r"^[A-Za-z0-9_-]{1,32}$", branch) else "fitted"
