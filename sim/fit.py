"""Fit a scenario to a branch's event log (its history, or a simulated one).

Estimates, per service class: arrival rates by interval, lognormal service and
wrap-up times (MLE on logs), transfer shares; no-show share, exponential patience
and the share of leavers who announce it, jointly by maximum likelihood (silent
leavers look like no-shows in a log; they are told apart because they grow with the
wait — see `fit_leaving`); per counter: speed, shifts, lunch and other pauses.
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
    first_wait: float | None = None
    judged: bool = False  # the first call's outcome (came / did not) is recorded


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
    came: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # waits of those who came
    missed: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # waits of no-shows
    left: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # waits until `abandoned`
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
                t.first_wait = m - t.issued
            t.called, t.counter = m, ev.counter
        elif ev.type == "recalled" and ev.ticket in tickets and tickets[ev.ticket].called is not None:
            ob.recall_after.append(m - tickets[ev.ticket].called)
        elif ev.type == "service_started" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            t.started = m
            if t.called is not None:
                ob.walk.append(m - t.called)
            if t.first_wait is not None and not t.judged:
                ob.came[t.service].append(t.first_wait)
                t.judged = True
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
            if t.first_wait is not None and not t.judged:
                ob.missed[t.service].append(t.first_wait)
                t.judged = True
        elif ev.type == "abandoned" and ev.ticket in tickets:
            t = tickets[ev.ticket]
            if g("reason") != "end_of_day" and t.called is None:
                ob.abandons[t.service] += 1
                ob.exposure[t.service] += m - t.issued
                ob.left[t.service].append(m - t.issued)
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


def fit_leaving(ob: Observations, ids: list[str]) -> tuple[dict[str, tuple[float, float]], float]:
    """Exponential patience θ and no-show share p per class, and the share a of leavers who
    announce it, by maximum likelihood. A customer who waited w and was called came with
    probability e^(−θw)(1−p); did not come with e^(−θw)p + (1−e^(−θw))(1−a) (a true no-show,
    or a silent leaver); an `abandoned` after u has density a·θ·e^(−θu). Silent leavers show
    up as no-shows that grow with the wait, which is what separates them from no-shows."""
    from scipy.optimize import minimize
    from scipy.special import expit

    data = [(np.asarray(ob.left[s]), np.asarray(ob.came[s]), np.asarray(ob.missed[s])) for s in ids]
    k = len(ids)

    def nll(x: np.ndarray) -> float:
        theta, p, a = np.exp(x[:k]), expit(x[k:2 * k]), expit(x[-1])
        total = 0.0
        for c, (left, came, missed) in enumerate(data):
            th = theta[c]
            total += len(left) * math.log(a * th) - th * left.sum()
            total += len(came) * math.log(1 - p[c]) - th * came.sum()
            stay = np.exp(-th * missed)
            total += np.log(stay * p[c] + (1 - stay) * (1 - a) + 1e-300).sum()
        return -total

    x0 = []
    for left, came, missed in data:
        exposure = left.sum() + came.sum() + missed.sum()
        x0.append(math.log((len(left) + 1) / (exposure + 60.0)))
    for _left, came, missed in data:
        share = (len(missed) + 0.5) / (len(came) + len(missed) + 1.0)
        x0.append(math.log(share / (1 - share)))
    x0.append(0.0)
    res = minimize(nll, np.asarray(x0), method="L-BFGS-B", bounds=[(-14, 2)] * k + [(-9, 3)] * k + [(-6, 6)])
    theta, p, a = np.exp(res.x[:k]), expit(res.x[k:2 * k]), float(expit(res.x[-1]))
    return {s: (float(theta[c]), float(p[c])) for c, s in enumerate(ids)}, a


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
        "# Keys are documented in sim/scenarios/demo.toml. No-shows, patience and announced_abandon",
        "# are fitted together: no-shows that grow with the wait are customers who left silently.",
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
    leaving, announced = fit_leaving(ob, [s.id for s in cfg.services])
    out += [
        "",
        "[customers]",
        f"walk_seconds = {60 * float(np.mean(ob.walk)) if ob.walk else 15:.1f}",
        f"recall_after_seconds = {60 * median(waits) if waits else 30:.1f}",
        f"no_show_after_seconds = {60 * median(ob.no_show_after) if ob.no_show_after else 90:.1f}",
        f"announced_abandon = {announced:.3f}",
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
        theta, no_show = leaving[s.id]
        gave_up = ob.abandons[s.id]
        patience = (f'{{ dist = "exponential", mean_minutes = {1 / theta:.2f} }}'
                    if theta > 1e-4 else '{ dist = "none" }')
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
            f"no_show = {no_show:.4f}   # {ob.no_shows[s.id]} logged no-shows, silent leavers among them",
            f"patience = {patience}   # {gave_up} logged abandonments",
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
