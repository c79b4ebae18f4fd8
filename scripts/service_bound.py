"""How well can anyone predict a transaction's duration at its start, on a simulator log?

    python scripts/service_bound.py LOG.jsonl SCENARIO.toml

The simulator draws each duration as (work of the class) / (teller's speed), with nothing
else behind it. So the best possible point for the MAE is the *true* median of that
distribution, which only the scenario file knows. This prints that oracle's MAE next to the
evaluation's two service baselines (the class mean so far, the last completed of the class),
computed on the same transactions the way `branchq evaluate` computes them: the ratio the
oracle reaches is the floor for any estimator that learns from the log (issue 6's target for
service durations is 0.85).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import datetime

import numpy as np

from sim.scenario import Dist, load_scenario

ORACLE = "oracle (true median at the teller's speed)"
DEFAULT_SERVICE_S = 300.0  # the baselines' guess before a class has a finished transaction


def true_median_s(dist: Dist, speed: float, rng: np.random.Generator) -> float:
    """The median duration, in seconds, of `dist` worked at `speed` (sampled: works for every kind)."""
    return float(np.median(dist.sample(rng, 400_000))) * 60.0 / speed


def transactions(lines) -> list[tuple[str, str, float, float, float]]:  # type: ignore[no-untyped-def]
    """(class, counter, duration, class mean so far, last of the class) per finished transaction."""
    service: dict[str, str] = {}
    started: dict[str, tuple[datetime, str, float, float]] = {}
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    last: dict[str, float] = {}
    out = []
    for line in lines:
        ev = json.loads(line)
        kind, ticket = ev["type"], ev.get("ticket")
        if kind in ("ticket_issued", "transferred"):
            service[ticket] = ev["service"]
        elif kind == "service_started" and ticket in service:
            s = service[ticket]
            mean = sums[s][0] / sums[s][1] if sums[s][1] else DEFAULT_SERVICE_S
            started[ticket] = (datetime.fromisoformat(ev["ts"]), ev["counter"], mean, last.get(s, mean))
        elif kind == "service_finished" and ticket in started:
            at, counter, mean, prev = started.pop(ticket)
            if ev.get("reason") == "end_of_day":
                continue
            s = service[ticket]
            d = (datetime.fromisoformat(ev["ts"]) - at).total_seconds()
            out.append((s, counter, d, mean, prev))
            sums[s][0] += d
            sums[s][1] += 1
            last[s] = d
    return out


def bound(lines, scn) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """MAE in seconds of the oracle and of the two baselines on the log's finished transactions."""
    rng = np.random.default_rng(1)
    rows = transactions(lines)
    medians: dict[tuple[str, str], float] = {}
    for s, c, *_ in rows:
        if (s, c) not in medians:
            speed = scn.counters[c].speed if c in scn.counters else 1.0
            medians[(s, c)] = true_median_s(scn.classes[s].time, speed, rng)
    d = np.array([r[2] for r in rows])
    return {
        "n": float(len(rows)),
        ORACLE: float(np.mean(np.abs(np.array([medians[(r[0], r[1])] for r in rows]) - d))),
        "class_mean": float(np.mean(np.abs(np.array([r[3] for r in rows]) - d))),
        "last_completed": float(np.mean(np.abs(np.array([r[4] for r in rows]) - d))),
    }


def main(log: str, scenario: str) -> None:
    with open(log, encoding="utf-8") as fh:
        mae = bound(fh, load_scenario(scenario))
    best = min(mae["class_mean"], mae["last_completed"])
    print(f"{int(mae.pop('n'))} transactions")
    for name, err in mae.items():
        print(f"  {name:45s} MAE {err:7.1f} s   ratio to the best baseline {err / best:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
