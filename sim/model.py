"""One simulated branch day in SimPy.

Design for speed: every customer's draws (arrival, work, patience, no-show,
transfer, wrap-up) are made up front with numpy from the *customer* stream, so
two schedules fed the same stream see the same customers (common random
numbers). A customer is an index into plain lists, not an object or a process;
the only processes are the arrival feed and one per counter. Queues are heaps of
issue order per service, so a transferred ticket keeps its place; abandonment is
lazy (a deleted mark the counters skip).

The counter asks `server.core.policy.service_to_call` which service to call:
the simulator obeys the same rule as the live branch.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np
import simpy

from server.core.policy import service_to_call

from .scenario import Scenario

INF = math.inf
# outcome codes of a customer
WAITING, SERVED, NO_SHOW, ABANDONED, SILENT, SWEPT = 0, 1, 2, 3, 4, 5


@dataclass
class Customers:
    """The day's customers, drawn before the day starts (arrays, issue order)."""

    t: np.ndarray  # arrival = ticket time, minutes since midnight
    cls: np.ndarray  # service class index
    work: np.ndarray  # minutes of service at speed 1
    leave: np.ndarray  # time the customer gives up waiting (inf: never)
    announce: np.ndarray  # leaver tells staff (logged abandoned) or leaves silently
    no_show: np.ndarray
    walk: np.ndarray  # minutes from call to arrival at the window
    wrap: np.ndarray  # wrap-up minutes after the service (0: none)
    xfer: np.ndarray  # class index transferred to after service (-1: none)
    work2: np.ndarray  # minutes of the second service after a transfer
    wrap2: np.ndarray  # wrap-up after the second service
    mobile: np.ndarray
    detect: np.ndarray  # minutes from leaving to the `abandoned` event (staff notice, app cancel)


def draw_customers(scn: Scenario, rng: np.random.Generator) -> Customers:
    ids = [s.id for s in scn.config.services]
    rates = scn.rate_matrix()  # per minute
    starts = scn.interval_starts()
    factor = 1.0
    if scn.volume_cv > 0:  # gamma with mean 1: a busy day lifts every interval alike
        k = 1.0 / scn.volume_cv**2
        factor = rng.gamma(k, 1.0 / k)
    mult = np.full_like(rates, factor)
    for sg in scn.surges:
        happens = rng.random() < sg.probability
        if not happens:
            continue
        for j, s0 in enumerate(starts):  # share of each interval the surge covers
            cover = max(0.0, min(s0 + scn.interval, sg.end) - max(s0, sg.start)) / scn.interval
            for i, sid in enumerate(ids):
                if not sg.services or sid in sg.services:
                    mult[i, j] *= 1 + (sg.factor - 1) * cover
    lam = rates * mult * scn.interval
    counts = rng.poisson(lam)
    n = int(counts.sum())
    t = np.empty(n)
    cls = np.empty(n, dtype=np.int64)
    pos = 0
    for i in range(len(ids)):
        for j, s0 in enumerate(starts):
            c = counts[i, j]
            t[pos:pos + c] = s0 + scn.interval * rng.random(c)
            cls[pos:pos + c] = i
            pos += c
    order = np.argsort(t, kind="stable")
    t, cls = t[order], cls[order]
    work = np.empty(n)
    leave = np.empty(n)
    wrap = np.zeros(n)
    no_show = np.zeros(n, dtype=bool)
    xfer = np.full(n, -1, dtype=np.int64)
    work2 = np.zeros(n)
    wrap2 = np.zeros(n)
    for i, sid in enumerate(ids):
        spec = scn.classes[sid]
        idx = np.flatnonzero(cls == i)
        m = len(idx)
        work[idx] = spec.time.sample(rng, m)
        leave[idx] = t[idx] + spec.patience.sample(rng, m)
        if spec.wrapup_share > 0:
            w = rng.random(m) < spec.wrapup_share
            wrap[idx[w]] = spec.wrapup.sample(rng, int(w.sum()))
        if spec.no_show > 0:
            no_show[idx] = rng.random(m) < spec.no_show
        if spec.transfer:
            u = rng.random(m)
            acc = 0.0
            for target, p in spec.transfer:
                hit = (u >= acc) & (u < acc + p)
                acc += p
                j = ids.index(target)
                xfer[idx[hit]] = j
                tspec = scn.classes[target]
                work2[idx[hit]] = tspec.time.sample(rng, int(hit.sum()))
                w2 = idx[hit][rng.random(int(hit.sum())) < tspec.wrapup_share]
                wrap2[w2] = tspec.wrapup.sample(rng, len(w2))
    announce = rng.random(n) < scn.announced_abandon
    walk = (rng.gamma(4.0, scn.walk_seconds / 4.0 / 60.0, n) if scn.walk_seconds > 0 else np.zeros(n))
    mobile = rng.random(n) < scn.mobile_share if scn.mobile_share > 0 else np.zeros(n, dtype=bool)
    # drawn last, so scenarios without a detection delay keep every other draw
    detect = (rng.exponential(scn.abandon_detect_minutes, n) if scn.abandon_detect_minutes > 0 else np.zeros(n))
    return Customers(t, cls, work, leave, announce, no_show, walk, wrap, xfer, work2, wrap2, mobile, detect)


@dataclass(frozen=True)
class PauseDraw:
    start: float
    planned: float  # minutes announced (expected_return = start + planned); 0: no return time given
    actual: float
    reason: str


def draw_pauses(scn: Scenario, counter_id: str, seed: int) -> list[PauseDraw]:
    """Planned pauses (some overrun) and unplanned short ones, from a per-counter
    stream so a schedule change at one counter leaves the others' draws alone."""
    plan = scn.counters[counter_id]
    rng = np.random.default_rng([seed, zlib.crc32(counter_id.encode())])
    out = []
    for p in plan.pauses:
        over = rng.exponential(scn.overrun_minutes) if rng.random() < scn.overrun_share else 0.0
        out.append(PauseDraw(p.start, p.minutes, p.minutes + over, p.reason))
    if scn.unplanned_per_hour > 0:
        for a, b in plan.shifts:
            k = rng.poisson(scn.unplanned_per_hour * (b - a) / 60.0)
            for s in np.sort(rng.uniform(a, b, k)):
                planned = max(2.0, 5.0 * round(rng.exponential(scn.unplanned_minutes) / 5.0))
                actual = planned * rng.lognormal(0.0, 0.35)
                told = rng.random() < 0.6
                out.append(PauseDraw(float(s), planned if told else 0.0, actual,
                                     str(rng.choice(["phone", "restroom", "supervisor"]))))
    out.sort(key=lambda p: p.start)
    return out


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
        self.closers = 0
        self.last = 0.0

    # --------------------------------------------------------------- running
    def run(self) -> DayResult:
        env = self.env
        env.process(self._arrivals())
        self.closers = len(self.cids)
        for k in range(len(self.cids)):
            env.process(self._counter(k))
        env.run()
        end = max(self.last, env.now if env.now < INF else self.last)
        for s in self.sids:  # the branch closes: whoever still waits is sent home
            h = self.heaps[s]
            while h:
                i = heappop(h)
                if self.state[i] == 0:
                    self._gone(i, SWEPT, end, s)
        c = self.c
        return DayResult(c, self.number, np.array(self.outcome), np.array(self.call_t), self.busy, self.open,
                         self.paused, self.waits, self.log, end)

    def _arrivals(self):
        env, c = self.env, self.c
        ts, cls = c.t.tolist(), c.cls.tolist()
        leave, announce, mobile, detect = self.leave, c.announce.tolist(), c.mobile.tolist(), c.detect.tolist()
        sids, heaps, nwait, idle, serving = self.sids, self.heaps, self.nwait, self.idle, self.serving
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
            for j in serving[s]:  # the first idle counter that serves it calls
                if idle[j] is not None:
                    self._wake(j)
                    break

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
            self.log.append((t, "abandoned", self.number[i]))

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
                    ev = self.idle[k] = env.event()
                    if nxt < INF and self.armed[k] != nxt:
                        self.armed[k] = nxt
                        env.timeout(nxt - now).callbacks.append(lambda _e, k=k: self._wake(k))
                    yield ev
                    continue
                i = heappop(heaps[s])
                if state[i] != 0:
                    continue  # left earlier (announced abandonment): its mark is skipped
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
                    yield env.timeout(nos - rec)
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
                x = xfer[i] if first else -1
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
                    for j in self.serving[t2]:
                        if self.idle[j] is not None:
                            self._wake(j)
                            break
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
            self.open.append((k, opened, env.now))
            self.last = max(self.last, env.now)
            if log:
                log((env.now, "counter_closed", cid))
            pi = max(pi, next((j for j, p in enumerate(pauses) if p.start >= env.now), len(pauses)))


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
