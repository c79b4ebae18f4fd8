"""How long customers wait before giving up, by how long they have already waited.

A constant rate (exponential patience) fitted over all waiting time makes
nearly everyone patient: most waiting seconds are spent in short waits, where
hardly anyone leaves. But people give up more the longer they have waited (on
the simulated busy branch, 2% of calls after under two minutes find nobody,
a third of those after 15–20 minutes), so in a long line the people near its
head, who have waited longest, are the ones who leave, and a constant rate
predicted such lines too long. Two kinds of leavers are learned apart:

- recorded abandonments (a caller hanging up, a ticket cancelled): a hazard
  per band of time waited (leavers in the band ÷ waiting seconds spent in it),
  and a waiting ticket's patience is drawn given what it has already waited,
  since its ticket would be gone had it left;
- customers who just go, found out only when called: for each call the log
  says only whether, after that wait, the customer was still there. The share
  of no-shows by band of wait, less the share who never came at all, is the
  share gone by then, drawn without regard to the wait so far, since their
  ticket stays in line either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import kernel

EDGES = np.array([0, 60, 120, 180, 300, 420, 600, 900, 1200, 1500, 1800, 2400, 3600], dtype=float)  # seconds waited
_WIDTHS = np.append(np.diff(EDGES), np.inf)  # the last band runs on
PRIOR_S = 1800.0  # waiting seconds of prior weight: thin bands lean on the branch's, and on the overall rate
REFRESH = 16  # calls and waits counted between two recomputations of what was learned
CALLS_PRIOR = 10.0  # calls of prior weight per band: a service's no-show shares lean on the branch's
_MIDDLES = np.append(EDGES[:-1] + np.diff(EDGES) / 2, EDGES[-1] * 1.5)  # a typical wait in each band
BANDS = len(EDGES)


def band(waited: float) -> int:
    return int(np.searchsorted(EDGES, max(waited, 0.0), side="right")) - 1


def spent(waited: float) -> np.ndarray:
    """Seconds of a wait of `waited` seconds spent in each band."""
    return np.clip(max(waited, 0.0) - EDGES, 0.0, _WIDTHS)


def _zeros() -> np.ndarray:
    return np.zeros(BANDS)


@dataclass
class PatienceLog:
    """Counts by band of time waited, per service: waiting seconds, leavers seen, calls and no-shows."""

    exposure: dict[str, np.ndarray] = field(default_factory=lambda: defaultdict(_zeros))
    left: dict[str, np.ndarray] = field(default_factory=lambda: defaultdict(_zeros))
    calls: dict[str, np.ndarray] = field(default_factory=lambda: defaultdict(_zeros))
    no_shows: dict[str, np.ndarray] = field(default_factory=lambda: defaultdict(_zeros))
    updates: int = 0  # calls and waits counted: the estimates are refreshed every REFRESH of them ...
    leavers: int = 0  # ... and at every leaver
    _cache: dict[tuple[str, ...], tuple[tuple[int, int], dict[str, np.ndarray], dict[str, np.ndarray]]] = field(
        default_factory=dict)

    def waited(self, service: str, seconds: float) -> None:
        self.exposure[service] += spent(seconds)
        self.updates += 1

    def gave_up(self, service: str, seconds: float) -> None:
        self.left[service][band(seconds)] += 1
        self.leavers += 1

    def called(self, service: str, seconds: float) -> None:
        self.calls[service][band(seconds)] += 1
        self.updates += 1

    def no_show(self, service: str, seconds: float) -> None:
        self.no_shows[service][band(seconds)] += 1
        self.leavers += 1

    def learned(self, never_came: Callable[[str], float],
                services: list[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """`seen_hazards` and `silent_gone` for these services, recomputed only when they may have moved.

        They run on every estimate, and a call moves them by a hair: recomputing them
        every REFRESH calls (and at every leaver) took the 57-day busy replay from 42.0 to
        38.5 s of CPU, the numbers unchanged but for the refresh's delay.
        """
        key, version = tuple(services), (self.updates // REFRESH, self.leavers)
        hit = self._cache.get(key)
        if hit is None or hit[0] != version:
            hit = self._cache[key] = (version, self.seen_hazards(services),
                                      self.silent_gone({s: never_came(s) for s in services}))
        return hit[1], hit[2]

    def seen_hazards(self, services: list[str]) -> dict[str, np.ndarray]:
        """Per service, recorded abandonments per waiting second in each band (all zeros until one is seen).

        Each service's bands are shrunk toward the branch's, the branch's toward
        its overall rate, and a service with its own level of patience keeps it.
        """
        left = {s: self.left.get(s, _zeros()) for s in services}
        exposure = {s: self.exposure.get(s, _zeros()) for s in services}
        total_left = sum((left[s] for s in services), _zeros())
        total_exposure = sum((exposure[s] for s in services), _zeros())
        overall = total_left.sum() / (total_exposure.sum() + PRIOR_S)
        if overall == 0.0:
            return {s: _zeros() for s in services}
        branch = (total_left + PRIOR_S * overall) / (total_exposure + PRIOR_S)
        out = {}
        for s in services:
            level = left[s].sum() / (exposure[s].sum() + PRIOR_S) / overall
            out[s] = (left[s] + PRIOR_S * level * branch) / (exposure[s] + PRIOR_S)
        return out

    def silent_gone(self, never_came: dict[str, float]) -> dict[str, np.ndarray]:
        """Per service, the share of customers gone unseen by each band of time waited (a distribution function).

        A customer who leaves without a word is found out only when called, so for
        each call the log says only whether, after that wait, the customer was still
        there ("current status" data): the share of no-shows among calls after a
        wait w, less the share `never_came` who were never there, estimates the
        share gone by w. Kept non-decreasing in w (pool-adjacent-violators), each
        service's shrunk toward the branch's by CALLS_PRIOR calls per band.
        """
        services = list(never_came)
        calls = {s: self.calls.get(s, _zeros()) for s in services}
        shows = {s: self.no_shows.get(s, _zeros()) for s in services}
        total_calls = sum((calls[s] for s in services), _zeros())
        total_ns = sum((shows[s] for s in services), _zeros())
        seen = total_calls > 0  # bands nobody was called in say nothing: the share gone there is carried over
        branch_rate = _carried(np.divide(total_ns, total_calls, out=_zeros(), where=seen), seen)
        out = {}
        for s in services:
            weight = calls[s] + CALLS_PRIOR * seen
            rate = (shows[s] + CALLS_PRIOR * seen * branch_rate) / np.maximum(weight, 1e-9)
            q = never_came[s]
            gone = np.clip((rate - q) / (1.0 - q), 0.0, 1.0) if q < 1.0 else _zeros()
            out[s] = _increasing(_carried(gone, seen), np.maximum(weight, 1e-9))
        return out


def leave_times(hazard: np.ndarray, gone: np.ndarray, lane: np.ndarray, elapsed: np.ndarray,
                unit: np.ndarray, uniform: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """[R, C] seconds from now until each customer is gone, seen or unseen: the earlier of `time_to_leave`
    and `silent_leave`. Compiled when numba is there (both run on every estimate, over every replication)."""
    if compiled if compiled is not None else kernel.AVAILABLE:
        c = np.ascontiguousarray
        return kernel.leave_times(c(hazard, float), c(gone, float), c(lane, np.int64), c(elapsed, float),
                                  c(unit, float), c(uniform, float), EDGES, _MIDDLES)
    return np.minimum(time_to_leave(hazard, lane, elapsed, unit), silent_leave(gone, lane, elapsed, uniform))


def time_to_leave(hazard: np.ndarray, lane: np.ndarray, elapsed: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Seconds from now until each customer gives up, given the seconds `elapsed` [C] already waited.

    `hazard` [S, bands] per line; `lane` [C] the line of each column (each
    line's columns side by side); `unit` [R, C] standard exponential draws: the
    cumulative hazard from now to leaving. Inverting the piecewise-linear
    cumulative hazard makes the draw conditional on having stayed so far.
    inf: never (no hazard left).
    """
    e = np.maximum(elapsed, 0.0)
    out = np.full(unit.shape, np.inf)
    for s, cols in _lines(lane):
        h = hazard[s]
        if not h.any():
            continue
        cum = np.concatenate(([0.0], np.cumsum(h[:-1] * np.diff(EDGES))))  # cumulative hazard at each band's start
        x = np.interp(e[cols], EDGES, cum) + np.where(e[cols] > EDGES[-1], h[-1] * (e[cols] - EDGES[-1]), 0.0)
        target = x[None, :] + unit[:, cols]
        at = np.interp(target, cum, EDGES)  # ties (bands nobody leaves in) are never hit strictly inside
        beyond = target > cum[-1]  # past the last edge: its hazard runs on (or nobody leaves)
        if beyond.any():
            at[beyond] = EDGES[-1] + (target[beyond] - cum[-1]) / h[-1] if h[-1] > 0 else np.inf
        out[:, cols] = at - e[cols][None, :]
    return out


def silent_leave(gone: np.ndarray, lane: np.ndarray, elapsed: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Seconds from now at which each customer will have left unseen (negative: already gone; inf: stays).

    Unlike a recorded abandonment, a silent leaver's ticket stays in the line,
    so having waited `elapsed` [C] says nothing about whether the customer is
    still there: the time is drawn from the whole distribution `gone` [S, bands]
    (as `PatienceLog.silent_gone`, per line; `lane` [C] the line of each
    column) by inverting it at `uniform` [R, C], not conditioned on the wait so far.
    """
    out = np.full(uniform.shape, np.inf)
    at = np.concatenate(([0.0], _MIDDLES))
    for s, cols in _lines(lane):
        share = np.concatenate(([0.0], gone[s]))
        if not share[-1] > 0:
            continue
        u = uniform[:, cols]
        total = np.interp(u, share, at)
        total[u >= share[-1]] = np.inf  # beyond the share ever gone: stays
        out[:, cols] = total - np.maximum(elapsed[cols], 0.0)[None, :]
    return out


def _lines(lane: np.ndarray) -> list[tuple[int, slice]]:
    """(line, its columns) for each line present in `lane` (a line's columns are side by side)."""
    if len(lane) == 0:
        return []
    cuts = np.flatnonzero(np.diff(lane)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(lane)]))
    return [(int(lane[a]), slice(int(a), int(b))) for a, b in zip(starts, ends, strict=True)]


def _carried(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`values` where `known`, elsewhere the last known value before (0 before any)."""
    idx = np.where(known, np.arange(len(values)), -1)
    last = np.maximum.accumulate(idx)
    return np.where(last >= 0, values[np.maximum(last, 0)], 0.0)


def _increasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The closest non-decreasing sequence in weighted least squares (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(int(c), m) for m, _, c in blocks])
