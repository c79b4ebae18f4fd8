"""Malformed event logs through every door (POST events, `branchq import`, `branchq replay`):
the error names the line, and nothing from the file is stored."""

from __future__ import annotations

import pytest

from server.cli import main
from tests.serverkit import API, client, stored_events

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL

GOOD = '{"ts": "2026-12-01T09:00:10.000+08:00", "type": "ticket_issued", "ticket": "B001", "service": "B"}'
T2 = "2026-12-01T09:00:20+08:00"

# (second line of the file, what the error says about it); the first line is fine,
# so "nothing stored" also means the good line before the bad one is not kept.
BAD_LINES = [
    ('{"ts": "' + T2 + '", "type": "called", "ticket": "B001"', "line 2: not valid JSON"),
    ('{"ts": "' + T2 + '", "type": "counter_opened", "counter": "1", "services": 5}',
     "line 2: 'services' of 'counter_opened' must be a list of service ids"),
    ('{"ts": "' + T2 + '", "type": "ticket_issued", "ticket": "B002", "service": "B", "channel": 7}',
     "line 2: 'channel' must be a string or null"),
    ('{"ts": "' + T2 + '", "type": "counter_paused", "counter": "1", "reason": 5}',
     "line 2: 'reason' must be a string or null"),
    ('{"ts": "' + T2 + '", "type": "service_finished", "ticket": "B001", "counter": "1", "wrapup": "yes"}',
     "line 2: 'wrapup' must be true, false or null"),

    ('{"ts": "' + T2 + '", "type": "ticket_issued", "ticket": 1.5, "service": "B"}',
     "line 2: 'ticket' must be a string (or a whole number)"),
    ('{"ts": "' + T2 + '", "type": "called", "ticket": "B001", "counter": true}',
     "line 2: 'counter' must be a string (or a whole number)"),
    ('{"ts": "yesterday", "type": "abandoned", "ticket": "B001"}', "line 2: 'yesterday' is not an ISO 8601 time"),
    ('{"ts": 1764550820, "type": "abandoned", "ticket": "B001"}', "line 2: 'ts' must be an ISO 8601 time as a string"),
    ('{"ts": "2026-12-01T09:00:20", "type": "abandoned", "ticket": "B001"}',
     "line 2: '2026-12-01T09:00:20' has no UTC offset"),
    ('{"ts": "' + T2 + '", "type": "called", "ticket": "B777", "counter": "1"}',
     "line 2: unknown ticket B777: it was never issued"),
    ('{"ts": "2026-12-01T09:00:05+08:00", "type": "abandoned", "ticket": "B001"}', "line 2: events out of order"),
    ('{"ts": "' + T2 + '", "type": "counter_paused", "counter": "1", "expected_return": 5}',
     "line 2: 'expected_return' must be an ISO 8601 time"),
    ('{"ts": "' + T2 + '", "type": 5, "ticket": "B001"}', "line 2: 'type' must be a string"),
    ('{"ts": "' + T2 + '", "type": "branch_config", "branch": "x", "services": 5, "counters": []}',
     "line 2: 'services' must be a list of tables."),
    ('[1, 2]', "line 2: an event must be a JSON object"),
    ('{"ts": "' + T2 + '", "type": "abandoned", "ticket": "B001", "note": "' + "x" * 70_000 + '"}',
     "line 2: line is longer than 65536 bytes"),
]
FUTURE = ('{"ts": "2026-12-02T09:00:00+08:00", "type": "abandoned", "ticket": "B001"}',
          "line 2: 2026-12-02T09:00:00.000+08:00 is in the future")
IDS = ["broken-json", "services-5", "channel-7", "reason-5", "wrapup-yes", "ticket-1.5", "counter-true", "ts-yesterday", "ts-number", "no-utc-offset", "unknown-ticket",
       "out-of-order", "expected-return-5", "type-5", "config-services-5", "array", "huge-line"]


def _file(second: str) -> bytes:
    return (GOOD + "\n" + second + "\n").encode()


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})  # stored history the import must leave alone
        clock.advance(minutes=5)
        yield c


@pytest.mark.parametrize("line, reason", [*BAD_LINES, FUTURE], ids=[*IDS, "future"])
def test_api_import_names_the_line_and_stores_nothing(c, line, reason):
    """POST events with one bad line answers 422 naming line 2; the branch's log and state are unchanged."""
    before, state = stored_events(c), c.get(f"{API}/state").json()["services"]
    r = c.post(f"{API}/events", content=_file(line), headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 422, r.text
    assert r.json()["line"] == 2 and r.json()["message"].startswith(reason)
    assert stored_events(c) == before
    assert c.get(f"{API}/state").json()["services"] == state
    assert c.post(f"{API}/tickets", json={"service": "B"}).json()["ticket"] == "B001"  # B001 was not imported


def test_api_import_of_a_counter_opened_for_an_unknown_service_names_the_known_ones(c):
    """A counter opened for a service the branch does not have: 422 naming line 2 and the services it has."""
    before = stored_events(c)
    line = '{"ts": "' + T2 + '", "type": "counter_opened", "counter": "1", "services": ["Z"]}'
    r = c.post(f"{API}/events", content=_file(line), headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 422, r.text
    assert r.json()["message"] == "line 2: unknown service 'Z' for a counter; known: A, B, C, V"
    assert stored_events(c) == before


def test_api_import_of_the_good_line_alone_is_accepted(c):
    """The control: the same first line without the bad one imports, so the refusals above are the bad line's."""
    r = c.post(f"{API}/events", content=(GOOD + "\n").encode())
    assert (r.status_code, r.json()["imported"]) == (200, 1)
    assert c.get(f"{API}/tickets/B001").status_code == 200


@pytest.mark.parametrize("line, reason", [*BAD_LINES, FUTURE], ids=[*IDS, "future"])
def test_cli_import_names_the_line_and_stores_nothing(tmp_path, clock, monkeypatch, capsys, line, reason):
    """`branchq import` of a file with one bad line exits 1 naming line 2, and the store stays empty."""
    clock.advance(minutes=5)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_file(line))
    monkeypatch.setenv("BRANCHQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("server.commands.transfer.SystemClock", lambda tz: clock)
    assert main(["import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: {reason}" in err and "nothing was imported" in err and "Traceback" not in err
    with client(tmp_path / "data", clock) as c:
        assert stored_events(c) == []


@pytest.mark.parametrize("line, reason", BAD_LINES, ids=IDS)
def test_replay_names_the_line_without_a_traceback(tmp_path, capsys, line, reason):
    """`branchq replay` of a file with one bad line exits 1 with a sentence naming line 2."""
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(_file(line))
    assert main(["replay", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"branchq replay: {bad}: {reason}")
