"""Replications on a Dask cluster give exactly the process pool's results for the same seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import run_days
from sim.scenario import load_scenario

distributed = pytest.importorskip("distributed")

SCENARIOS = Path(__file__).resolve().parent.parent / "sim" / "scenarios"


def test_local_cluster_matches_process_pool() -> None:
    """Same seed, same days: KPIs and event logs from Dask equal those from the pool."""
    scn = load_scenario(SCENARIOS / "express.toml")
    pool = run_days(scn, 4, seed=9, jobs=2, log=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = run_days(scn, 4, seed=9, dask=client, log=True)
    assert [o.kpis.scalars for o in remote] == [o.kpis.scalars for o in pool]
    assert [o.jsonl for o in remote] == [o.jsonl for o in pool]
