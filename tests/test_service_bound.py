"""scripts/service_bound.py: the best any estimator could do on service durations, on the transactions evaluate scores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from server.cli import main
from server.core.estimator.evaluate import OURS
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("service_bound", ROOT / "scripts" / "service_bound.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_true_median_beats_the_class_mean_and_no_estimator_beats_it(tmp_path: Path) -> None:
    """The oracle gains on the class mean only what the median and the teller's speed allow, and the
    estimator, learning both from the log, comes close to it without passing it by more than luck."""
    log = tmp_path / "busy.jsonl"
    scenario = ROOT / "sim" / "scenarios" / "busy.toml"
    assert main(["sim", "run", str(scenario), "--days", "2", "--seed", "3", "--jobs", "1", "--out", str(log)]) == 0
    sb = _script()
    with open(log, "rb") as fh:
        mae = sb.bound(fh, load_scenario(scenario))
    assert mae["n"] > 500
    assert 0.80 * mae["class_mean"] < mae[sb.ORACLE] < 0.97 * mae["class_mean"]
    assert mae[sb.ORACLE] * 0.97 < mae[OURS] < mae["class_mean"]
