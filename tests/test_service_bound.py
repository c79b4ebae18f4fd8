"""scripts/service_bound.py: the best any estimator could do on service durations, on the same transactions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from server.cli import main
from server.core.estimator import Estimator
from server.core.estimator.evaluate import OURS, replay_lines, report
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("service_bound", ROOT / "scripts" / "service_bound.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_oracle_scores_what_evaluate_scores_and_bounds_the_estimator(tmp_path: Path) -> None:
    """Same transactions and baseline errors as `evaluate`; the true median beats the class mean, and no
    estimator learning from the log beats the true median by more than luck."""
    log = tmp_path / "busy.jsonl"
    assert main(["sim", "run", str(ROOT / "sim" / "scenarios" / "busy.toml"), "--days", "2", "--seed", "3",
                 "--jobs", "1", "--out", str(log)]) == 0
    sb = _script()
    with open(log, encoding="utf-8") as fh:
        mae = sb.bound(fh, load_scenario(ROOT / "sim" / "scenarios" / "busy.toml"))
    with open(log, "rb") as fh:
        rep = report(replay_lines(fh, Estimator(rng=np.random.default_rng(1), replications=16, joins=False)))
    svc = rep["service"]
    assert mae["n"] == svc[OURS]["n"] > 500
    assert abs(mae["class_mean"] - svc["class_mean"]["MAE"]) < 0.02 * svc["class_mean"]["MAE"]
    assert abs(mae["last_completed"] - svc["last_completed"]["MAE"]) < 0.02 * svc["last_completed"]["MAE"]
    assert mae[sb.ORACLE] < 0.97 * mae["class_mean"]
    assert svc[OURS]["MAE"] > 0.97 * mae[sb.ORACLE]
