"""Online conformal calibration of predictive intervals, per bucket of people ahead.

The raw interval (the Monte Carlo's, or a baseline's point) is corrected by
recent errors: for each bucket we keep the last `window` scores
(actual - raw) / scale of predictions whose outcome is known, and shift the
low end, the point and the high end by the scores' 15%, 50% and 95%
quantiles. The window makes it adaptive (queues drift through the day); the
uneven split (15% early, 5% late) makes late misses -- the ones customers
resent -- the rarer kind, while the interval still covers about 80%.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WAIT_TARGETS = (0.15, 0.5, 0.95)
SERVICE_TARGETS = (0.1, 0.5, 0.9)
AHEAD_EDGES = (0, 1, 3, 6, 11)  # buckets 0, 1-2, 3-5, 6-10, 11+


def _label(ahead: int) -> str:
    label = "0"
    for lo, hi in zip(AHEAD_EDGES, (*AHEAD_EDGES[1:], None), strict=True):
        if ahead >= lo:
            label = f"{lo}+" if hi is None else (str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}")
    return label


_LABELS = [_label(i) for i in range(AHEAD_EDGES[-1] + 1)]


def ahead_bucket(ahead: int) -> str:
    """The people-ahead bucket the calibration learns by (finer above 6 than the report)."""
    return _LABELS[min(ahead, len(_LABELS) - 1)]


@dataclass
class _Ring:
    """The last `size` score triples, as a numpy ring (cheap to append and to take quantiles of)."""

    size: int
    data: np.ndarray = field(init=False)
    n: int = 0

    def __post_init__(self) -> None:
        self.data = np.empty((self.size, 3))

    def add(self, score: tuple[float, float, float]) -> None:
        self.data[self.n % self.size] = score
        self.n += 1

    def filled(self) -> np.ndarray:
        return self.data[: min(self.n, self.size)]


@dataclass
class Calibrator:
    """Shifts (low, point, high) by recent scaled errors, bucket by bucket."""

    targets: tuple[float, float, float] = WAIT_TARGETS
    window: int = 300
    min_n: int = 25
    shift_point: bool = True
    coverage: float | None = 0.8  # steer the low end's level so realised coverage stays here (None: fixed)
    step: float = 0.005
    _scores: dict[str, _Ring] = field(default_factory=dict)
    _shift: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    _level: dict[str, float] = field(default_factory=dict)

    def learn(self, bucket: str, raw: tuple[float, float, float], scale: float, actual: float) -> None:
        """Record how a past prediction in `bucket` fared, now that its outcome is known."""
        score = ((actual - raw[0]) / scale, (actual - raw[1]) / scale, (actual - raw[2]) / scale)
        for key in (bucket, "*"):  # "*": all buckets together, for buckets still thin
            ring = self._scores.get(key)
            if ring is None:
                ring = self._scores[key] = _Ring(self.window)
            ring.add(score)
            if self.coverage is not None and key in self._shift:
                self._steer(key, raw, scale, actual)
            if ring.n >= self.min_n and (ring.n < 60 or ring.n % 20 == 0):  # a shift moves slowly
                levels = (self._level.get(key, self.targets[0]), *self.targets[1:])
                q = np.quantile(ring.filled(), levels, axis=0)
                self._shift[key] = (float(q[0, 0]), float(q[1, 1]), float(q[2, 2]))

    def _steer(self, key: str, raw: tuple[float, float, float], scale: float, actual: float) -> None:
        """Adaptive conformal step on the low end only: the late side keeps its fixed, small miss rate.

        Many waits are exactly zero (a free counter calls at once) and any low
        end of zero covers them, so the nominal levels alone would over-cover;
        raising the low end's level for the others brings coverage back to 80%.
        """
        target = self.coverage if self.coverage is not None else 0.8
        low, _, high = self.apply(key, raw, scale)
        covered = low <= actual <= high
        level = self._level.get(key, self.targets[0]) + self.step * ((1.0 if covered else 0.0) - target)
        self._level[key] = min(max(level, 0.02), 0.45)

    def shift(self, bucket: str) -> tuple[float, float, float]:
        return self._shift.get(bucket) or self._shift.get("*") or (0.0, 0.0, 0.0)

    def apply(self, bucket: str, raw: tuple[float, float, float], scale: float) -> tuple[float, float, float]:
        """Calibrated (low, point, high), never negative and always in order."""
        d = self.shift(bucket)
        low = max(raw[0] + d[0] * scale, 0.0)
        high = max(raw[2] + d[2] * scale, low)
        point = raw[1] + d[1] * scale if self.shift_point else raw[1]
        return low, min(max(point, low), high), high

    def count(self, bucket: str) -> int:
        ring = self._scores.get(bucket)
        return min(ring.n, ring.size) if ring else 0
