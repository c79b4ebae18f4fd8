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
from dataclasses import dataclass, field

import numpy as np

EDGES = np.array([0, 60, 120, 180, 300, 420, 600, 900, 1200, 1500, 1800, 2400, 3600], dtype=float)  # seconds waited
_WIDTHS = np.append(np.diff(EDGES), np.inf)  # the last band runs on
PRIOR_S = 1800.0  # waiting seconds of prior weight: thin bands lean on the branch's, and on the overall rate
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

    def waited(self, service: str, seconds: float) -> None:
        self.exposure[service] += spent(seconds)

    def gave_up(self, service: str, seconds: float) -> None:
        self.left[service][band(seconds)] += 1

    def called(self, service: str, seconds: float) -> None:
        self.calls[service][band(seconds)] += 1

    def no_show(self, service: str, seconds: float) -> None:
        self.no_shows[service][band(seconds)] += 1

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


def time_to_leave(hazard: np.ndarray, elapsed: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Seconds from now until each customer gives up, given the seconds `elapsed` [C] already waited.

    `unit` [R, C] are standard exponential draws: the cumulative hazard from
    now to leaving. Inverting the piecewise-linear cumulative hazard makes the
    draw conditional on having stayed so far. inf: never (no hazard left).
    """
    if not hazard.any():
        return np.full(unit.shape, np.inf)
    cum = np.concatenate(([0.0], np.cumsum(hazard[:-1] * np.diff(EDGES))))  # cumulative hazard at each edge
    e = np.maximum(elapsed, 0.0)
    b = np.searchsorted(EDGES, e, side="right") - 1
    target = (cum[b] + hazard[b] * (e - EDGES[b]))[None, :] + unit
    k = np.searchsorted(cum, target, side="right") - 1  # the band where the cumulative hazard reaches it
    rate = hazard[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        at = np.where(rate > 0, EDGES[k] + (target - cum[k]) / rate, np.inf)
    return at - e[None, :]


def silent_leave(gone: np.ndarray, elapsed: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Seconds from now at which each customer will have left unseen (negative: already gone; inf: stays).

    Unlike a recorded abandonment, a silent leaver's ticket stays in the line,
    so having waited `elapsed` says nothing about whether the customer is still
    there: the time is drawn from the whole distribution `gone` (by band, as
    `PatienceLog.silent_gone`), not conditioned on the wait so far.
    """
    if not gone.any():
        return np.full(uniform.shape, np.inf)
    at = np.concatenate(([0.0], _MIDDLES))
    share = np.concatenate(([0.0], gone))
    total = np.interp(uniform, share, at, right=np.inf)  # np.interp needs no strict increase: ties pick the first
    total[uniform >= share[-1]] = np.inf
    return total - np.maximum(elapsed, 0.0)[None, :]


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
