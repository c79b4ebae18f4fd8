"""`branchq replay`: the demo day replays; a broken line fails with its number."""

from __future__ import annotations

from server.cli import main


def test_replay_demo_day_prints_a_summary(demo_day_log, capsys):
    """Replaying the shared demo day succeeds and ends with every ticket final."""
    assert main(["replay", str(demo_day_log)]) == 0
    out = capsys.readouterr().out
    assert "238 tickets" in out
    assert "every ticket is in a final state" in out
    cash = next(line for line in out.splitlines() if line.startswith("cash"))
    assert cash.split()[1:5] == ["118", "111", "3", "4"]


def test_replay_names_the_broken_line(tmp_path, demo_day_log, capsys):
    """A malformed line makes replay fail and name that line."""
    lines = demo_day_log.read_text(encoding="utf-8").splitlines()[:10]
    lines.insert(7, '{"ts": "2026-12-01T09:05:00+08:00", "type": "called", "ticket": "Z999", "counter": "c1"}')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["replay", str(bad)]) == 1
    assert "line 8: unknown ticket Z999" in capsys.readouterr().err


def test_replay_missing_file_is_a_clear_error(tmp_path, capsys):
    """A file that is not there gives a sentence, not a traceback."""
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
