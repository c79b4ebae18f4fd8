"""Online conformal calibration of predictive intervals, per bucket of people ahead.

The raw interval (the Monte Carlo's, or a baseline's point) is corrected by
recent errors: for each bucket we keep the last `window` scores
(actual - raw) / scale of predictions whose outcome is known, and shift the
low end, the point and the high end by quantiles of those scores (the point
by their median: the metric is the mean absolute error, which the median
minimises). The window makes it adaptive (queues drift through the day). A
bucket still thin borrows the shifts of its report group, then of all buckets.

Which quantiles is steered per *report group* (the people-ahead buckets the
evaluation scores: 0, 1-2, 3-5, 6+), by adaptive conformal steps on the
interval that was shown when the prediction was made:
- the high end starts at the 95% level (late misses are the ones customers
  resent) and is raised whenever misses above it run above 5%, or misses by
  more than `late_margin` seconds above `late_cap`;
- the low end sits `coverage` below the high end, moved by what the group's
  coverage has been. Waits certain to be zero (a free counter calls at once)
  are covered by any range from 0; in a group where a share s of outcomes was
  predicted such, and a share k of those was covered (all of them, unless the
  log hides who is staffed), the others are aimed at (coverage - s k) / (1 - s),
  never below `min_width` levels: their low end rises, so the misses fall on
  the early side (called sooner than said), never the late one. The low end
  of a predicted certain zero itself is never raised, as long as at least 95%
  of them are borne out; where they are not (a log that hides who is staffed),
  they are not certain, and are steered like the others.

How far the point follows the median shift is learned too (per group, from
past outcomes): where the scores' median is noise rather than bias, moving the
point by it costs accuracy instead of gaining it. The wait estimator moves it
only where the log hides who is staffed (see `Estimator`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

WAIT_TARGETS = (0.15, 0.5, 0.95)
SERVICE_TARGETS = (0.1, 0.5, 0.9)
AHEAD_EDGES = (0, 1, 3, 6, 11)  # buckets 0, 1-2, 3-5, 6-10, 11+
AT_ONCE = "now"  # tickets a free counter calls at once (their wait is zero)
TRUSTED = 0.95  # share of predicted certain zeros that must be called within a second to be treated as certain
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
    """A group's current quantile levels for the low and high ends, and what steers the low one."""

    low: float
    high: float
    adjust: float = 0.0  # adaptive conformal correction of the width high - low
    certain: float = 0.0  # recent share of outcomes predicted certain (moving average) ...
    certain_covered: float = 1.0  # ... and how many of those the range covered (all, unless the log hides staffing)
    certain_zero: float = 1.0  # how many of those were called within a second (below TRUSTED: not certain after all)
    seen: int = 0
    seen_certain: int = 0

    def trusted(self) -> bool:
        """Whether the predicted certain zeros of this group are borne out (a log that hides staffing: often not)."""
        return self.certain_zero >= TRUSTED


@dataclass
class _PointWeight:
    """The last (raw point, fully shifted point, actual) of a group and the share of the shift they favour."""

    window: int
    data: np.ndarray = field(init=False)
    n: int = 0
    weight: float = 1.0

    def __post_init__(self) -> None:
        self.data = np.empty((self.window, 3))

    def add(self, raw: float, shifted: float, actual: float) -> None:
        self.data[self.n % self.window] = (raw, shifted, actual)
        self.n += 1
        if self.n >= 50 and self.n % 10 == 0:  # refitted every 10 outcomes: a weight moves slowly
            d = self.data[: min(self.n, self.window)]
            mae = np.abs(d[:, :1] + POINT_GRID[None, :] * (d[:, 1:2] - d[:, :1]) - d[:, 2:3]).mean(axis=0)
            self.weight = float(POINT_GRID[int(mae.argmin())])


POINT_GRID = np.linspace(0.0, 1.0, 5)


@dataclass
class Calibrator:
    """Shifts (low, point, high) by recent scaled errors, bucket by bucket."""

    targets: tuple[float, float, float] = WAIT_TARGETS
    window: int = 300
    min_n: int = 25
    shift_point: bool = True  # move the point by the median shift, as far as past outcomes favour
    coverage: float | None = 0.8  # steer the low end's level so realised coverage stays here (None: fixed)
    late_cap: float | None = 0.03  # raise the high end while misses by > late_margin run above this share
    late_margin: float = 120.0
    step: float = 0.01  # adaptive conformal step of the high end's level against plain misses above it
    late_step: float = 0.02  # ... and against late ones (a late miss moves it up at once)
    cover_step: float = 0.02  # ... and of the width toward the coverage
    min_width: float = 0.2  # the low end's level stays this far below the high end's
    certain_rate: float = 0.01  # how fast the share of certain zeros follows (about the last 100 outcomes)
    group: Callable[[str], str] = bucket_group  # bucket -> the group whose coverage is steered
    certain: tuple[str, ...] = (AT_ONCE,)  # buckets whose outcome is known at prediction (always covered)
    _scores: dict[str, _Ring] = field(default_factory=dict)
    _shift: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    _levels: dict[str, _Levels] = field(default_factory=dict)
    _weights: dict[str, _PointWeight] = field(default_factory=dict)

    def learn(self, bucket: str, raw: tuple[float, float, float], scale: float, actual: float,
              shown: tuple[float, float, float] | None = None, shifted: float | None = None) -> None:
        """Record how a past prediction in `bucket` fared, now that its outcome is known.

        `shown`: the (low, point, high) given then, which is what the steering
        judges (without it, today's correction of the same raw interval);
        `shifted`: the point the full median shift gave then.
        """
        score = ((actual - raw[0]) / scale, (actual - raw[1]) / scale, (actual - raw[2]) / scale)
        certain = bucket in self.certain
        group = self.group(bucket)
        steered = shown or self.apply(bucket, raw, scale)
        for key, steered_group in ((bucket, group), ("*", "*")):  # "*": all buckets together, for buckets still thin
            self._add(key, score, steered_group)
            self._steer(self._levels_of(steered_group), steered, actual, certain)
        if not certain:  # the group's own pool, the first fallback of its thin buckets
            self._add("g:" + group, score, group)
            if self.shift_point and shifted is not None:
                w = self._weights.get(group)
                if w is None:
                    w = self._weights[group] = _PointWeight(self.window)
                w.add(raw[1], shifted, actual)

    def _add(self, key: str, score: tuple[float, float, float], group: str) -> None:
        """Add a score to `key`'s ring; its shifts use `group`'s levels."""
        ring = self._scores.get(key)
        if ring is None:
            ring = self._scores[key] = _Ring(self.window)
        ring.add(score)
        if ring.n >= self.min_n and (ring.n < 60 or ring.n % 20 == 0):  # a shift moves slowly
            levels = self._levels_of(group)
            low = self.targets[0] if key in self.certain and levels.trusted() else levels.low  # never raised for a certain zero
            self._shift[key] = ring.quantiles((low, self.targets[1], levels.high))

    def _levels_of(self, group: str) -> _Levels:
        """A report group's levels ("*": those of all buckets together)."""
        levels = self._levels.get(group)
        if levels is None:
            levels = self._levels[group] = _Levels(self.targets[0], self.targets[2])
        return levels

    def _steer(self, levels: _Levels, shown: tuple[float, float, float], actual: float, certain: bool) -> None:
        """Adaptive conformal steps: the high end against late misses, the width toward the coverage.

        A predicted certain zero only counts toward the group's share of them
        and of those covered: its own low end stays at the nominal level. The
        high end only ever rises above its nominal level: the late side keeps
        its small miss rate whatever the low end does.
        """
        low, _, high = shown
        covered = 1.0 if low <= actual <= high else 0.0
        if certain:  # plain means at first, then moving ones
            levels.seen_certain += 1
            rate = max(self.certain_rate, 1.0 / levels.seen_certain)
            levels.certain_zero += (float(actual <= 1.0) - levels.certain_zero) * rate
            levels.certain_covered += (covered - levels.certain_covered) * rate
            certain = levels.trusted()  # where they are not borne out, they are steered like the others
        levels.seen += 1
        levels.certain += (float(certain) - levels.certain) * max(self.certain_rate, 1.0 / levels.seen)
        if certain:
            return
        if self.late_cap is not None:
            late = 1.0 if actual > high + self.late_margin else 0.0
            above = 1.0 if actual > high else 0.0
            step = self.late_step * (late - self.late_cap) + self.step * (above - (1.0 - self.targets[2]))
            levels.high = min(max(levels.high + step, self.targets[2]), 0.995)
        if self.coverage is not None:
            s = min(levels.certain, 0.99)
            aim = min(max((self.coverage - s * levels.certain_covered) / (1.0 - s), self.min_width), self.coverage)
            # Kept where it moves the low end (between 0 and min_width below the high end): no wind-up.
            levels.adjust = min(max(levels.adjust + self.cover_step * (covered - aim), aim - levels.high),
                                aim - self.min_width)
            levels.low = levels.high - aim + levels.adjust

    def shift(self, bucket: str) -> tuple[float, float, float]:
        """The bucket's shifts; while it is thin, its group's, then all buckets' (a certain zero stays as predicted)."""
        own = self._shift.get(bucket)
        if own is not None:
            return own
        if bucket in self.certain:
            return (0.0, 0.0, 0.0)
        return self._shift.get("g:" + self.group(bucket)) or self._shift.get("*") or (0.0, 0.0, 0.0)

    def shifted_point(self, bucket: str, raw: tuple[float, float, float], scale: float) -> float:
        """The point moved by the whole median shift (what the point's weight is learned against)."""
        return raw[1] + self.shift(bucket)[1] * scale

    def apply(self, bucket: str, raw: tuple[float, float, float], scale: float,
              move_point: bool = True) -> tuple[float, float, float]:
        """Calibrated (low, point, high), never negative, the point never above the high end.

        The point is not pulled up to a low end raised for the group's
        coverage: it stays the estimate of the median. `move_point` False
        leaves it where the simulation put it.
        """
        d = self.shift(bucket)
        low = max(raw[0] + d[0] * scale, 0.0)
        high = max(raw[2] + d[2] * scale, low)
        point = raw[1]
        if self.shift_point and move_point:
            w = self._weights.get(self.group(bucket))
            point += (1.0 if w is None else w.weight) * d[1] * scale
        return low, min(max(point, 0.0), high), high

    def count(self, bucket: str) -> int:
        ring = self._scores.get(bucket)
        return min(ring.n, ring.size) if ring else 0
