"""The forward simulation's loop, compiled with numba: one replication at a time, one call per step.

The numpy loop in `forward.py` pays ~25 array operations per call step
whatever the number of replications (about 35 us each, 400 steps for a busy
branch): most of an estimate's time. Compiled, a step is a few scalar
comparisons. The rule is the same line by line (the earliest-free counter
calls the highest-scoring lane whose head is there; nobody there: it waits for
the next arrival of a lane it serves), so both loops give the same call times,
which a test checks. Without numba installed, `AVAILABLE` is False and
`forward.simulate` runs the numpy loop.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

# Importing numba costs ~0.4 s and compiling ~4 s (~0.6 s from its on-disk cache), so it happens at
# the first simulation (or `warm_up`), not when a command that never estimates imports the core.
AVAILABLE = importlib.util.find_spec("numba") is not None
_compiled: dict[str, Callable[..., np.ndarray]] = {}


def call_times(*args: Any) -> np.ndarray:
    """The compiled `_call_times` (compiled at the first call, cached on disk by numba)."""
    fn = _compiled.get("call_times") or _compile("call_times", _call_times)
    return fn(*args)


def leave_times(*args: Any) -> np.ndarray:
    """The compiled `_leave_times` (as `call_times`)."""
    fn = _compiled.get("leave_times") or _compile("leave_times", _leave_times)
    return fn(*args)


def _compile(name: str, fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    import numba

    try:
        done = numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # nowhere to keep the cache (read-only install, no home): compile at every start
        done = numba.njit(nogil=True)(fn)
    _compiled[name] = done
    return done  # type: ignore[no-any-return]


def warm_up() -> None:
    """Compile (or load) the loops now, so the first screen refresh does not wait for them."""
    if AVAILABLE:
        one, inf = np.zeros((1, 1)), np.full(1, np.inf)
        call_times(one, one, one, np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64),
                   one, np.ones(1), one, 1.0, inf, inf, 1, 1, 0.0)
        leave_times(one, one, np.zeros(1, np.int64), np.zeros(1), one, one, np.zeros(1), np.ones(1))


def _call_times(avail: np.ndarray, occ: np.ndarray, leave: np.ndarray, col: np.ndarray, off: np.ndarray,
                done: np.ndarray, score: np.ndarray, speed: np.ndarray, free_at: np.ndarray, horizon: float,
                closes: np.ndarray, reopens: np.ndarray, n_out: int, steps: int,
                left_busy: float) -> np.ndarray:  # pragma: no cover
    """[R, n_out] call times of the waiting tickets (see `forward.Packed` for the arrays)."""
    R = avail.shape[0]
    K, S = score.shape
    calls = np.full((R, n_out), np.inf)
    head = np.empty(S, np.int64)
    free = np.empty(K)
    for r in range(R):
        head[:] = off
        free[:] = free_at[r]
        for _ in range(steps):
            k = 0
            t = free[0]
            for j in range(1, K):
                if free[j] < t:
                    k, t = j, free[j]
            if t >= horizon:
                break  # every counter is past the horizon: nobody else is called in this replication
            pick, best, nxt = -1, -np.inf, np.inf
            for s in range(S):
                sc = score[k, s]
                if sc == -np.inf:
                    continue
                ht = avail[r, head[s]]
                if ht <= t:
                    if sc > best:
                        pick, best = s, sc
                elif ht < nxt:
                    nxt = ht
            if pick >= 0:
                flat = head[pick]
                busy = occ[r, flat] * speed[k] if leave[r, flat] >= t else left_busy  # left: called in vain
                if col[flat] >= 0:
                    calls[r, col[flat]] = t
                head[pick] += 1
                nf = t + busy
            else:
                nf = nxt  # nobody there yet: the next arrival at one of its lanes
            if nf >= closes[k]:  # a counter due to close calls nobody until it reopens
                nf = max(nf, reopens[k])
            free[k] = nf
            finished = True
            for s in range(S):
                if head[s] < done[s]:
                    finished = False
                    break
            if finished:
                break
    return calls


def _leave_times(hazard: np.ndarray, gone: np.ndarray, lane: np.ndarray, elapsed: np.ndarray, unit: np.ndarray,
                 uniform: np.ndarray, edges: np.ndarray, middles: np.ndarray) -> np.ndarray:  # pragma: no cover
    """[R, C] seconds from now until each customer is gone: `patience.time_to_leave` and
    `patience.silent_leave` in one pass, the earlier of the two (same numbers, a scan instead of array passes)."""
    R, C = unit.shape
    S, B = hazard.shape
    cum = np.zeros((S, B))
    for s in range(S):
        for b in range(1, B):
            cum[s, b] = cum[s, b - 1] + hazard[s, b - 1] * (edges[b] - edges[b - 1])
    out = np.empty((R, C))
    for c in range(C):
        s = lane[c]
        e = max(elapsed[c], 0.0)
        b = 0
        while b + 1 < B and edges[b + 1] <= e:
            b += 1
        start = cum[s, b] + hazard[s, b] * (e - edges[b])
        top = gone[s, B - 1]
        for r in range(R):
            t = start + unit[r, c]
            k = b
            while k + 1 < B and cum[s, k + 1] <= t:
                k += 1
            h = hazard[s, k]
            seen = edges[k] + (t - cum[s, k]) / h - e if h > 0 else np.inf
            u = uniform[r, c]
            unseen = np.inf
            if u < top:
                j = 0  # the first point above u (point 0 is (0 s, share 0); point i is (middles[i-1], gone[i-1]))
                while gone[s, j] <= u:
                    j += 1
                lo_share, lo_at = (gone[s, j - 1], middles[j - 1]) if j > 0 else (0.0, 0.0)
                unseen = lo_at + (u - lo_share) / (gone[s, j] - lo_share) * (middles[j] - lo_at) - e
            out[r, c] = min(seen, unseen)
    return out
