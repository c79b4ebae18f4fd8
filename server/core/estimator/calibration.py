"""Online conformal calibration of predictive intervals, per bucket of people ahead.

The raw interval (the Monte Carlo's, or a baseline's point) is corrected by
recent errors: for each bucket we keep the last `window` scores
(actual - raw) / scale of predictions whose outcome is known, and shift the
low end, the point and the high end by quantiles of those scores (the point
by their median: the metric is the mean absolute error, which the median
minimises). The window makes it adaptive (queues drift through the day).

Which quantiles is steered per *report group* (the people-ahead buckets the
evaluation scores: 0, 1-2, 3-5, 6+), by adaptive conformal steps:
- the high end starts at the 95% level (late misses are the ones customers
  resent) and is raised whenever misses above it run above 5%, or misses by
  more than `late_margin` seconds above `late_cap`;
- the low end's level moves so that the group's coverage settles at 80%.
  Where many waits are certain zeros (a free counter calls at once: any range
  from 0 covers them) the low end of the others rises, so the 20% of misses
  fall on the early side, never the late one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

WAIT_TARGETS = (0.15, 0.5, 0.95)
SERVICE_TARGETS = (0.1, 0.5, 0.9)
AHEAD_EDGES = (0, 1, 3, 6, 11)  # buckets 0, 1-2, 3-5, 6-10, 11+
AT_ONCE = "now"  # tickets a free counter calls at once (their wait is zero)
REPORT_GROUPS = (("0", 0, 0), ("1-2", 1, 2), ("3-5", 3, 5), ("6+", 6, 10**9))  # what the evaluation reports


def _label(ahead: int) -> str:
    label = "0"
    for lo, hi in zip(AHEAD_EDGES, (*AHEAD_EDGES[1:], None), strict=True):
        if ahead >= lo:
            label = f"{lo}+" if hi is None else (str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}")
    return label


_LABELS = [_label(i) for i in range(AHEAD_EDGES[-1] + 1)]
_FIRST = {_LABELS[i]: i for i in reversed(range(len(_LABELS)))}  # bucket label -> its smallest people-ahead count


def ahead_bucket(ahead: int) -> str:
    """The people-ahead bucket the calibration learns by (finer above 6 than the report)."""
    return _LABELS[min(ahead, len(_LABELS) - 1)]


def report_group(ahead: int) -> str:
    """The people-ahead group the evaluation reports: 0, 1-2, 3-5, 6+."""
    return next(label for label, lo, hi in REPORT_GROUPS if lo <= ahead <= hi)


def bucket_group(bucket: str) -> str:
    """The report group a calibration bucket belongs to (tickets called at once have nobody ahead)."""
    if bucket == AT_ONCE:
        return "0"
    first = _FIRST.get(bucket)
    return report_group(first) if first is not None else bucket


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

    def quantiles(self, levels: tuple[float, float, float]) -> tuple[float, float, float]:
        """Column j's quantile at levels[j] (linear interpolation, as numpy's default)."""
        s = np.sort(self.data[: min(self.n, self.size)], axis=0)  # one sort: np.quantile costs ten times more
        last = len(s) - 1
        out = []
        for j, level in enumerate(levels):
            h = last * level
            i = int(h)
            out.append(float(s[i, j] + (s[min(i + 1, last), j] - s[i, j]) * (h - i)))
        return out[0], out[1], out[2]


@dataclass
class _Levels:
    """A group's current quantile levels for the low and high ends."""

    low: float
    high: float


@dataclass
class Calibrator:
    """Shifts (low, point, high) by recent scaled errors, bucket by bucket."""

    targets: tuple[float, float, float] = WAIT_TARGETS
    window: int = 300
    min_n: int = 25
    shift_point: bool = True
    coverage: float | None = 0.8  # steer the low end's level so realised coverage stays here (None: fixed)
    late_cap: float | None = 0.03  # raise the high end while misses by > late_margin run above this share
    late_margin: float = 120.0
    step: float = 0.01  # adaptive conformal step of the low end's level
    late_step: float = 0.02  # ... and of the high end's (a late miss moves it up at once)
    group: Callable[[str], str] = bucket_group  # bucket -> the group whose coverage is steered
    _scores: dict[str, _Ring] = field(default_factory=dict)
    _shift: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    _levels: dict[str, _Levels] = field(default_factory=dict)

    def learn(self, bucket: str, raw: tuple[float, float, float], scale: float, actual: float) -> None:
        """Record how a past prediction in `bucket` fared, now that its outcome is known."""
        score = ((actual - raw[0]) / scale, (actual - raw[1]) / scale, (actual - raw[2]) / scale)
        for key in (bucket, "*"):  # "*": all buckets together, for buckets still thin
            ring = self._scores.get(key)
            if ring is None:
                ring = self._scores[key] = _Ring(self.window)
            ring.add(score)
            levels = self._group_levels(key)
            if key in self._shift:
                self._steer(levels, *self.apply(key, raw, scale), actual)
            if ring.n >= self.min_n and (ring.n < 60 or ring.n % 20 == 0):  # a shift moves slowly
                self._shift[key] = ring.quantiles((levels.low, self.targets[1], levels.high))

    def _group_levels(self, key: str) -> _Levels:
        g = "*" if key == "*" else self.group(key)
        levels = self._levels.get(g)
        if levels is None:
            levels = self._levels[g] = _Levels(self.targets[0], self.targets[2])
        return levels

    def _steer(self, levels: _Levels, low: float, point: float, high: float, actual: float) -> None:
        """Adaptive conformal steps: the high end against late misses, the low end toward 80% coverage.

        Many waits are exactly zero (a free counter calls at once) and any low
        end of zero covers them, so the nominal levels alone would over-cover;
        raising the low end's level for the others brings coverage back to 80%.
        The high end only ever rises above its nominal level: the late side
        keeps its small miss rate whatever the low end does.
        """
        if self.late_cap is not None:
            late = 1.0 if actual > high + self.late_margin else 0.0
            above = 1.0 if actual > high else 0.0
            step = self.late_step * (late - self.late_cap) + self.step * (above - (1.0 - self.targets[2]))
            levels.high = min(max(levels.high + step, self.targets[2]), 0.995)
        if self.coverage is not None:
            covered = 1.0 if low <= actual <= high else 0.0
            levels.low = min(max(levels.low + self.step * (covered - self.coverage), 0.0), levels.high - 0.2)

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
