"""What the day brings, drawn before it starts: the customers and the counters' pauses.

Everything about a customer (arrival, class, work, patience, no-show, transfer,
wrap-up, walk) is drawn here with numpy from the customer stream, in an order that
does not depend on the counters, so two schedules fed the same stream see the
same customers (common random numbers). Pauses come from per-counter streams, so
changing one counter's hours leaves the others' draws alone.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .scenario import Scenario


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
