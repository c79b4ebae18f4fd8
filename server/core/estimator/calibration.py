"""Online conformal calibration of predictive intervals, per bucket of people ahead.

The raw interval (the Monte Carlo's, or a baseline's point) is corrected by
recent errors: for each bucket we keep the last `window` scores
(actual - raw) / scale of predictions whose outcome is known, and shift the
low end, the point and the high end by the scores' 13%, 50% and 93%
quantiles. The window makes it adaptive (queues drift through the day); the
uneven split (13% early, 7% late) makes late misses -- the ones customers
resent -- the rarer kind, while the interval still covers about 80%.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

WAIT_TARGETS = (0.13, 0.5, 0.93)
SERVICE_TARGETS = (0.1, 0.5, 0.9)
AHEAD_EDGES = (0, 1, 3, 6, 11)  # buckets 0, 1-2, 3-5, 6-10, 11+


def ahead_bucket(ahead: int) -> str:
    """The people-ahead bucket the metrics report by (finer above 6 for calibration)."""
    label = "0"
    for lo, hi in zip(AHEAD_EDGES, (*AHEAD_EDGES[1:], None), strict=True):
        if ahead >= lo:
            label = f"{lo}+" if hi is None else (str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}")
    return label


@dataclass
class Calibrator:
    """Shifts (low, point, high) by recent scaled errors, bucket by bucket."""

    targets: tuple[float, float, float] = WAIT_TARGETS
    window: int = 300
    min_n: int = 25
    shift_point: bool = True
    _scores: dict[str, deque[tuple[float, float, float]]] = field(default_factory=dict)
    _shift: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def learn(self, bucket: str, raw: tuple[float, float, float], scale: float, actual: float) -> None:
        """Record how a past prediction in `bucket` fared, now that its outcome is known."""
        score = tuple((actual - r) / scale for r in raw)
        for key in (bucket, "*"):  # "*": all buckets together, for buckets still thin
            q = self._scores.setdefault(key, deque(maxlen=self.window))
            q.append(score)  # type: ignore[arg-type]
            if len(q) >= self.min_n:
                arr = np.asarray(q)
                self._shift[key] = tuple(  # type: ignore[assignment]
                    float(np.quantile(arr[:, i], p)) for i, p in enumerate(self.targets)
                )

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
        return len(self._scores.get(bucket, ()))
