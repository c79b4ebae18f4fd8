"""The Estimator: honest wait ranges and counter estimates for the screens (EstimatorLike).

`observe` learns from every event (durations, pauses, no-shows, arrivals) and
scores its own earlier predictions once their outcome is known, which feeds
the online calibration. `estimate` runs the forward simulation of the branch
as it stands, reads each ticket's wait quantiles, calibrates them and turns
them into texts, with hysteresis per ticket so screens change only when the
meaning changes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from ..config import BranchConfig
from ..estimates import CounterEstimate, Estimates, WaitEstimate
from ..events import Event
from ..policy import service_to_call
from ..state import BranchState, CounterStatus, TicketStatus
from . import kernel, texts
from .blend import Blend
from .calibration import AT_ONCE, SERVICE_TARGETS, Calibrator, ahead_bucket
from .distributions import BranchModel, Defaults
from .forward import simulate
from .schedule import CounterSchedule
from .skills import CounterSkills
from .snapshot import HORIZON_S, Layout, _away, build, counter_services, services_of

SOON_S = 180.0  # "turn soon": called within three minutes
STAFFING = ("counter_opened", "counter_paused", "counter_resumed", "counter_closed")
REUSE_S = 15.0  # the same state this recently simulated is reused (server refreshes, repeated reads)


@dataclass(frozen=True)
class Raw:
    """A prediction as the simulation made it, before calibration (kept to score it later)."""

    at: datetime
    bucket: str
    q: tuple[float, float, float]
    scale: float
    hol: float = 0.0  # the head-of-line wait then (0 with nobody ahead)
    point: float = math.nan  # the calibrated point shown, before the blend (learned from)
    shown: tuple[float, float, float] | None = None  # the calibrated (low, point, high) given then
    shifted: float | None = None  # the point the calibration's whole median shift gave then


class Estimator:
    """Forward Monte Carlo of the branch, calibrated online; implements EstimatorLike."""

    def __init__(self, config: BranchConfig | None = None, rng: np.random.Generator | None = None,
                 replications: int = 64, defaults: Defaults | None = None, joins: bool = True) -> None:
        self.config = config
        self.joins = joins  # 'if you take a number now' (the kiosk) and the counters' texts; evaluation skips them
        self.model = BranchModel(defaults or Defaults())
        self.schedule = CounterSchedule()
        self.skills = CounterSkills()  # what counters the set-up does not name serve, from their calls
        self.reps = replications
        # A fixed base seed mixed with the state's position: the same history gives the same numbers,
        # however often and whenever the screens asked before.
        self.seed = int((rng or np.random.default_rng(0)).integers(2**62))
        self.wait_cal = Calibrator()
        self.blend = Blend()
        # With counters' openings, pauses and closings in the log, the simulation knows who is staffed and
        # the head-of-line wait adds nothing it does not (on simulated branches the blend cost as much as it
        # gained); without them (a call centre's switch logs calls only), it carries what the log does not say.
        # So does the calibration's median shift: where staffing is logged, the errors within one long queue
        # share its luck and their median was noise carried into the next queue (49 3-day branch logs, mean
        # MAE ratio 0.780 moved, 0.773 not; plain M/M/c 1.03 -> 1.01); where it is not, it is a real bias
        # (call-centre month 0.84 moved, 0.89 not).
        self.staffing_logged = False
        self.service_cal = Calibrator(targets=SERVICE_TARGETS, window=400, late_cap=None, group=str, shift_point=False)  # per class
        self._first: dict[tuple[str, datetime], Raw] = {}
        self._service_raw: dict[tuple[str, datetime], Raw] = {}
        self._shown: dict[str, texts.Shown] = {}
        self._cache: tuple[int, datetime, Estimates] | None = None

    # ---------------------------------------------------------------- learning
    def observe(self, event: Event, state: BranchState) -> None:
        self.model.observe(event, state)
        if event.type in STAFFING:
            self.staffing_logged = True
        self.schedule.observe(event, state)
        self.skills.observe(event, state)
        t = state.tickets.get(event.data.get("ticket", "")) if "ticket" in event.data else None
        if t is None:
            return
        if event.type == "called" and t.calls == 1 or event.type == "called" and t.transfers:
            self._score_wait(t.number, t.queued_at or t.issued_at, event.ts)
        elif event.type in ("abandoned", "transferred"):
            self._first.pop((t.number, t.queued_at or t.issued_at), None)
            self._shown.pop(t.number, None)  # numbers repeat across days: no stale text for tomorrow's A001
        elif event.type == "service_started":
            self._service_raw[(t.number, event.ts)] = self._service_raw_now(t.service, event.counter, event.ts)
        elif event.type == "service_finished" and t.started_at is not None:
            raw = self._service_raw.pop((t.number, t.started_at), None)
            if raw is not None and event.measured:
                self.service_cal.learn(raw.bucket, raw.q, raw.scale, (event.ts - t.started_at).total_seconds())

    def _score_wait(self, number: str, queued: datetime, called: datetime) -> None:
        raw = self._first.pop((number, queued), None)
        if raw is not None:
            actual = (called - raw.at).total_seconds()
            self.wait_cal.learn(raw.bucket, raw.q, raw.scale, actual, raw.shown, raw.shifted)
            if not math.isnan(raw.point):
                self.blend.learn(raw.bucket, raw.point, raw.hol, actual)
        self._shown.pop(number, None)

    # ---------------------------------------------------------------- service durations
    def _service_raw_now(self, service: str, counter: str, at: datetime) -> Raw:
        lo, mid, hi = self.model.service_start(service, counter, (0.1, 0.5, 0.9)).tolist()
        return Raw(at, service, (lo, mid, hi), hi - lo + 30.0)

    def service_estimate(self, service: str, counter: str) -> tuple[float, float, float]:
        """(low, point, high) seconds of a transaction starting now at `counter`."""
        raw = self._service_raw_now(service, counter, datetime.min)
        return self.service_cal.apply(service, raw.q, raw.scale)

    # ---------------------------------------------------------------- estimating
    def called_at_once(self, state: BranchState, number: str, now: datetime) -> WaitEstimate | None:
        """The estimate for a ticket a free counter is about to call (no simulation needed), else None.

        The forward simulation would give exactly zero for it; replaying a
        month, skipping the simulation for these saves half the work.
        """
        t = state.tickets.get(number)
        if t is None or t.status is not TicketStatus.WAITING or state.head(t.service) is not t:
            return None
        services, _ = services_of(state)
        prio = state.config.priority() if state.config is not None else {}
        for c in state.counters.values():
            if c.status is not CounterStatus.FREE:
                continue
            idle = (now - c.since).total_seconds() if c.since is not None else 0.0
            if _away(c, state, now, idle, not self.staffing_logged):
                continue
            if service_to_call(counter_services(c, services, state, self.skills), prio, lambda s: state.waiting_count(s) > 0) == t.service:
                raw = Raw(now, AT_ONCE, (0.0, 0.0, 0.0), 60.0)
                self._first.setdefault((number, t.queued_at or t.issued_at), raw)
                low, point, high = self.wait_cal.apply(raw.bucket, raw.q, raw.scale, move_point=not self.staffing_logged)
                shown = texts.wait_text(low, high, self._shown.get(number))
                self._shown[number] = shown
                return WaitEstimate(point, low, high, shown.zh, shown.en, True, p_soon=1.0)
        return None

    def estimate(self, state: BranchState, now: datetime) -> Estimates:
        if self._cache is not None:
            seq, at, est = self._cache
            if seq == state.seq and timedelta(0) <= now - at <= timedelta(seconds=REUSE_S):
                return est
        rng = np.random.default_rng([self.seed, state.seq, int(now.timestamp())])
        plan, layout = build(state, self.model, now, rng, self.reps, self.joins, self.schedule,
                             inferred=not self.staffing_logged, skills=self.skills)
        calls = simulate(plan)
        est = Estimates(
            at=now,
            waits=self._waits(state, now, layout, calls),
            join=self._joins(state, now, layout, calls) if self.joins else {},
            counters=self._counters(state, now, rng) if self.joins else {},
        )
        self._cache = (state.seq, now, est)
        return est

    def _waits(self, state: BranchState, now: datetime, layout: Layout, calls: np.ndarray) -> dict[str, WaitEstimate]:
        out = {}
        cols = np.array([layout.columns[n] for s in layout.tickets for n in s], dtype=int)
        qs = _quantiles(calls[:, cols]) if len(cols) else np.zeros((4, 0))
        i = 0
        for s, waiting in zip(layout.services, layout.tickets, strict=True):
            hol = _head_wait(state, waiting, now)
            for ahead, number in enumerate(waiting):
                t = state.tickets[number]
                raw = _raw(now, ahead, qs[:, i], hol if ahead else 0.0)
                out[number] = self._wait(number, s, ahead, raw, qs[3, i], layout, state, now,
                                         store=(number, t.queued_at or t.issued_at))
                i += 1
        return out

    def _joins(self, state: BranchState, now: datetime, layout: Layout, calls: np.ndarray) -> dict[str, WaitEstimate]:
        cols = np.array([layout.join[s] for s in layout.services], dtype=int)
        qs = _quantiles(calls[:, cols])
        return {s: self._wait("join:" + s, s, len(w), _raw(now, len(w), qs[:, i], _head_wait(state, w, now)),
                              qs[3, i], layout, state, now)
                for i, (s, w) in enumerate(zip(layout.services, layout.tickets, strict=True))}

    def _wait(self, key: str, service: str, ahead: int, raw: Raw, p_soon: float, layout: Layout,
              state: BranchState, now: datetime, store: tuple[str, datetime] | None = None) -> WaitEstimate:
        """The calibrated range and the blended point; `store`: keep the first prediction to learn from."""
        why_zh = why_en = ""
        if self.joins:  # the screens' explainer (the evaluation reads numbers only)
            notes = layout.notes.get(service)
            if notes is None:
                notes = layout.notes[service] = _notes(state, service, layout, now)
            why_zh, why_en = texts.why_text(ahead, len(layout.serving[service]), notes)
        if not layout.available[service]:
            if store is not None and store not in self._first:
                self._first[store] = raw
            u = texts.UNAVAILABLE
            return WaitEstimate(None, None, None, u.zh, u.en, False, why_zh, why_en, 0.0)  # no made-up number
        low, point, high = self.wait_cal.apply(raw.bucket, raw.q, raw.scale, move_point=not self.staffing_logged)
        if store is not None and store not in self._first:  # the first prediction is the one scored
            self._first[store] = replace(raw, point=point, shown=(low, point, high),
                                         shifted=self.wait_cal.shifted_point(raw.bucket, raw.q, raw.scale))
        if not self.staffing_logged:
            point = min(max(self.blend.apply(raw.bucket, point, raw.hol), low), high)
        shown = texts.wait_text(low, high, self._shown.get(key))
        self._shown[key] = shown
        return WaitEstimate(point, low, high, shown.zh, shown.en, True, why_zh, why_en, p_soon)

    def _counters(self, state: BranchState, now: datetime, rng: np.random.Generator) -> dict[str, CounterEstimate]:
        out = {}
        for c in state.counters.values():
            since = (now - c.since).total_seconds() if c.since else 0.0
            if c.status in (CounterStatus.SERVING, CounterStatus.CALLING) and c.ticket in state.tickets:
                t = state.tickets[c.ticket]
                elapsed = since if c.status is CounterStatus.SERVING else 0.0
                lo, mid, hi = self.model.service_at(t.service, c.id).remaining_quantiles(elapsed, (0.1, 0.5, 0.9))
                zh, en = texts.service_text(elapsed + lo, elapsed + hi)
                out[c.id] = CounterEstimate(float(mid), float(lo), float(hi), zh, en, kind="service")
            elif c.status is CounterStatus.WRAPUP:
                d = self.model.wrapup_dist()
                rem = d.mean_remaining(since)
                zh, en = texts.wrapup_text(rem)
                out[c.id] = CounterEstimate(rem, 0.0, 2 * rem, zh, en, kind="wrapup")
            elif c.status is CounterStatus.PAUSED:
                out[c.id] = self._pause(c.expected_return, since, now, rng, state)
        return out

    def _pause(self, expected: datetime | None, since: float, now: datetime, rng: np.random.Generator,
               state: BranchState) -> CounterEstimate:
        if expected is not None:
            late = (now - expected).total_seconds()
            rem = np.maximum(self.model.pause_return(late, rng, 256) - late, 0.0)
        else:
            rem = np.maximum(self.model.pause_remaining(since, rng, 256), 0.0)
        rem.sort()
        lo, mid, hi = float(rem[25]), float(rem[128]), float(rem[230])
        back = now + timedelta(seconds=mid)
        tz = state.config.tz if state.config is not None else back.tzinfo
        zh, en = texts.pause_text(back.astimezone(tz).strftime("%H:%M") if expected is not None else None)
        return CounterEstimate(mid, lo, hi, zh, en, kind="pause")


def _quantiles(samples: np.ndarray) -> np.ndarray:
    """[low, median, high, P(called within SOON_S)] per column; never-called draws count as the horizon.

    The median is the Harrell-Davis one (a weighted mean of all order
    statistics), not the single middle draw: with 64 replications the middle
    draw's own noise was a visible part of the point's error.
    """
    s = np.sort(np.minimum(samples, HORIZON_S), axis=0)
    n = s.shape[0]
    q = s[[int(0.1 * (n - 1)), (n - 1) // 2, int(math.ceil(0.9 * (n - 1)))]]
    q[1] = _median_weights(n) @ s
    return np.vstack([q, (samples <= SOON_S).mean(axis=0)])


@functools.cache
def _median_weights(n: int) -> np.ndarray:
    """Harrell-Davis weights of n sorted draws for the median: Beta((n+1)/2, (n+1)/2) mass of each (i/n, (i+1)/n)."""
    a = (n + 1) / 2.0
    x = np.linspace(0.0, 1.0, 8 * n + 1)  # the Beta's CDF by the trapezoid rule on a fine grid (no scipy in the core)
    logpdf = (a - 1) * (np.log(np.clip(x, 1e-300, None)) + np.log(np.clip(1 - x, 1e-300, None)))
    pdf = np.exp(logpdf - logpdf.max())
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2)])
    cdf /= cdf[-1]
    w = np.diff(cdf[:: 8])
    return w / w.sum()


def _raw(now: datetime, ahead: int, q: np.ndarray, hol: float) -> Raw:
    lo, mid, hi = float(q[0]), float(q[1]), float(q[2])
    # Tickets a free counter is calling right now are calibrated apart: their certain zeros would
    # otherwise make the late end look safer than it is for those who do wait.
    return Raw(now, AT_ONCE if hi <= 0.0 else ahead_bucket(ahead), (lo, mid, hi), hi - lo + 60.0, hol)


def _head_wait(state: BranchState, waiting: list[str], now: datetime) -> float:
    """How long the first in this line has waited so far (0 with nobody in line)."""
    if not waiting:
        return 0.0
    head = state.tickets[waiting[0]]
    return max(head.waited(now), 0.0)


def _notes(state: BranchState, service: str, layout: Layout, now: datetime) -> list[tuple[str, str]]:
    """The reasons beyond the plain count: priority customers first, a VIP at the window, pauses."""
    notes: list[tuple[str, str]] = []
    prio = state.config.priority() if state.config is not None else {}
    mine = prio.get(service, 1)
    first = sum(state.waiting_count(s) for s in layout.services if prio.get(s, 1) > mine
                and any(s in (state.counters[c].services or ()) for c in layout.serving[service]))
    if first:
        notes.append((f"另有{first}位优先客户", f"{first} priority customer{'s' if first > 1 else ''} first"))
    for cid in layout.serving[service]:
        c = state.counters[cid]
        t = state.tickets.get(c.ticket) if c.ticket else None
        if c.status is CounterStatus.SERVING and t is not None and prio.get(t.service, 1) > mine:
            notes.append(("贵宾客户正在办理", "a VIP customer is being served"))
            break
    paused = [state.counters[c] for c in layout.serving[service] if state.counters[c].status is CounterStatus.PAUSED]
    if paused:
        notes.append((f"{len(paused)}个窗口暂停中", f"{len(paused)} window{'s' if len(paused) > 1 else ''} paused"))
    return notes


def make_estimator(config: BranchConfig, rng: np.random.Generator | None = None) -> Estimator:
    """The server's hook (server/service.py): one estimator per branch."""
    kernel.warm_up()  # at start-up, not at the first screen refresh
    return Estimator(config, rng or np.random.default_rng(20261201))


__all__ = ["Estimator", "TicketStatus", "make_estimator"]
