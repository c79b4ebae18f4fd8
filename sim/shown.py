"""KPI from the estimator: the share of customers whose real wait exceeded the range
they were shown at their ticket — replayed through `server.core.estimator` on the
simulated log with a simulated clock, learning online day after day as a branch would.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .kpis import ci


def late_shares(jsonl: str, seed: int = 20261201, replications: int = 64) -> dict[str, tuple[float, float]]:
    """Per-day shares of waits beyond the shown upper end (+0 and +2 min): mean and 95 % CI half-width."""
    from server.core.estimator import Estimator
    from server.core.estimator.evaluate import OURS, replay_lines

    est = Estimator(rng=np.random.default_rng(seed), replications=replications, joins=False)
    replay = replay_lines(jsonl.splitlines(), est)
    by_day: dict[object, list[tuple[float, float]]] = defaultdict(list)
    for case in replay.cases.values():
        if case.outcome == "called" and OURS in case.preds:
            by_day[case.issued.date()].append((case.wait, case.preds[OURS][2]))
    late0 = np.array([np.mean([w > hi for w, hi in v]) for v in by_day.values()])
    late2 = np.array([np.mean([w > hi + 120 for w, hi in v]) for v in by_day.values()])
    m0, h0 = ci(late0)
    m2, h2 = ci(late2)
    return {"late": (float(m0), float(h0)), "late2": (float(m2), float(h2))}
