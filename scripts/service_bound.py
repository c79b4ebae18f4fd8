"""How well can anyone predict a transaction's duration at its start, on a simulator log?

    python scripts/service_bound.py LOG.jsonl SCENARIO.toml

The simulator draws each duration as (work of the class) / (teller's speed), with nothing
else behind it. So the best possible point for the MAE is the *true* median of that
distribution, which only the scenario file knows. This prints that oracle's MAE next to the
evaluation's two service baselines (the class mean so far, the last completed of the class),
and the estimator's, on the transactions `branchq evaluate` scores (it replays the log the same
way): the ratio the oracle reaches is the floor for any estimator that learns from the log
(issue 6's target for service durations is 0.85).
"""

from __future__ import annotations

import sys

import numpy as np

from server.core.estimator import Estimator
from server.core.estimator.evaluate import OURS, replay_lines
from sim.scenario import Dist, load_scenario

ORACLE = "oracle (true median at the teller's speed)"


def true_median_s(dist: Dist, speed: float, rng: np.random.Generator) -> float:
    """The median duration, in seconds, of `dist` worked at `speed` (sampled: works for every kind)."""
    return float(np.median(dist.sample(rng, 400_000))) * 60.0 / speed


def bound(lines, scn) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """MAE in seconds of the oracle, the estimator and the two baselines on the transactions evaluate scores."""
    # the durations' estimates do not depend on the waits' replications: few keep the replay quick
    replay = replay_lines(lines, Estimator(rng=np.random.default_rng(1), replications=8, joins=False))
    rng = np.random.default_rng(1)
    medians: dict[tuple[str, str], float] = {}
    for service, counter, *_ in replay.services:
        if (service, counter) not in medians:
            speed = scn.counters[counter].speed if counter in scn.counters else 1.0
            medians[(service, counter)] = true_median_s(scn.classes[service].time, speed, rng)
    d = np.array([s[2] for s in replay.services])
    mae = {"n": float(len(d)),
           ORACLE: float(np.mean(np.abs(np.array([medians[(s[0], s[1])] for s in replay.services]) - d)))}
    for name in (OURS, "class_mean", "last_completed"):
        mae[name] = float(np.mean(np.abs(np.array([s[3][name][1] for s in replay.services]) - d)))
    return mae


def main(log: str, scenario: str) -> None:
    with open(log, "rb") as fh:
        mae = bound(fh, load_scenario(scenario))
    best = min(mae["class_mean"], mae["last_completed"])
    print(f"{int(mae.pop('n'))} transactions")
    for name, err in mae.items():
        print(f"  {name:45s} MAE {err:7.1f} s   ratio to the best baseline {err / best:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
