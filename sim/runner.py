"""Replications: one simulated day per seed, in parallel processes or on Dask.

Day d of a run with seed S always uses the stream SeedSequence(S, spawn_key=(d,)),
whichever worker runs it: results do not depend on --jobs, and two scenarios
run with the same seed meet the same customers (common random numbers).
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.core.events import dump_events

from .eventlog import day_date, day_events
from .kpis import DayKpis, day_kpis
from .model import DayResult, simulate_day
from .scenario import Scenario


@dataclass
class DayOutput:
    kpis: DayKpis
    jsonl: str | None  # the day's event log, when asked for
    result: DayResult | None = None


def day_seed(seed: int, day: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(day,))


def run_day(scn: Scenario, seed: int, day: int, log: bool = False, keep: bool = False) -> DayOutput:
    res = simulate_day(scn, day_seed(seed, day), log=log)
    text = dump_events(day_events(scn, res, day_date(scn, day))) if log else None
    return DayOutput(day_kpis(scn, res), text, res if keep else None)


def _batch(args: tuple[Scenario, int, list[int], bool]) -> list[DayOutput]:
    scn, seed, days, log = args
    return [run_day(scn, seed, d, log) for d in days]


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_days(scn: Scenario, days: int, seed: int, jobs: int | None = None, log: bool = False,
             dask: Any = None, first_day: int = 0, pool: Executor | None = None) -> list[DayOutput]:
    """Simulate days first_day … first_day+days-1; results in day order.

    `pool`: an executor kept by a caller that runs many scenarios (the optimizer),
    so worker processes start once rather than per scenario."""
    indices = list(range(first_day, first_day + days))
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if dask:
        return _run_dask(scn, seed, indices, log, dask)
    if jobs == 1 or days == 1:
        return _batch((scn, seed, indices, log))
    chunks = [indices[i::jobs] for i in range(jobs) if indices[i::jobs]]
    if pool is not None:
        parts = list(pool.map(_batch, [(scn, seed, ch, log) for ch in chunks]))
    else:
        with ProcessPoolExecutor(max_workers=len(chunks)) as own:
            parts = list(own.map(_batch, [(scn, seed, ch, log) for ch in chunks]))
    out: dict[int, DayOutput] = {}
    for ch, part in zip(chunks, parts, strict=True):
        out.update(zip(ch, part, strict=True))
    return [out[d] for d in indices]


def _run_dask(scn: Scenario, seed: int, indices: list[int], log: bool, address: Any) -> list[DayOutput]:
    """The same days on a Dask cluster (`pip install branchq[cluster]`); `address` may be a Client."""
    try:
        from distributed import Client
    except ImportError:
        raise SystemExit("--dask needs the cluster extra: pip install 'branchq[cluster]'") from None
    client = address if not isinstance(address, str) else Client(address)
    try:
        futures = client.map(lambda d: run_day(scn, seed, d, log), indices, pure=False)
        return client.gather(futures)
    finally:
        if isinstance(address, str):
            client.close()
