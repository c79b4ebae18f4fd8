"""The REST API on a fresh SQLite per test, with a manual clock."""

from __future__ import annotations

import json

import pytest

from tests.serverkit import API, auth, client, database_url, stored_events, without_times

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock) as c:
        yield c


def test_issue_ticket_answers_number_people_ahead_and_time(c, clock):
    """A kiosk gets 201 with the ticket number, the people ahead and the issue time."""
    first = c.post(f"{API}/tickets", json={"service": "A"})
    clock.advance(30)
    second = c.post(f"{API}/tickets", json={"service": "A", "channel": "mobile"})
    assert first.status_code == second.status_code == 201
    assert (first.json()["ticket"], first.json()["people_ahead"]) == ("A001", 0)
    body = second.json()
    assert (body["ticket"], body["people_ahead"], body["channel"]) == ("A002", 1, "mobile")
    assert body["issued_at"] == "2026-12-01T09:00:30.000+08:00"


def test_services_count_people_waiting(c):
    """GET services lists every service with the number of people waiting now."""
    for service in ("A", "A", "V"):
        c.post(f"{API}/tickets", json={"service": service})
    waiting = {s["id"]: s["waiting"] for s in c.get(f"{API}/services").json()}
    assert waiting == {"A": 2, "B": 0, "C": 0, "V": 1}


def test_counter_lifecycle_returns_counter_state_and_ticket(c, clock):
    """open, call-next, recall, start, finish with wrap-up and wrapup-done each answer the counter's new state."""
    c.post(f"{API}/tickets", json={"service": "B"})
    steps = [("open", None, "free", None), ("call-next", None, "calling", "B001"),
             ("recall", None, "calling", "B001"), ("start", None, "serving", "B001"),
             ("finish", {"wrapup": True}, "wrapup", "B001"), ("wrapup-done", None, "free", None)]
    for action, body, status, ticket in steps:
        clock.advance(60)
        r = c.post(f"{API}/counters/2/{action}", json=body)
        assert r.status_code == 200, r.json()
        assert (r.json()["counter"]["status"], r.json()["ticket"]) == (status, ticket)
    assert [json.loads(line)["type"] for line in stored_events(c)] == [
        "branch_config", "ticket_issued", "counter_opened", "called", "recalled", "service_started",
        "service_finished", "wrapup_finished"]
    assert c.get(f"{API}/tickets/B001").json()["status"] == "done"


def test_pause_shows_reason_and_return_until_resumed(c):
    """A paused counter shows its reason and expected return; resume clears them."""
    c.post(f"{API}/counters/3/open")
    r = c.post(f"{API}/counters/3/pause", json={"reason": "午餐", "expected_return": "2026-12-01T10:30:00+08:00"})
    counter = r.json()["counter"]
    assert (counter["status"], counter["pause_reason"], counter["expected_return"]) == (
        "paused", "午餐", "2026-12-01T10:30:00.000+08:00")
    counter = c.post(f"{API}/counters/3/resume").json()["counter"]
    assert (counter["status"], counter["pause_reason"], counter["expected_return"]) == ("free", None, None)


def test_call_next_follows_priority_then_preference(c, clock):
    """Counter 4 (V, B, A) calls the VIP first even though a B ticket came earlier."""
    c.post(f"{API}/tickets", json={"service": "B"})
    clock.advance(5)
    c.post(f"{API}/tickets", json={"service": "V"})
    c.post(f"{API}/counters/4/open")
    assert c.post(f"{API}/counters/4/call-next").json()["ticket"] == "V001"


def test_transfer_keeps_the_number_and_requeues(c):
    """A transferred customer keeps their number and waits in the new service's line."""
    c.post(f"{API}/tickets", json={"service": "A"})
    c.post(f"{API}/counters/1/open")
    c.post(f"{API}/counters/1/call-next")
    c.post(f"{API}/counters/1/start")
    r = c.post(f"{API}/counters/1/transfer", json={"service": "C"})
    assert (r.json()["counter"]["status"], r.json()["ticket"]) == ("free", "A001")
    ticket = c.get(f"{API}/tickets/A001").json()
    assert (ticket["service"], ticket["status"], ticket["transfers"], ticket["people_ahead"]) == ("C", "waiting", 1, 0)


def test_state_lists_counters_queues_and_recent_calls(c, clock):
    """GET state is the whole view: counters, waiting tickets per service in calling order, recent calls."""
    for service in ("A", "A", "B"):
        c.post(f"{API}/tickets", json={"service": service})
        clock.advance(10)
    c.post(f"{API}/counters/2/open")
    c.post(f"{API}/counters/2/call-next")
    view = c.get(f"{API}/state").json()
    assert view["seq"] == 6
    assert [t["ticket"] for t in view["services"][0]["tickets"]] == ["A002"]
    assert view["counters"][1]["ticket"] == "A001"
    assert view["recent_calls"][0] == {"ts": "2026-12-01T09:00:30.000+08:00", "ticket": "A001",
                                       "counter": "2", "recall": False}


def test_events_export_filters_by_time(c, clock):
    """GET events gives JSONL per the spec, and from/to select a time window."""
    c.post(f"{API}/tickets", json={"service": "A"})
    clock.advance(600)
    c.post(f"{API}/tickets", json={"service": "A"})
    r = c.get(f"{API}/events", params={"from": "2026-12-01T09:05:00+08:00"})
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["ticket"] for line in r.text.splitlines()] == ["A002"]
    r = c.get(f"{API}/events", params={"to": "2026-12-01T01:05:00Z"})
    assert [json.loads(line)["type"] for line in r.text.splitlines()] == ["branch_config", "ticket_issued"]


def test_state_survives_a_restart(tmp_path, clock):
    """A new app on the same database folds the stored log back into the same state."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        c.post(f"{API}/counters/1/open")
        c.post(f"{API}/counters/1/call-next")
        before = without_times(c.get(f"{API}/state").json())
    with client(tmp_path, clock) as c:
        assert without_times(c.get(f"{API}/state").json()) == before
        assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A002"


def test_numbers_restart_on_the_next_business_day(c, clock):
    """The first ticket of a new business day is 001 again; yesterday's queue is closed out."""
    c.post(f"{API}/tickets", json={"service": "A"})
    clock.advance(hours=24)
    assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A001"
    types = [json.loads(line)["type"] for line in stored_events(c)]
    assert types == ["branch_config", "ticket_issued", "abandoned", "branch_config", "ticket_issued"]


def test_branch_list_and_health(c):
    """GET /api/v1/branches lists the demo branch with its screen URLs; health says ok, with no lost races."""
    assert c.get("/api/v1/health").json() == {"status": "ok", "branches": ["demo"], "lost_races": {"demo": 0},
                                              "estimator_restarts": None}  # (this test's branch runs without one)
    (branch,) = c.get("/api/v1/branches").json()
    assert (branch["id"], branch["lobby"]) == ("demo", "/display/demo")


def test_pages_of_unknown_branch_are_404(c):
    """A screen URL naming a branch this server does not run is a clear 404."""
    r = c.get("/display/nowhere")
    assert r.status_code == 404
    assert r.json()["message"] == "Unknown branch 'nowhere'."


def test_a_failure_after_deciding_leaves_state_and_store_as_they_were(tmp_path, clock, monkeypatch):
    """If building the answer fails after the events were applied, the state is rebuilt: nothing unstored shows."""
    import server.service
    from server.settings import Settings
    from tests.serverkit import TestClient, create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=database_url(tmp_path)), clock=clock,
                     estimator_factory=lambda config: None)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers.update(auth(c, "admin"))
        c.post(f"{API}/tickets", json={"service": "A"})
        before = without_times(c.get(f"{API}/state").json())
        real = server.service.ticket_view
        monkeypatch.setattr(server.service, "ticket_view", lambda *a, **k: 1 / 0)
        assert c.post(f"{API}/tickets", json={"service": "A"}).status_code == 500
        monkeypatch.setattr(server.service, "ticket_view", real)
        assert without_times(c.get(f"{API}/state").json()) == before
        assert len(stored_events(c)) == 2
        assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A002"


def test_the_day_is_closed_out_when_it_turns_not_at_the_next_action(tmp_path, clock):
    """Soon after the business day turns, yesterday's open tickets and counters are closed and screens are told."""
    import time

    with client(tmp_path, clock, day_check_seconds=0.02) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        c.post(f"{API}/counters/2/open")
        with c.websocket_connect("/ws/v1/branches/demo") as ws:
            assert json.loads(ws.receive_text())["seq"] == 3
            clock.advance(hours=20)  # 05:00 the next day
            messages = [json.loads(ws.receive_text()) for _ in range(3)]
        assert [m["event"]["type"] for m in messages] == ["abandoned", "counter_closed", "branch_config"]
        view = messages[-1]["view"]
        assert (view["day"], view["services"][0]["waiting"], view["counters"][1]["status"]) == (
            "2026-12-02", 0, "closed")
        time.sleep(0.1)  # the watcher keeps running: a closed day is not closed twice
        assert len(stored_events(c)) == 6
