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
_compiled: Callable[..., np.ndarray] | None = None


def call_times(*args: Any) -> np.ndarray:
    """The compiled `_call_times` (compiled at the first call, cached on disk by numba)."""
    global _compiled
    if _compiled is None:
        _compiled = _compile()
    return _compiled(*args)


def _compile() -> Callable[..., np.ndarray]:
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(_call_times)  # type: ignore[no-any-return]
    except RuntimeError:  # nowhere to keep the cache (read-only install, no home): compile at every start
        return numba.njit(nogil=True)(_call_times)  # type: ignore[no-any-return]


def warm_up() -> None:
    """Compile (or load) the loop now, so the first screen refresh does not wait for it."""
    if AVAILABLE:
        one, inf = np.zeros((1, 1)), np.full(1, np.inf)
        call_times(one, one, one, np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64),
                   one, np.ones(1), one, 1.0, inf, inf, 1, 1, 0.0)


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
