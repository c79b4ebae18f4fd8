"""One simulated branch day in SimPy.

Design for speed: every customer's draws are made up front with numpy
(`draws.py`, which also gives common random numbers across schedules). A
customer is an index into plain lists, not an object or a process;
the only processes are the arrival feed and one per counter. Queues are heaps of
issue order per service, so a transferred ticket keeps its place; abandonment is
lazy (a deleted mark the counters skip).

The counter asks `server.core.policy.service_to_call` which service to call:
the simulator obeys the same rule as the live branch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np
import simpy

from server.core.policy import service_to_call

from .draws import Customers, PauseDraw, draw_customers, draw_pauses
from .scenario import Scenario

__all__ = ["Customers", "DayResult", "PauseDraw", "draw_customers", "draw_pauses", "simulate_day"]

INF = math.inf
# outcome codes of a customer
WAITING, SERVED, NO_SHOW, ABANDONED, SILENT, SWEPT = 0, 1, 2, 3, 4, 5


@dataclass
class DayResult:
    """What happened: per-customer arrays plus counter activity and the raw log."""

    cust: Customers
    number: list[str]
    outcome: np.ndarray
    call: np.ndarray  # first call time (nan: never called)
    counter_busy: list[tuple[int, float, float]]  # (counter, from call, to free)
    counter_open: list[tuple[int, float, float]]
    counter_pause: list[tuple[int, float, float]]
    waits: list[tuple[int, float, float]]  # (class, queued, left queue): every spell in a queue
    log: list[tuple] = field(default_factory=list)  # (t, type, fields...) see eventlog.py
    end: float = 0.0


class Day:
    """Runs one day. `log=False` skips building the event list (faster)."""

    def __init__(self, scn: Scenario, cust: Customers, pauses: dict[str, list[PauseDraw]], log: bool = True):
        self.scn, self.c, self.log_on = scn, cust, log
        self.env = simpy.Environment()
        cfg = scn.config
        self.sids = [s.id for s in cfg.services]
        self.prefix = [s.prefix for s in cfg.services]
        self.priority = cfg.priority()
        self.cids = [c.id for c in cfg.counters]
        self.prefs = [c.services for c in cfg.counters]
        self.sidx = {s: i for i, s in enumerate(self.sids)}
        self.heaps: dict[str, list[int]] = {s: [] for s in self.sids}
        self.nwait = dict.fromkeys(self.sids, 0)
        self.serving = {s: [k for k, p in enumerate(self.prefs) if s in p] for s in self.sids}
        self.idle: list[simpy.Event | None] = [None] * len(self.cids)
        self.armed = [INF] * len(self.cids)
        self.free_since = [-1.0] * len(self.cids)  # start of the current idle spell (-1: busy)
        self.pauses = pauses
        # plain lists: indexing a numpy array per customer costs more than the whole event
        self.work, self.work2, self.walk, self.wrap = (cust.work.tolist(), cust.work2.tolist(),
                                                       cust.walk.tolist(), cust.wrap.tolist())
        self.wrap2 = cust.wrap2.tolist()
        self.xfer, self.leave, self.no_show = cust.xfer.tolist(), cust.leave.tolist(), cust.no_show.tolist()
        n = len(cust.t)
        self.outcome = [WAITING] * n
        self.call_t = [math.nan] * n
        self.queued = [0.0] * n
        self.state = [0] * n  # 0 waiting, 1 at a counter, 2 gone/final
        self.number = [""] * n
        self.seq = [0] * len(self.sids)
        self.busy: list[tuple[int, float, float]] = []
        self.open: list[tuple[int, float, float]] = []
        self.paused: list[tuple[int, float, float]] = []
        self.waits: list[tuple[int, float, float]] = []
        self.log: list[tuple] = []
        self.counters_left = 0
        self.last = 0.0

    # --------------------------------------------------------------- running
    def run(self) -> DayResult:
        env = self.env
        env.process(self._arrivals())
        self.counters_left = len(self.cids)
        for k in range(len(self.cids)):
            env.process(self._counter(k))
        env.run()
        end = self.last  # the last counter's closing (not env.now: idle patience timers run later)
        self._sweep(end)  # (a branch without counters)
        c = self.c
        return DayResult(c, self.number, np.array(self.outcome), np.array(self.call_t), self.busy, self.open,
                         self.paused, self.waits, self.log, end)

    def _arrivals(self):
        env, c = self.env, self.c
        ts, cls = c.t.tolist(), c.cls.tolist()
        leave, announce, mobile, detect = self.leave, c.announce.tolist(), c.mobile.tolist(), c.detect.tolist()
        sids, heaps, nwait = self.sids, self.heaps, self.nwait
        log = self.log.append if self.log_on else None
        for i, t in enumerate(ts):
            if t > env.now:
                yield env.timeout(t - env.now)
            k = cls[i]
            s = sids[k]
            if log:  # numbers only matter to the log
                self.seq[k] += 1
                self.number[i] = num = f"{self.prefix[k]}{self.seq[k]:03d}"
                log((t, "ticket_issued", num, s, "mobile" if mobile[i] else "kiosk"))
            self.queued[i] = t
            heappush(heaps[s], i)
            nwait[s] += 1
            if leave[i] < INF and announce[i]:
                # logged when noticed; a counter reaching them first finds nobody (silent path)
                env.timeout(leave[i] - t + detect[i]).callbacks.append(lambda _e, i=i: self._abandon(i))
            self._wake_for(s)

    def _sweep(self, t: float) -> None:
        for s in self.sids:
            h = self.heaps[s]
            while h:
                i = heappop(h)
                if self.state[i] == 0:
                    self._gone(i, SWEPT, t, s)

    def _wake_for(self, s: str) -> None:
        """The counter free the longest among those serving `s` calls (as tellers press "next")."""
        best = -1
        for j in self.serving[s]:
            if self.idle[j] is not None and (best < 0 or self.free_since[j] < self.free_since[best]):
                best = j
        if best >= 0:
            self._wake(best)

    def _wake(self, k: int) -> None:
        ev = self.idle[k]
        if ev is not None:
            self.idle[k] = None
            ev.succeed()

    def _abandon(self, i: int) -> None:
        if self.state[i] == 0 and math.isnan(self.call_t[i]):  # patience covers the first wait only
            s = self.sids[int(self.c.cls[i])]
            self._gone(i, ABANDONED, self.env.now, s)

    def _gone(self, i: int, outcome: int, t: float, s: str) -> None:
        self.state[i] = 2
        self.outcome[i] = outcome
        self.nwait[s] -= 1
        self.waits.append((self.sidx[s], self.queued[i], t))
        self.last = max(self.last, t)
        if self.log_on:
            # sent home at closing is not a customer's choice: the reason tells fit and the estimator
            self.log.append((t, "abandoned", self.number[i], "end_of_day" if outcome == SWEPT else None))

    def _counter(self, k: int):
        env, scn = self.env, self.scn
        cid, prefs, prio = self.cids[k], self.prefs[k], self.priority
        nwait, heaps, state = self.nwait, self.heaps, self.state
        speed = scn.counters[cid].speed
        shifts = scn.counters[cid].shifts
        pauses = self.pauses.get(cid, [])
        pi = 0
        log = self.log.append if self.log_on else None
        has = nwait.__getitem__
        rec, nos = scn.recall_after_seconds / 60.0, scn.no_show_after_seconds / 60.0
        work, work2, walk, wrap = self.work, self.work2, self.walk, self.wrap
        xfer, leave, no_show = self.xfer, self.leave, self.no_show
        sids = self.sids
        for n_shift, (o, cl) in enumerate(shifts):
            last_shift = n_shift == len(shifts) - 1 and cl >= scn.doors_close
            if env.now < o:
                yield env.timeout(o - env.now)
            opened = env.now
            if log:
                log((opened, "counter_opened", cid))
            while True:
                now = env.now
                waiting = False
                for s in prefs:
                    if nwait[s]:
                        waiting = True
                        break
                if now >= cl and not (last_shift and waiting):
                    break
                while pi < len(pauses) and pauses[pi].start < opened:
                    pi += 1  # a pause planned while closed is not taken
                if pi < len(pauses) and pauses[pi].start <= now:
                    p = pauses[pi]
                    pi += 1
                    if now < cl:
                        self.free_since[k] = -1.0  # back from a pause is a fresh start, not the longest free
                        if log:
                            log((now, "counter_paused", cid, p.reason, now + p.planned if p.planned else None))
                        yield env.timeout(p.actual)
                        self.paused.append((k, now, env.now))
                        if log:
                            log((env.now, "counter_resumed", cid))
                        while pi < len(pauses) and pauses[pi].start < env.now and pauses[pi].reason != "lunch":
                            pi += 1  # a short break that fell inside this pause is not taken as well
                    continue
                s = service_to_call(prefs, prio, has) if waiting else None
                if s is None:
                    nxt = cl if now < cl else INF
                    if pi < len(pauses) and pauses[pi].start < nxt:
                        nxt = pauses[pi].start
                    if self.free_since[k] < 0:
                        self.free_since[k] = now
                    ev = self.idle[k] = env.event()
                    if nxt < INF and self.armed[k] != nxt:
                        self.armed[k] = nxt
                        env.timeout(nxt - now).callbacks.append(lambda _e, k=k: self._wake(k))
                    yield ev
                    continue
                i = heappop(heaps[s])
                if state[i] != 0:
                    continue  # left earlier (announced abandonment): its mark is skipped
                self.free_since[k] = -1.0
                nwait[s] -= 1
                state[i] = 1
                self.waits.append((self.sidx[s], self.queued[i], now))
                first = math.isnan(self.call_t[i])
                if first:
                    self.call_t[i] = now
                num = self.number[i]
                if log:
                    log((now, "called", num, cid))
                gone = first and leave[i] < now  # left silently: nobody comes
                if gone or (first and no_show[i]):
                    yield env.timeout(rec)
                    if log:
                        log((env.now, "recalled", num, cid))
                    yield env.timeout(max(0.0, nos - rec))
                    if log:
                        log((env.now, "no_show", num, cid))
                    state[i] = 2
                    self.outcome[i] = SILENT if gone else NO_SHOW
                    self.busy.append((k, now, env.now))
                    continue
                w = walk[i] if first else walk[i] * 0.5
                if w > rec:
                    yield env.timeout(rec)
                    if log:
                        log((env.now, "recalled", num, cid))
                    yield env.timeout(w - rec)
                elif w > 0:
                    yield env.timeout(w)
                if log:
                    log((env.now, "service_started", num, cid))
                yield env.timeout((work[i] if first else work2[i]) / speed)
                # after the doors close the teller finishes the business instead of re-queueing it
                x = xfer[i] if first and env.now < scn.doors_close else -1
                if x >= 0:
                    if log:
                        log((env.now, "service_finished", num, cid, False))
                        log((env.now, "transferred", num, sids[x], cid))
                    t2 = sids[x]
                    state[i] = 0
                    self.queued[i] = env.now
                    heappush(heaps[t2], i)
                    nwait[t2] += 1
                    self.busy.append((k, now, env.now))
                    self._wake_for(t2)
                    continue
                state[i] = 2
                self.outcome[i] = SERVED
                wr = wrap[i] if first else self.wrap2[i]
                if log:
                    log((env.now, "service_finished", num, cid, wr > 0))
                if wr > 0:
                    yield env.timeout(wr)
                    if log:
                        log((env.now, "wrapup_finished", cid))
                self.busy.append((k, now, env.now))
            self.free_since[k] = -1.0
            self.open.append((k, opened, env.now))
            self.last = max(self.last, env.now)
            if log:
                log((env.now, "counter_closed", cid))
            pi = max(pi, next((j for j, p in enumerate(pauses) if p.start >= env.now), len(pauses)))
        self.counters_left -= 1
        if self.counters_left == 0:  # the branch is shut: whoever still waits is sent home now
            self._sweep(env.now)


def child(ss: np.random.SeedSequence, j: int) -> np.random.SeedSequence:
    """The j-th child stream, the same however often it is asked for (unlike `spawn`)."""
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, j))


def simulate_day(scn: Scenario, seed_seq: np.random.SeedSequence, log: bool = True) -> DayResult:
    """One day from one seed: customers from the first child stream, counters' pauses from the second."""
    cust_ss, ctr_ss = child(seed_seq, 0), child(seed_seq, 1)
    cust = draw_customers(scn, np.random.default_rng(cust_ss))
    base = int(ctr_ss.generate_state(1)[0])
    pauses = {cid: draw_pauses(scn, cid, base) for cid in scn.counters}
    return Day(scn, cust, pauses, log).run()
