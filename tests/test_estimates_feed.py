"""The server shows whatever the estimator says, in the view, the ticket answer and the refresh feed."""

from __future__ import annotations

import json
import time

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


class Ticking(FixedEstimator):
    """Every wait is 'about M min', M the clock's minute: its texts change as time passes."""

    def estimate(self, state, now) -> Estimates:
        est = super().estimate(state, now)
        wait = WaitEstimate(60 * now.minute, 0, 120, f"约{now.minute}分钟", f"About {now.minute} min")
        return Estimates(at=now, waits=dict.fromkeys(est.waits, wait), join=dict.fromkeys(est.join, wait),
                         counters=est.counters)


class Drifting(FixedEstimator):
    """The figures move with the clock, the texts never do."""

    def estimate(self, state, now) -> Estimates:
        est = super().estimate(state, now)
        wait = WaitEstimate(300 + now.second, 240, 420, "约需4–7分钟", "About 4–7 min")
        return Estimates(at=now, waits=dict.fromkeys(est.waits, wait), join=dict.fromkeys(est.join, wait),
                         counters=est.counters)


def test_screens_get_refreshed_wait_texts_without_events(tmp_path, clock):
    """Connected screens receive a 'refresh' view at the same seq when a wait text changes with time."""
    with client(tmp_path, clock, estimator_factory=lambda config: Ticking(), refresh_seconds=0.05) as c:
        c.post(f"{API}/tickets", json={"service": "A"})
        with c.websocket_connect("/ws/v1/branches/demo") as ws:
            snapshot = json.loads(ws.receive_text())
            clock.advance(60)
            texts = []
            while not texts or texts[-1] != "About 1 min":
                msg = json.loads(ws.receive_text())
                assert (msg["type"], msg["seq"]) == ("refresh", 2)
                texts.append(msg["services"][0]["tickets"][0]["wait"]["text_en"])
    assert snapshot["services"][0]["tickets"][0]["wait"]["text_en"] == "About 0 min"
    assert set(texts) <= {"About 0 min", "About 1 min"} and len(texts) <= 2  # at most one before the clock moved


def test_a_refresh_that_changes_no_text_is_not_sent(tmp_path, clock):
    """Estimates whose figures moved but whose texts did not send nothing to the screens."""
    with (client(tmp_path, clock, estimator_factory=lambda config: Drifting(), refresh_seconds=0.02) as c,
          c.websocket_connect("/ws/v1/branches/demo") as ws):
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        c.post(f"{API}/tickets", json={"service": "A"})
        while True:  # the event, and a refresh if its view did not have the new ticket's wait text yet
            msg = json.loads(ws.receive_text())
            view = msg["view"] if msg["type"] == "event" else msg  # (None on all but an action's last event)
            if view and view["services"][0]["tickets"] and view["services"][0]["tickets"][0]["wait"]:
                break
        for _ in range(10):  # a refresh every 20 ms, each with new figures
            clock.advance(1)
            time.sleep(0.03)
        assert c.get(f"{API}/state").json()["services"][0]["tickets"][0]["wait"]["expected_s"] > 300
        c.post(f"{API}/counters/1/open")
        msg = json.loads(ws.receive_text())
    assert (msg["type"], msg["seq"]) == ("event", 3)


def test_a_screen_resuming_does_not_hide_new_texts_from_the_others(tmp_path, clock):
    """A resume renders the newest estimates for one screen; the screens already connected still get them."""
    with (client(tmp_path, clock, estimator_factory=lambda config: Ticking(), refresh_seconds=1.0) as c,
          c.websocket_connect("/ws/v1/branches/demo") as first):
        assert json.loads(first.receive_text())["type"] == "snapshot"
        c.post(f"{API}/tickets", json={"service": "A"})  # seqs 1 (the day's set-up) and 2
        clock.advance(60)  # every wait now reads "About 1 min"
        assert c.get(f"{API}/state").json()["services"][0]["tickets"][0]["wait"]["text_en"] == "About 1 min"
        with c.websocket_connect("/ws/v1/branches/demo?since=1") as second:
            resumed = json.loads(second.receive_text())
        assert resumed["view"]["services"][0]["tickets"][0]["wait"]["text_en"] == "About 1 min"
        time.sleep(2.5)  # two periodic refreshes
        c.post(f"{API}/counters/1/open")  # seq 3: the first screen reads up to it
        texts = []
        while (msg := json.loads(first.receive_text()))["seq"] != 3:
            view = msg["view"] if msg["type"] == "event" else msg
            if view:
                texts.append((msg["type"], view["services"][0]["tickets"][0]["wait"]["text_en"]))
    assert ("refresh", "About 1 min") in texts, texts


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
