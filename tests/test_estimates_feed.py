"""The server shows whatever the estimator says, in the view, the ticket answer and the refresh feed."""

from __future__ import annotations

import json

import pytest

from server.core.estimates import CounterEstimate, Estimates, WaitEstimate
from server.core.state import CounterStatus
from tests.serverkit import API, client

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


class FixedEstimator:
    """Says 'about 5 min' for everything; remembers what it observed."""

    def __init__(self) -> None:
        self.observed: list[str] = []

    def observe(self, event, state) -> None:
        self.observed.append(event.type)

    def estimate(self, state, now) -> Estimates:
        wait = WaitEstimate(300, 240, 420, "约需4–7分钟", "About 4–7 min")
        waiting = [n for s in state.queues.values() for _, n in s]
        busy = [c.id for c in state.counters.values() if c.status is CounterStatus.SERVING]
        return Estimates(
            at=now, waits=dict.fromkeys(waiting, wait), join=dict.fromkeys(state.queues, wait),
            counters={c: CounterEstimate(120, 60, 240, "约2分钟", "About 2 min", kind="service") for c in busy})


def test_estimates_appear_in_view_and_ticket_answer(tmp_path, clock):
    """Wait texts reach the kiosk's ticket answer and the lobby's view; the estimator observes every event."""
    est = FixedEstimator()
    with client(tmp_path, clock, estimator_factory=lambda config: est) as c:
        ticket = c.post(f"{API}/tickets", json={"service": "A"}).json()
        assert ticket["wait"]["text_en"] == "About 4–7 min"
        view = c.get(f"{API}/state").json()
    assert view["services"][0]["join"]["text_zh"] == "约需4–7分钟"
    assert view["services"][0]["tickets"][0]["wait"]["expected_s"] == 300
    assert view["estimates_at"] == "2026-12-01T09:00:00.000+08:00"
    assert est.observed == ["branch_config", "ticket_issued"]


def test_restart_feeds_the_estimator_the_stored_history(tmp_path, clock):
    """On start-up the estimator observes the whole stored log, in order."""
    with client(tmp_path, clock) as c:
        c.post(f"{API}/tickets", json={"service": "B"})
        c.post(f"{API}/counters/2/open")
    est = FixedEstimator()
    with client(tmp_path, clock, estimator_factory=lambda config: est):
        assert est.observed == ["branch_config", "ticket_issued", "counter_opened"]


def test_screens_get_refreshed_wait_texts_without_events(tmp_path, clock):
    """With an estimator, connected screens receive a 'refresh' view now and then at the same seq."""
    with client(tmp_path, clock, estimator_factory=lambda config: FixedEstimator(), refresh_seconds=0.05) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        with c.websocket_connect("/ws/v1/branches/demo") as ws:
            assert json.loads(ws.receive_text())["type"] == "snapshot"
            msg = json.loads(ws.receive_text())
    assert (msg["type"], msg["seq"]) == ("refresh", 2)
    assert msg["services"][0]["tickets"][0]["wait"]["text_en"] == "About 4–7 min"


def test_one_estimate_serves_an_action_and_the_polls_after_it(tmp_path, clock):
    """The estimator runs once per change (or every few seconds), not once per reader."""
    calls = []

    class Counting(FixedEstimator):
        def estimate(self, state, now):
            calls.append(now)
            return super().estimate(state, now)

    with client(tmp_path, clock, estimator_factory=lambda config: Counting()) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        made = len(calls)  # start-up, and the day's first ticket (no estimate for its service yet)
        c.post(f"{API}/tickets", json={"service": "A"})  # answered from the figures just made
        for _ in range(5):
            c.get(f"{API}/tickets/A001")
            c.get(f"{API}/state")
        assert len(calls) == made + 1  # one for the second ticket's seq, shared by every reader
        clock.advance(10)
        assert c.get(f"{API}/state").json()["estimates_at"] == "2026-12-01T09:00:10.000+08:00"
        c.get(f"{API}/tickets/A001")
        assert len(calls) == made + 2


def test_a_failing_estimator_costs_no_ticket_and_no_screen(tmp_path, clock):
    """If the estimator raises, actions, reads and the feed go on without estimates."""

    class Broken:
        def observe(self, event, state):
            raise RuntimeError("observe bug")

        def estimate(self, state, now):
            raise ValueError("estimate bug")

    with client(tmp_path, clock, estimator_factory=lambda config: Broken()) as c:
        r = c.post(f"{API}/tickets", json={"service": "A"})
        assert (r.status_code, r.json()["wait"]) == (201, None)
        with c.websocket_connect("/ws/v1/branches/demo") as ws:
            snapshot = json.loads(ws.receive_text())
            c.post(f"{API}/counters/1/open")
            event = json.loads(ws.receive_text())
        assert snapshot["services"][0]["join"] is None and event["view"]["counters"][0]["status"] == "free"
        assert c.get(f"{API}/state").json()["estimates_at"] is None
