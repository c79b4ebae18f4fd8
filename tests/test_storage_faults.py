"""The database goes away under the server: 503 with a clear sentence, nothing half-applied, recovery without a restart."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.serverkit import API, client, stored_events, without_times

WS = "/ws/v1/branches/demo"


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        c.post(f"{API}/counters/1/open")
        yield c


def _hold_write_lock(data_dir):
    """Another connection takes SQLite's write lock and keeps it (as a stuck backup or import would)."""
    holder = sqlite3.connect(data_dir / "branchq.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_locked_sqlite_is_503_then_recovers_without_a_restart(c, tmp_path, clock):
    """While another connection holds the write lock: 503 "storage unavailable, retrying", nothing stored,
    the number not consumed, reads answered; once it lets go the same request succeeds."""
    before_log, before_view = stored_events(c), without_times(c.get(f"{API}/state").json())
    with c.websocket_connect(WS) as ws:
        snapshot = json.loads(ws.receive_text())
        holder = _hold_write_lock(tmp_path)
        try:
            clock.advance(30)
            r = c.post(f"{API}/tickets", json={"service": "A"}, headers={"Idempotency-Key": "kiosk-1"})
            assert r.status_code == 503 and r.headers["Retry-After"] == "1"
            assert r.json()["error"] == "storage_unavailable"
            assert r.json()["message"].startswith("Storage unavailable, retrying: nothing was changed")
            # Reads still work: from memory (state) and from the database (WAL readers are not blocked).
            assert without_times(c.get(f"{API}/state").json()) == before_view
            assert stored_events(c) == before_log
            assert c.get(f"{API}/tickets/A002").status_code == 404
        finally:
            holder.rollback()
            holder.close()
        again = c.post(f"{API}/tickets", json={"service": "A"}, headers={"Idempotency-Key": "kiosk-1"})
        assert (again.status_code, again.json()["ticket"]) == (201, "A002")  # the refused one did not use A002
        assert "Idempotent-Replayed" not in again.headers  # the 503 was not remembered as the key's answer
        pushed = json.loads(ws.receive_text())  # the screen saw nothing of the refused action
        assert (pushed["seq"], pushed["event"]["ticket"]) == (snapshot["seq"] + 1, "A002")
    assert stored_events(c)[:-1] == before_log and json.loads(stored_events(c)[-1])["ticket"] == "A002"


def test_counter_action_refused_by_storage_leaves_the_counter_as_it_was(c, tmp_path):
    """A call-next the database refuses leaves the counter free and the ticket waiting; the retry calls it."""
    holder = _hold_write_lock(tmp_path)
    try:
        r = c.post(f"{API}/counters/1/call-next")
        assert r.status_code == 503
        view = c.get(f"{API}/state").json()
        assert view["counters"][0]["status"] == "free"
        assert [t["ticket"] for t in view["services"][0]["tickets"]] == ["A001"]
    finally:
        holder.rollback()
        holder.close()
    r = c.post(f"{API}/counters/1/call-next")
    assert (r.status_code, r.json()["ticket"]) == (200, "A001")


def test_import_refused_by_storage_is_503_and_imports_nothing(c, tmp_path, clock):
    """An import that meets a locked database stores nothing and says the storage is unavailable."""
    clock.advance(60)
    before = stored_events(c)
    log = b'{"ts": "2026-12-01T09:00:30+08:00", "type": "ticket_issued", "ticket": "B001", "service": "B"}\n'
    holder = _hold_write_lock(tmp_path)
    try:
        r = c.post(f"{API}/events", content=log)
        assert (r.status_code, r.json()["error"]) == (503, "storage_unavailable")
    finally:
        holder.rollback()
        holder.close()
    assert stored_events(c) == before
    assert c.post(f"{API}/events", content=log).status_code == 200


def test_database_gone_for_reads_too_answers_from_memory(c, monkeypatch):
    """With every database call failing (as with a dead database server), a refused action is undone in
    memory: the state read stays exact, the log read is a 503, and the next number is not consumed."""
    store = c.app.state.store
    before_view = without_times(c.get(f"{API}/state").json())

    def down(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    for name in [n for n in dir(store) if not n.startswith("_") and callable(getattr(store, n))]:
        if name not in ("create_all", "close"):
            monkeypatch.setattr(store, name, down)
    r = c.post(f"{API}/tickets", json={"service": "A"})
    assert (r.status_code, r.json()["error"]) == (503, "storage_unavailable")
    assert c.post(f"{API}/counters/1/call-next").status_code == 503
    assert without_times(c.get(f"{API}/state").json()) == before_view
    r = c.get(f"{API}/events")
    assert (r.status_code, r.json()["error"]) == (503, "storage_unavailable")
    monkeypatch.undo()  # the database is back
    assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A002"
    assert c.post(f"{API}/counters/1/call-next").json()["ticket"] == "A001"
    assert [json.loads(line)["type"] for line in stored_events(c)][-2:] == ["ticket_issued", "called"]


@contextlib.contextmanager
def _postgres_database(admin_url: str) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A throw-away database (random name, dropped after) and a switch that refuses or allows connections to it."""
    import psycopg

    name = f"branchq_faults_{secrets.token_hex(6)}"
    admin = admin_url.replace("+psycopg", "")

    def reachable(allowed: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'true' if allowed else 'false'}")
            if not allowed:  # and cut the server's open connections, as a database restart would
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")), reachable
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_postgres_going_away_is_503_and_comes_back_without_a_restart(tmp_path, clock, pg_admin_url):
    """PostgreSQL refusing connections: actions 503 and are not half-applied, the state is still read;
    when it accepts connections again the next action succeeds with the number that was not consumed."""
    with _postgres_database(pg_admin_url) as (url, reachable), client(tmp_path, clock, database_url=url) as c:
        assert _ticket(c) == "A001"
        assert c.post(f"{API}/counters/1/open").status_code == 200
        before_log, before_view = stored_events(c), without_times(c.get(f"{API}/state").json())
        reachable(False)
        try:
            r = c.post(f"{API}/tickets", json={"service": "A"})
            assert (r.status_code, r.json()["error"]) == (503, "storage_unavailable")
            assert r.json()["message"].startswith("Storage unavailable, retrying")
            assert c.post(f"{API}/counters/1/call-next").status_code == 503
            assert without_times(c.get(f"{API}/state").json()) == before_view
            assert c.get(f"{API}/events").status_code == 503  # the log itself is in the database
        finally:
            reachable(True)
        assert _ticket(c) == "A002"
        assert c.post(f"{API}/counters/1/call-next").json()["ticket"] == "A001"
        after = stored_events(c)
        assert after[:len(before_log)] == before_log
        assert [json.loads(line)["type"] for line in after[len(before_log):]] == ["ticket_issued", "called"]


def _ticket(c) -> str:
    r = c.post(f"{API}/tickets", json={"service": "A"})
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


def test_rollback_after_many_events_restores_the_stored_state_and_copies_less_often(tmp_path, clock, monkeypatch):
    """With the state copied once per as many events as it holds tickets, a refused action still rolls back to
    exactly what is stored, and a long line is copied fewer times than once per CHECKPOINT_EVERY events."""
    import server.service as service

    monkeypatch.setattr(service, "CHECKPOINT_EVERY", 5)
    copies = []
    real = service.BranchService._checkpoint
    monkeypatch.setattr(service.BranchService, "_checkpoint",
                        lambda self, state: (copies.append(len(state.tickets)), real(self, state))[1])
    with client(tmp_path, clock) as c:
        c.post(f"{API}/counters/1/open")
        for _ in range(60):
            assert c.post(f"{API}/tickets", json={"service": "A"}).status_code == 201
        copies_in_line = [n for n in copies if n > 0]
        assert 0 < len(copies_in_line) < 60 // 5  # the interval grew with the line
        before_log, before_view = stored_events(c), without_times(c.get(f"{API}/state").json())
        holder = _hold_write_lock(tmp_path)
        try:
            assert c.post(f"{API}/counters/1/call-next").status_code == 503
        finally:
            holder.rollback()
            holder.close()
        assert without_times(c.get(f"{API}/state").json()) == before_view
        assert stored_events(c) == before_log
        r = c.post(f"{API}/counters/1/call-next")
        assert (r.status_code, r.json()["ticket"]) == (200, "A001")
