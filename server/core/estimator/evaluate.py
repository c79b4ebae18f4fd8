"""Replay a log through the estimator and the baselines, strictly without lookahead, and score them.

Each event is folded into the state, then shown to the predictors; a
prediction made at an event uses nothing after it. Waits are predicted when a
ticket is issued (and re-estimated when its displayed range changes),
durations when a service starts. The metrics' population is every ticket
issued: called ones are scored, abandoned, no-show and unfinished ones are
counted, never dropped silently. Events that contradict the history (real
exports have them) are repaired or skipped and counted.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from ..errors import BranchError
from ..estimates import Estimates
from ..events import Event, format_ts, parse_event
from ..state import BranchState
from .baselines import SERVICE_BASELINES, WAIT_BASELINES, Baselines
from .calibration import report_group
from .distributions import local_hour
from .estimator import Estimator
from .repairs import ExportRepairs

OURS = "branchq"


@dataclass
class Case:
    """One ticket's first wait: what was predicted at issue and what happened."""

    service: str
    issued: datetime
    hour: int
    ahead: int
    preds: dict[str, tuple[float, float, float]]  # predictor -> (low, point, high) seconds
    outcome: str = "open"  # called | no_show | abandoned | open
    wait: float = math.nan
    day: date | None = None  # the branch's business day it was issued on


@dataclass
class Replay:
    """Feeds events one by one; collects predictions and outcomes."""

    estimator: Estimator
    write: Callable[[dict[str, Any]], None] | None = None
    reestimate: bool = True
    state: BranchState = field(default_factory=BranchState)
    baselines: Baselines = field(default_factory=Baselines)
    cases: dict[tuple[str, datetime], Case] = field(default_factory=dict)
    # (class, counter, seconds, predictor -> (low, point, high), business day of the start)
    services: list[tuple[str, str, float, dict[str, tuple[float, float, float]], date]] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)
    unavailable: int = 0
    events: int = 0
    _shown: dict[str, str] = field(default_factory=dict)
    _service_pending: dict[tuple[str, datetime], tuple[str, dict[str, tuple[float, float, float]]]] = \
        field(default_factory=dict)
    _last: datetime | None = None
    repairs: ExportRepairs = field(init=False)

    def __post_init__(self) -> None:
        self.repairs = ExportRepairs(self.warnings)

    def feed_line(self, number: int, line: str | bytes) -> None:
        """A log line: parsed leniently (a bad line is counted and skipped)."""
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if not text.strip():
            return
        try:
            ev = parse_event(json.loads(text))
        except (ValueError, TypeError):
            self.warnings["malformed line skipped"] += 1
            return
        if ev is None:
            self.warnings["unknown event type skipped"] += 1
            return
        self.feed(ev)

    def feed(self, ev: Event) -> None:
        if self._last is not None and ev.ts < self._last:
            self.warnings["event out of time order skipped"] += 1
            return
        for applied in self._apply(ev):
            self._last = applied.ts
            self.events += 1
            self.estimator.observe(applied, self.state)
            self.baselines.observe(applied, self.state)
            self._after(applied)

    # ---------------------------------------------------------------- lenient fold
    def _apply(self, ev: Event) -> list[Event]:
        """Apply `ev` with what the export left out put back first (`repairs`); skip what cannot fit."""
        st, out = self.state, list[Event]()
        before, main, after = self.repairs.plan(ev, st)
        if main is None:
            return out
        for r in (*before, main, *after):
            try:
                st.apply(r)
            except BranchError as exc:
                self.warnings[f"{ev.type} contradicting the history skipped ({_kind(exc.message)})"] += 1
                return out
            if r is not main:
                self.warnings[f"repaired: {r.type} inserted {'before' if r in before else 'after'} {ev.type}"] += 1
            out.append(r)
        return out

    # ---------------------------------------------------------------- predictions
    def _after(self, ev: Event) -> None:
        try:
            self._predict(ev)
        except Exception as exc:  # noqa: BLE001 -- one bad moment must not end a month's evaluation
            self.warnings[f"estimator failed at {ev.type} ({type(exc).__name__}); baseline used"] += 1
            if ev.type == "ticket_issued" and (ev.ticket, ev.ts) not in self.cases:
                t = self.state.tickets[ev.ticket]
                self._case(t, Estimates(ev.ts), ev.ts)

    def _predict(self, ev: Event) -> None:
        st = self.state
        if ev.type == "ticket_issued" or ev.type == "transferred":
            t = st.tickets[ev.ticket]
            quick = self.estimator.called_at_once(st, t.number, ev.ts) if ev.type == "ticket_issued" else None
            if quick is not None:  # a free counter calls it now: nothing to simulate, nothing else changed
                self._case(t, Estimates(ev.ts, waits={t.number: quick}), ev.ts)
                return
            est = self.estimator.estimate(st, ev.ts)
            if ev.type == "ticket_issued":
                self._case(t, est, ev.ts)
            if self.reestimate:
                self._reestimates(est, ev.ts)
        elif ev.type == "called":
            self._outcome(ev, "called")
        elif ev.type in ("no_show", "abandoned"):
            self._outcome(ev, ev.type)
        elif ev.type == "service_started":
            t = st.tickets[ev.ticket]
            low, point, high = self.estimator.service_estimate(t.service, ev.counter)
            preds = {OURS: (low, point, high), **self.baselines.services(t, ev.ts)}
            self._service_pending[(t.number, ev.ts)] = (t.service, preds)
            self._emit(ev.ts, t.number, "service", (low, point, high), counter=ev.counter)
        elif ev.type == "service_finished":
            t = st.tickets[ev.ticket]
            started = t.started_at
            pending = self._service_pending.pop((t.number, started), None) if started else None
            if pending is not None and started is not None and ev.measured:
                self.services.append((pending[0], ev.counter, (ev.ts - started).total_seconds(), pending[1],
                                      st.business_day(started)))

    def _case(self, t, est, now: datetime) -> None:  # type: ignore[no-untyped-def]
        queue = self.state.waiting(t.service)
        ahead = next((i for i, w in enumerate(queue) if w.number == t.number), 0)
        base = self.baselines.waits(t, self.state, now)
        w = est.waits.get(t.number)
        if w is None or not w.available:
            self.unavailable += 1  # no open counter: the screens say so; the file needs a number
            ours = base["RA20"]
        else:
            ours = (w.low_s, w.expected_s, w.high_s)
        self.cases[(t.number, t.issued_at)] = Case(t.service, t.issued_at, local_hour(now, self.state), ahead,
                                                   {OURS: ours, **base}, day=self.state.business_day(now))
        self._emit(now, t.number, "wait", ours, available=bool(w is not None and w.available))
        if w is not None:
            self._shown[t.number] = w.text_en

    def _reestimates(self, est, now: datetime) -> None:  # type: ignore[no-untyped-def]
        for number, w in est.waits.items():
            if not w.available or self._shown.get(number) == w.text_en:
                continue
            self._shown[number] = w.text_en
            t = self.state.tickets[number]
            elapsed = t.waited(now)
            self._emit(now, number, "wait", (elapsed + w.low_s, elapsed + w.expected_s, elapsed + w.high_s),
                       elapsed_s=round(elapsed, 1))

    def _outcome(self, ev: Event, what: str) -> None:
        t = self.state.tickets[ev.ticket]
        case = self.cases.get((t.number, t.issued_at))
        if case is None or case.outcome != "open":
            return
        case.outcome = what
        if what == "called":
            case.wait = (ev.ts - t.issued_at).total_seconds()
        self._shown.pop(t.number, None)

    def _emit(self, ts: datetime, ticket: str, kind: str, r: tuple[float, float, float], **extra: Any) -> None:
        if self.write is None:
            return
        self.write({"ts": format_ts(ts), "ticket": ticket, "kind": kind, "expected_s": round(r[1], 1),
                    "low_s": round(r[0], 1), "high_s": round(r[2], 1), **extra})


def _kind(message: str) -> str:
    """A warning's category: the message without its ticket numbers and counters."""
    words = [w for w in message.split() if not any(ch.isdigit() for ch in w)]
    return " ".join(words[:6])


# -------------------------------------------------------------------- metrics
def interval_metrics(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, bias, coverage, width, late-miss at +0/+2/+5 min, Winkler (alpha 0.2) of (low, point, high) rows."""
    if len(actual) == 0:
        return {}
    low, point, high = pred[:, 0], pred[:, 1], pred[:, 2]
    err = point - actual
    alpha = 0.2
    winkler = (high - low) + (2 / alpha) * (np.maximum(low - actual, 0) + np.maximum(actual - high, 0))
    return {
        "n": float(len(actual)), "MAE": float(np.mean(np.abs(err))), "RMSE": float(np.sqrt(np.mean(err ** 2))),
        "bias": float(np.mean(err)), "coverage": float(np.mean((actual >= low) & (actual <= high))),
        "width": float(np.mean(high - low)), "late0": float(np.mean(actual > high)),
        "late2": float(np.mean(actual > high + 120)), "late5": float(np.mean(actual > high + 300)),
        "winkler": float(np.mean(winkler)),
    }


def report(replay: Replay, score_from: date | None = None) -> dict[str, Any]:
    """Every metric the evaluation prints, as plain data.

    With `score_from`, the days before it only warm the predictors up (they learn from every event)
    and only tickets issued and services started on that business day or later are scored.
    """
    def scored_day(day: date | None) -> bool:
        return score_from is None or (day is not None and day >= score_from)

    cases = [c for c in replay.cases.values() if scored_day(c.day)]
    scored = [c for c in cases if c.outcome == "called"]
    actual = np.array([c.wait for c in scored])
    names = (OURS, *WAIT_BASELINES)
    out: dict[str, Any] = {
        "tickets": len(cases), "scored": len(scored),
        "outcomes": dict(Counter(c.outcome for c in cases)), "unavailable_at_issue": replay.unavailable,
        "warnings": dict(replay.warnings), "events": replay.events,
        "wait": {n: interval_metrics(np.array([c.preds[n] for c in scored]).reshape(-1, 3), actual) for n in names},
    }
    waited = [c for c in scored if c.wait > 1.0]  # a free counter called the rest at once: trivially covered
    out["wait_waited"] = {n: interval_metrics(np.array([c.preds[n] for c in waited]).reshape(-1, 3),
                                              np.array([c.wait for c in waited])) for n in names}
    out["by_ahead"] = {n: _grouped(scored, actual, n, lambda c: report_group(c.ahead)) for n in names}
    out["by_class"] = {n: _grouped(scored, actual, n, lambda c: c.service) for n in names}
    out["by_hour"] = {n: _grouped(scored, actual, n, lambda c: f"{c.hour:02d}") for n in names}
    svc = [s for s in replay.services if scored_day(s[4])]
    dur = np.array([s[2] for s in svc])
    out["service"] = {n: interval_metrics(np.array([s[3][n] for s in svc]).reshape(-1, 3), dur)
                      for n in (OURS, *SERVICE_BASELINES)}
    return out


def _grouped(scored: list[Case], actual: np.ndarray, name: str, key: Callable[[Case], str]) -> dict[str, Any]:
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(scored):
        groups.setdefault(key(c), []).append(i)
    out = {}
    for g, idx in sorted(groups.items()):
        pred = np.array([scored[i].preds[name] for i in idx])
        m = interval_metrics(pred, actual[idx])
        out[g] = {k: m[k] for k in ("n", "MAE", "coverage", "late2")}
    return out


def replay_lines(lines: Iterable[str | bytes], estimator: Estimator,
                 write: Callable[[dict[str, Any]], None] | None = None, reestimate: bool = True) -> Replay:
    r = Replay(estimator, write, reestimate)
    for number, line in enumerate(lines, start=1):
        r.feed_line(number, line)
    return r
