"""`branchq sim ...` end to end: run writes a log replay accepts and a report; fit, compare, optimize print."""

from __future__ import annotations

from pathlib import Path

from server.cli import main

SCENARIOS = Path(__file__).resolve().parent.parent / "sim" / "scenarios"


def test_run_writes_a_log_that_replay_accepts_and_a_report(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """sim run → JSONL that `branchq replay` folds, and an HTML report with four embedded plots."""
    log, rep = tmp_path / "day.jsonl", tmp_path / "report"
    assert main(["sim", "run", str(SCENARIOS / "surge.toml"), "--days", "3", "--seed", "2", "--jobs", "1",
                 "--out", str(log), "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "mean wait" in out and "within 10 min" in out
    assert main(["replay", str(log)]) == 0
    assert "every ticket is in a final state" in capsys.readouterr().out
    page = (rep / "index.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4


def test_fit_then_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A log fitted to a scenario file runs again."""
    log, fitted = tmp_path / "d.jsonl", tmp_path / "fitted.toml"
    assert main(["sim", "run", str(SCENARIOS / "quiet.toml"), "--days", "2", "--jobs", "1", "--out", str(log)]) == 0
    assert main(["sim", "fit", str(log), "--out", str(fitted)]) == 0
    assert main(["sim", "run", str(fitted), "--days", "2", "--jobs", "1"]) == 0
    assert "fitted" in capsys.readouterr().out


def test_bad_scenario_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A broken scenario file exits 2 with a sentence, not a traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text('branch = "x"\n[[services]]\nid = "A"\nprefix = "A"\n', encoding="utf-8")
    assert main(["sim", "run", str(bad), "--days", "1"]) == 2
    assert "arrivals" in capsys.readouterr().err


def test_outputs_go_into_new_folders_and_an_unwritable_one_fails_before_simulating(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """--out and --report create their folders; an --out that is a folder exits 2 at once, naming it."""
    log, rep = tmp_path / "new" / "logs" / "day.jsonl", tmp_path / "new" / "report"
    assert main(["sim", "run", str(SCENARIOS / "quiet.toml"), "--days", "1", "--jobs", "1",
                 "--out", str(log), "--report", str(rep)]) == 0
    assert log.read_text(encoding="utf-8").startswith('{"ts"') and (rep / "index.html").is_file()
    capsys.readouterr()
    assert main(["sim", "run", str(SCENARIOS / "quiet.toml"), "--days", "1", "--jobs", "1", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "is a folder" in captured.err and str(tmp_path) in captured.err
    assert "mean wait" not in captured.out  # nothing was simulated for nothing


def test_run_with_the_estimator_reports_waits_beyond_the_range_shown(capsys) -> None:  # type: ignore[no-untyped-def]
    """--estimator replays the simulated days through the estimator and prints the late share with a CI."""
    assert main(["sim", "run", str(SCENARIOS / "quiet.toml"), "--days", "2", "--jobs", "1", "--estimator"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "waits beyond the range shown" in line and "%" in line
