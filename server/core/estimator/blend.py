"""How far to move the simulated point toward the head-of-line wait, learned online per bucket.

The forward simulation knows the rules and the counters; the head-of-line wait
(how long the first in line has waited so far) knows what the log cannot say:
tellers away without a pause event, a call centre's agents seen only by their
calls. Their errors are far from perfectly correlated, so a mix of the two
beats either where both are informative. The weight is chosen from past
outcomes only (no lookahead): for each people-ahead bucket, the share of the
way toward the head-of-line wait that would have minimised the mean absolute
error of the last `window` predictions whose outcome is known. Where the
simulation is better on its own, the weight stays at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRID = np.linspace(0.0, 1.0, 11)


@dataclass
class Blend:
    """Per bucket, the last outcomes (point, head-of-line wait, actual) and the weight they favour."""

    window: int = 300
    min_n: int = 50
    margin: float = 0.97  # a weight must beat the simulation alone by 3% of its error over the window
    _data: dict[str, np.ndarray] = field(default_factory=dict)
    _n: dict[str, int] = field(default_factory=dict)
    _weight: dict[str, float] = field(default_factory=dict)

    def learn(self, bucket: str, point: float, hol: float, actual: float) -> None:
        data = self._data.get(bucket)
        if data is None:
            data = self._data[bucket] = np.empty((self.window, 3))
        n = self._n.get(bucket, 0)
        data[n % self.window] = (point, hol, actual)
        n = self._n[bucket] = n + 1
        if n >= self.min_n and n % 10 == 0:  # a weight moves slowly: refitted every 10 outcomes
            d = data[: min(n, self.window)]
            pred = d[:, :1] + GRID[None, :] * (d[:, 1:2] - d[:, :1])
            mae = np.abs(pred - d[:, 2:3]).mean(axis=0)
            best = int(mae.argmin())
            self._weight[bucket] = float(GRID[best]) if mae[best] < self.margin * mae[0] else 0.0

    def apply(self, bucket: str, point: float, hol: float) -> float:
        w = self._weight.get(bucket, 0.0)
        return point + w * (hol - point)

    def weight(self, bucket: str) -> float:
        return self._weight.get(bucket, 0.0)
