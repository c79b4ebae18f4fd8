"""Export and import of the event log: same state after a round trip; a bad file stores nothing."""

from __future__ import annotations

import json

import pytest

from server.cli import main
from tests.serverkit import API, client, stored_events, use_data_dir, without_times

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


def _a_morning(c, clock):
    """A few minutes of a branch: tickets, calls, a service, a pause and a transfer."""
    for service in ("A", "B", "A", "V", "C"):
        c.post(f"{API}/tickets", json={"service": service})
        clock.advance(20)
    for counter in ("1", "3", "5"):
        c.post(f"{API}/counters/{counter}/open")
    c.post(f"{API}/counters/1/call-next")
    c.post(f"{API}/counters/1/start")
    clock.advance(90)
    c.post(f"{API}/counters/1/finish")
    c.post(f"{API}/counters/3/call-next")
    c.post(f"{API}/counters/3/start")
    c.post(f"{API}/counters/3/transfer", json={"service": "B"})
    c.post(f"{API}/counters/5/pause", json={"reason": "meeting"})


def without_actor(line: str) -> dict:
    return {k: v for k, v in json.loads(line).items() if k != "actor"}


def test_api_round_trip_gives_the_same_state(tmp_path, clock):
    """Exporting a branch and importing the file into an empty one rebuilds the same view and log;
    the imported events name the importer as their actor."""
    with client(tmp_path / "a", clock) as c:
        _a_morning(c, clock)
        log = c.get(f"{API}/events").content
        view = without_times(c.get(f"{API}/state").json())
    with client(tmp_path / "b", clock) as c:
        r = c.post(f"{API}/events", content=log, headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200 and r.json()["imported"] == len(log.splitlines())
        assert without_times(c.get(f"{API}/state").json()) == view
        again = c.get(f"{API}/events").text.splitlines()
        assert [without_actor(line) for line in again] == [without_actor(line) for line in log.decode().splitlines()]
        assert {json.loads(line)["actor"] for line in again} == {"user:" + c.app.state.accounts.users()[0]["name"]}
        clock.advance(5)
        assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A003"


def test_cli_round_trip_gives_the_same_state(tmp_path, clock, monkeypatch, capsys):
    """branchq export writes the log; branchq import into a fresh data dir folds to the same state."""
    with client(tmp_path / "a", clock) as c:
        _a_morning(c, clock)
        view = without_times(c.get(f"{API}/state").json())
    out = tmp_path / "demo.jsonl"
    use_data_dir(monkeypatch, tmp_path / "a")
    assert main(["export", "--out", str(out)]) == 0
    use_data_dir(monkeypatch, tmp_path / "b")
    monkeypatch.setattr("server.commands.transfer.SystemClock", lambda tz: clock)  # the log is from the test's day
    assert main(["import", str(out)]) == 0
    assert f"imported {len(out.read_text().splitlines())} events" in capsys.readouterr().out
    with client(tmp_path / "b", clock) as c:
        assert without_times(c.get(f"{API}/state").json()) == view


def test_cli_import_of_a_broken_file_stores_nothing(tmp_path, clock, monkeypatch, capsys):
    """A file with one malformed line fails with that line's number and leaves the store empty."""
    with client(tmp_path / "a", clock) as c:
        _a_morning(c, clock)
        lines = c.get(f"{API}/events").text.splitlines()
    lines[5] = lines[5][:-1]  # cut the closing brace
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    use_data_dir(monkeypatch, tmp_path / "b")
    assert main(["import", str(bad)]) == 1
    assert "line 6: not valid JSON" in capsys.readouterr().err
    with client(tmp_path / "b", clock) as c:
        assert stored_events(c) == []


def test_importing_another_setup_then_acting_records_ours_first(tmp_path, clock, demo_day_log):
    """After importing the shared demo day (another set-up), the next action re-records this branch's config."""
    clock.set(clock.now().replace(hour=18))  # after the imported day's last event
    with client(tmp_path, clock) as c:
        r = c.post(f"{API}/events", content=demo_day_log.read_bytes())
        assert r.status_code == 200 and r.json()["imported"] == 1053
        assert c.post(f"{API}/tickets", json={"service": "A"}).status_code == 201
        tail = [json.loads(line)["type"] for line in stored_events(c)[-2:]]
        assert tail == ["branch_config", "ticket_issued"]


def test_a_write_by_another_process_is_caught_up_not_overwritten(tmp_path, clock, monkeypatch, capsys):
    """When `branchq import` appends while the server runs, the server's next action sees the new seqs and builds on them."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "B"})  # seq 1, 2
        log = '{"ts": "2026-12-01T09:00:00.000+08:00", "type": "ticket_issued", "ticket": "B002", "service": "B"}\n'
        (tmp_path / "more.jsonl").write_text(log, encoding="utf-8")
        use_data_dir(monkeypatch, tmp_path)
        assert main(["import", str(tmp_path / "more.jsonl")]) == 0
        clock.advance(10)
        r = c.post(f"{API}/tickets", json={"service": "B"})
        assert (r.status_code, r.json()["ticket"], r.json()["seq"]) == (201, "B003", 4)
        assert [t["ticket"] for t in c.get(f"{API}/state").json()["services"][1]["tickets"]] == ["B001", "B002", "B003"]
