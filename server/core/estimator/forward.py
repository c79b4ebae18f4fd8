"""Monte Carlo of the branch from now on, vectorised over replications.

Every replication plays the same rule as the live branch (`policy.service_to_call`:
highest priority first, then the counter's preference, first issued first
called within a service), with its own service times, wrap-ups, no-shows,
abandonments and arrivals. The loop runs over *calls*, not replications: at
each step, in every replication at once, the counter that frees up first calls
its next ticket. A ticket's call time in each replication is one draw of its
wait; the estimator reads the quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernel

NEVER = np.inf


@dataclass
class Lane:
    """One service's line: existing tickets in calling order, then a 'join now' ticket, then arrivals."""

    occupancy: np.ndarray  # [R, Q] seconds a counter is taken by each existing ticket (before speed)
    abandon_at: np.ndarray  # [R, Q] seconds from now when each would have left (inf: stays)
    arrivals: np.ndarray  # [R, M] arrival times from now (inf beyond the horizon)
    arrival_occupancy: np.ndarray  # [R, M]
    arrival_abandon: np.ndarray  # [R, M] seconds after arriving


@dataclass
class Plan:
    """The state of the branch as arrays: what the forward simulation needs."""

    lanes: list[Lane]  # one per service, order = score columns
    score: np.ndarray  # [K, S] calling preference: higher called first, -inf = does not serve
    speed: np.ndarray  # [K] multiplies occupancy at that counter
    free_at: np.ndarray  # [R, K] seconds from now until each counter next calls (inf: never)
    horizon: float  # stop looking beyond this many seconds
    closes_at: np.ndarray | None = None  # [K] seconds from now when each counter usually closes (inf: not soon)
    reopens_at: np.ndarray | None = None  # [K] ... and when it opens again (inf: not today)
    left_busy: float = 0.0  # seconds a counter loses calling a customer who left unseen (0: leavers are known)


def policy_score(preference: list[list[int]], priority: np.ndarray, n_services: int) -> np.ndarray:
    """Encode `service_to_call` as a score: priority first, then earlier in the counter's list."""
    score = np.full((len(preference), n_services), -np.inf)
    for k, prefs in enumerate(preference):
        for rank, s in enumerate(prefs):
            if score[k, s] == -np.inf:  # a service listed twice keeps its first place
                score[k, s] = priority[s] * 1000.0 - rank
    return score


def arrivals_matter(score: np.ndarray, waiting: np.ndarray) -> np.ndarray:
    """[S] whether a lane's future arrivals can be called before some ticket already waiting.

    Tickets already waiting are always there, so a counter calls arrivals of a lane
    only once every lane it ranks higher is empty; arrivals join behind their own
    lane's tickets. So arrivals of a lane that every counter serving it ranks below
    all its other lanes with people waiting change nobody's wait: not drawing them
    (in a one-class call centre: nearly all arrivals) saves most of the work.
    """
    served = score > -np.inf
    lowest = np.where(served & waiting[None, :], score, np.inf).min(axis=1)  # [K] lowest-ranked lane with people
    return (served & (score > lowest[:, None])).any(axis=0)


@dataclass
class Packed:
    """The lanes laid end to end as [R, width] arrays: what either loop runs on."""

    avail: np.ndarray  # [R, W] when each ticket is (or will be) there; -1 waiting now; inf: the lane's sentinel
    occ: np.ndarray  # [R, W] seconds a counter is taken by each
    leave: np.ndarray  # [R, W] when each would have left
    col: np.ndarray  # [W] output column of each waiting ticket, -1 for arrivals and sentinels
    off: np.ndarray  # [S] where each lane starts
    done: np.ndarray  # [S] a lane's head here: its waiting tickets are all called
    n_out: int
    steps: int


def simulate(plan: Plan, max_steps: int | None = None, compiled: bool | None = None) -> np.ndarray:
    """Call times [R, sum Q] (seconds from now; inf = not called within the horizon) of each existing ticket.

    `compiled` picks the loop: the compiled one (numba) when it is installed, else the numpy one;
    both give the same numbers (tested), the compiled one about 20 times faster.
    """
    lanes, R = plan.lanes, plan.free_at.shape[0]
    if plan.free_at.shape[1] == 0:  # no counter at all: nobody is ever called
        return np.full((R, sum(lane.occupancy.shape[1] for lane in lanes)), NEVER)
    p = pack(plan, max_steps)
    K = plan.free_at.shape[1]
    closes = plan.closes_at if plan.closes_at is not None else np.full(K, NEVER)
    reopens = plan.reopens_at if plan.reopens_at is not None else np.full(K, NEVER)
    if compiled if compiled is not None else kernel.AVAILABLE:
        c = np.ascontiguousarray  # one array layout and dtype: numba compiles one version only
        return kernel.call_times(p.avail, p.occ, p.leave, p.col, p.off, p.done, c(plan.score, float),
                                 c(plan.speed, float), c(plan.free_at, float), float(plan.horizon),
                                 c(closes, float), c(reopens, float), p.n_out, p.steps, float(plan.left_busy))
    return _loop(plan, p, closes, reopens)


def pack(plan: Plan, max_steps: int | None = None) -> Packed:
    lanes, R = plan.lanes, plan.free_at.shape[0]
    q = np.array([lane.occupancy.shape[1] for lane in lanes], dtype=np.int64)
    m = np.array([lane.arrivals.shape[1] for lane in lanes], dtype=np.int64)
    seg = q + m + 1  # each lane ends with a sentinel that is never available
    off = np.concatenate(([0], np.cumsum(seg)[:-1])).astype(np.int64)
    width = int(seg.sum())
    avail = np.full((R, width), NEVER)
    occ = np.zeros((R, width))
    leave = np.full((R, width), NEVER)
    col = np.full(width, -1, dtype=np.int64)
    out_off = np.concatenate(([0], np.cumsum(q)[:-1]))
    for s, lane in enumerate(lanes):
        a, b, c = off[s], off[s] + q[s], off[s] + q[s] + m[s]
        avail[:, a:b] = -1.0
        avail[:, b:c] = lane.arrivals
        occ[:, a:b], occ[:, b:c] = lane.occupancy, lane.arrival_occupancy
        leave[:, a:b], leave[:, b:c] = lane.abandon_at, lane.arrivals + lane.arrival_abandon
        col[a:b] = out_off[s] + np.arange(q[s])
    # Lanes no counter can ever reach would keep the loop going to the horizon for nothing.
    served = plan.score > -np.inf
    reachable = (served & np.isfinite(plan.free_at).any(axis=0)[:, None]).any(axis=0)
    done = off + np.where(reachable, q, 0)
    n_out = int(q.sum())
    K = plan.free_at.shape[1]
    return Packed(avail, occ, leave, col, off, done, n_out, max_steps or int(3 * n_out + 40 * K + 200))


def _loop(plan: Plan, p: Packed, closes: np.ndarray, reopens: np.ndarray) -> np.ndarray:
    """The numpy loop: each step, in every replication at once, the counter that frees up first calls."""
    R, width, S = p.avail.shape[0], p.avail.shape[1], len(p.off)
    n_out = p.n_out
    avail_f, occ_f, leave_f = p.avail.ravel(), p.occ.ravel(), p.leave.ravel()
    calls = np.full((R, n_out + 1), NEVER)  # the last column catches arrivals' calls (not reported)
    calls_f = calls.ravel()
    col_f = np.tile(np.where(p.col >= 0, p.col, n_out), R) + np.repeat(np.arange(R) * (n_out + 1), width)
    rows = np.arange(R)
    head = rows[:, None] * width + p.off[None, :]  # [R, S] flat index of each lane's next ticket
    head_f = head.ravel()
    done_at = rows[:, None] * width + p.done[None, :]
    rows_s = rows * S
    free = plan.free_at.copy()
    free_f = free.ravel()
    K = free.shape[1]
    rows_k = rows * K
    score, speed, horizon = plan.score, plan.speed, plan.horizon
    served = score > -np.inf
    scheduled = bool(np.isfinite(closes).any())
    dummy = rows * (n_out + 1) + n_out
    abandon = bool(np.isfinite(p.leave).any())
    for step in range(p.steps):
        k = free.argmin(axis=1)
        kf = rows_k + k
        t = free_f.take(kf)
        t_col = t[:, None]
        head_t = avail_f.take(head)  # [R, S] when each lane's head is (or will be) there
        ready = np.where(head_t <= t_col, score.take(k, axis=0), -np.inf)
        pick = ready.argmax(axis=1)
        sel = rows_s + pick
        has = ready.take(sel) > -np.inf
        if t.max() >= horizon:
            has &= t < horizon
        flat = head_f.take(sel)
        busy = occ_f.take(flat) * speed.take(k)
        if abandon:  # left before being called: the counter calls the next once it has called in vain
            busy[leave_f.take(flat) < t] = plan.left_busy
        if has.all():
            calls_f[col_f.take(flat)] = t
            free_f[kf] = t + busy
        else:  # with nobody there yet, the counter waits for the next arrival at one of its lanes
            calls_f[np.where(has, col_f.take(flat), dummy)] = t
            nxt = np.where(served.take(k, axis=0) & (head_t > t_col), head_t, NEVER).min(axis=1)
            free_f[kf] = np.where(has, t + busy, np.where(t < horizon, nxt, NEVER))
        if scheduled:  # a counter due to close calls nobody until it reopens
            nf = free_f.take(kf)
            free_f[kf] = np.where(nf >= closes.take(k), np.maximum(nf, reopens.take(k)), nf)
        head_f[sel] += has
        if step % 4 == 3 and ((head >= done_at).all(axis=1) | (free.min(axis=1) >= horizon)).all():
            break
    return calls[:, :n_out]
