"""Benchmark: branchq's simulator against plain SimPy and Ciw on the same M/M/8 (ρ = 0.85),
and 100 replications of a busy branch day (≈600 customers, 8 counters). One run, figures printed.

    .venv/bin/python bench/sim.py [--customers 100000]

Targets (issue 2): ≥ 0.5× plain SimPy's customers/s, faster than Ciw, 100 busy days < 10 s on 2 cores.
Each simulator's mean wait is printed next to Erlang C's as a check that all three model the same queue.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.model import simulate_day  # noqa: E402
from sim.runner import default_jobs, run_days  # noqa: E402
from sim.scenario import scenario_from_mapping  # noqa: E402
from sim.theory import mmc_mean_wait  # noqa: E402

C, MEAN = 8, 5.0
LAM = 0.85 * C / MEAN  # per minute


def branchq(n: int) -> tuple[float, int, float]:
    hours = int(np.ceil(n / LAM / 60))
    scn = scenario_from_mapping({
        "branch": "bench", "day": {"doors_open": "00:00", "doors_close": f"{hours}:00"},
        "arrivals": {"interval_minutes": 60, "A": [LAM * 60] * hours}, "customers": {"walk_seconds": 0},
        "services": [{"id": "A", "prefix": "A", "service": {"dist": "exponential", "mean_minutes": MEAN}}],
        "counters": [{"id": str(k), "services": ["A"]} for k in range(C)],
    })
    t0 = time.perf_counter()
    res = simulate_day(scn, np.random.SeedSequence(1), log=False)
    dt = time.perf_counter() - t0
    return dt, len(res.cust.t), float(np.mean(res.call - res.cust.t))


def plain_simpy(n: int) -> tuple[float, int, float]:
    """The textbook model: one process per customer requesting a Resource."""
    import simpy

    rng = np.random.default_rng(1)
    gaps = rng.exponential(1 / LAM, n).tolist()
    work = rng.exponential(MEAN, n).tolist()
    waits = []

    def customer(env, counters, i):  # type: ignore[no-untyped-def]
        t = env.now
        with counters.request() as req:
            yield req
            waits.append(env.now - t)
            yield env.timeout(work[i])

    def source(env, counters):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield env.timeout(gaps[i])
            env.process(customer(env, counters, i))

    t0 = time.perf_counter()
    env = simpy.Environment()
    counters = simpy.Resource(env, capacity=C)
    env.process(source(env, counters))
    env.run()
    return time.perf_counter() - t0, n, float(np.mean(waits))


def ciw_sim(n: int) -> tuple[float, int, float]:
    import ciw

    ciw.seed(1)
    net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(rate=LAM)],
                             service_distributions=[ciw.dists.Exponential(rate=1 / MEAN)],
                             number_of_servers=[C])
    t0 = time.perf_counter()
    q = ciw.Simulation(net)
    q.simulate_until_max_customers(n, method="Finish")
    dt = time.perf_counter() - t0
    recs = q.get_all_records()
    return dt, len(recs), float(np.mean([r.waiting_time for r in recs]))


def busy_day_scenario():  # type: ignore[no-untyped-def]
    data = tomllib.loads((ROOT / "sim" / "scenarios" / "busy.toml").read_text(encoding="utf-8"))
    scale = 600 / 517  # busy.toml averages about 517 customers a day
    for k, v in data["arrivals"].items():
        if isinstance(v, list):
            data["arrivals"][k] = [x * scale for x in v]
    return scenario_from_mapping(data, name="busy600")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args()
    n = args.customers
    print(f"M/M/{C}, ρ = 0.85, mean service {MEAN:g} min, {n:,} customers; Erlang C mean wait "
          f"{mmc_mean_wait(C, LAM, 1 / MEAN):.3f} min")
    rows = {}
    for name, fn in (("branchq sim", branchq), ("plain SimPy", plain_simpy), ("Ciw", ciw_sim)):
        dt, m, w = fn(n)
        rows[name] = m / dt
        print(f"  {name:12} {m / dt:10,.0f} customers/s   ({m:,} in {dt:.2f} s, mean wait {w:.3f} min)")
    print(f"  ratio branchq / plain SimPy = {rows['branchq sim'] / rows['plain SimPy']:.2f} (target ≥ 0.5)")
    print(f"  ratio branchq / Ciw         = {rows['branchq sim'] / rows['Ciw']:.2f} (target > 1)")
    scn = busy_day_scenario()
    jobs = default_jobs()
    t0 = time.perf_counter()
    outs = run_days(scn, args.reps, seed=1, jobs=jobs)
    dt = time.perf_counter() - t0
    cust = np.mean([o.kpis.scalars["customers"] for o in outs])
    print(f"{args.reps} replications of a busy day ({cust:.0f} customers, {len(scn.counters)} counters, KPIs included)"
          f" on {jobs} process(es): {dt:.2f} s (target < 10 s on 2 cores)")


if __name__ == "__main__":
    main()
