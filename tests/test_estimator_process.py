"""The estimator in its own process (server/estimator_process.py): the served set-up, fed stored events, restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime

import pytest

from server.core.config import load_config
from server.core.estimates import Estimates, WaitEstimate
from server.core.events import event
from server.estimator_process import EstimatorProcess, RemoteEstimator, _Branch, _estimate
from server.service import make_estimator
from server.settings import DEMO_CONFIG
from tests.estimator_kit import Scripted, Slow
from tests.serverkit import API, client

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _waits_shown(c, api: str = API) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Ticket -> wait text on the lobby's view, once the estimator process has answered."""
    deadline = time.monotonic() + 30
    while True:
        view = c.get(f"{api}/state").json()
        waits = {t["ticket"]: (t["wait"] or {}).get("text_zh", "") for s in view["services"] for t in s["tickets"]}
        if waits and all(waits.values()) or time.monotonic() > deadline:
            return waits
        time.sleep(0.1)


@pytest.mark.usefixtures("engine")  # a server: on SQLite and on PostgreSQL
def test_served_setup_shows_waits_from_the_child(tmp_path, clock) -> None:
    """With the real estimator, every waiting ticket on the lobby view has a wait text made by the child process."""
    with client(tmp_path, clock, estimator_factory=make_estimator) as c:
        assert c.app.state.estimating is not None  # the served set-up: not on the event loop
        c.post(f"{API}/counters/1/open")
        numbers = [c.post(f"{API}/tickets", json={"service": "B"}).json()["ticket"] for _ in range(4)]
        waits = _waits_shown(c)
        assert set(numbers) <= set(waits)
        assert all(waits[n] for n in numbers), waits


@pytest.mark.usefixtures("engine")  # a server: on SQLite and on PostgreSQL
def test_a_killed_child_is_restarted_and_reopens_the_branch(tmp_path, clock) -> None:
    """After the estimator process is killed, a new one is started, reads the log, and waits come back."""
    with client(tmp_path, clock, estimator_factory=make_estimator) as c:
        c.post(f"{API}/counters/1/open")
        c.post(f"{API}/tickets", json={"service": "B"})
        _waits_shown(c)
        process: EstimatorProcess = c.app.state.estimating
        os.kill(process._proc.pid, signal.SIGKILL)
        process._proc.wait()
        started = time.monotonic()
        clock.advance(10)  # old estimates: the read asks the child, which is being restarted
        assert c.get(f"{API}/state").status_code == 200
        assert time.monotonic() - started < 5  # answered from what it has, not left waiting for a dead child
        deadline = time.monotonic() + 30
        while process.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.restarts == 1
        assert c.get("/api/v1/health").json()["estimator_restarts"] == 1
        later = c.post(f"{API}/tickets", json={"service": "B"}).json()["ticket"]
        assert _waits_shown(c).get(later)


NORTH = {
    "name": "北区支行", "timezone": "Asia/Shanghai",
    "services": [{"id": "A", "name": "现金", "prefix": "A"}, {"id": "B", "name": "个人", "prefix": "B"}],
    "counters": [{"id": "1", "name": "1号窗口", "services": ["A", "B"]}],
}


@pytest.mark.usefixtures("engine")  # a server: on SQLite and on PostgreSQL
def test_a_new_setup_keeps_the_waits_on_screen_and_rebuilds_the_estimator(tmp_path, clock) -> None:
    """After an admin changes a branch's set-up, screens keep the last wait texts, then get the new set-up's."""
    north = "/api/v1/branches/north"
    with client(tmp_path, clock, estimator_factory=make_estimator) as c:
        assert c.put("/api/v1/admin/branches/north", json=NORTH).status_code == 201
        c.post(f"{north}/counters/1/open")
        numbers = [c.post(f"{north}/tickets", json={"service": "B"}).json()["ticket"] for _ in range(3)]
        assert all(_waits_shown(c, north).get(n) for n in numbers)
        with c.websocket_connect("/ws/v1/branches/north") as ws:
            assert json.loads(ws.receive_text())["type"] == "snapshot"
            wider = {**NORTH, "services": [*NORTH["services"], {"id": "C", "name": "对公", "prefix": "C"}],
                     "counters": [{"id": "1", "name": "1号窗口", "services": ["A", "B", "C"]}]}
            assert c.put("/api/v1/admin/branches/north", json=wider).status_code == 200
            msg = json.loads(ws.receive_text())
        assert msg["event"]["type"] == "branch_config"
        shown = {t["ticket"]: t["wait"] for s in msg["view"]["services"] for t in s["tickets"]}
        assert all(shown[n] for n in numbers), shown  # not blanked while the estimator is rebuilt
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            join = {s["id"]: s["join"] for s in c.get(f"{north}/services").json()}
            if join.get("C"):
                break
            time.sleep(0.1)
        assert join["C"] and join["C"]["text_zh"], join  # the rebuilt estimator knows the new service


def test_the_loop_runs_while_the_child_computes() -> None:
    """A half-second estimate is awaited, not run on the loop: other tasks keep running meanwhile."""
    async def run() -> tuple[int, object]:
        process = await opened_slow_process()
        try:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            demo = process.branch("demo")
            answer = await demo.estimate(T0)
            answer = await demo.estimate(T0)  # the child's start-up is behind us: a plain 0.5 s estimate
            ticker.cancel()
            return ticks, answer
        finally:
            await process.close()

    ticks, answer = asyncio.run(run())
    assert ticks >= 40  # >= 1 s of 10 ms ticks while two estimates ran elsewhere
    assert answer.seq == 1 and answer.estimates.join["A"].text_en == "1 events"


def test_requests_piled_up_are_answered_by_one_computation() -> None:
    """Asks that arrive while the child is busy share one estimate instead of queueing one each."""
    async def run() -> float:
        process = await opened_slow_process()
        try:
            await process.ask("demo", T0)  # started and warm
            started = time.monotonic()
            await asyncio.gather(*(process.ask("demo", T0) for _ in range(6)))
            return time.monotonic() - started
        finally:
            await process.close()

    assert asyncio.run(run()) < 2.0  # six at 0.5 s each would take 3 s; at most two computations run


async def opened_slow_process() -> EstimatorProcess:
    """A child process running the half-second estimator, with the demo branch open in it."""
    process = EstimatorProcess("tests.estimator_kit:Slow")
    await process.start()
    process.send(("open", "demo", load_config_demo(), [event(T0, "branch_config", **config_mapping())]))
    return process


def test_the_child_skips_events_it_has_and_asks_to_reopen_after_a_gap() -> None:
    """Events are folded in seq order; repeats are skipped; a gap makes the branch ask for its whole log."""
    config = load_config_demo()
    b = _Branch(Slow(config), config)
    first = event(T0, "branch_config", **config_mapping())
    b.take(1, [first])
    opened = event(T0, "counter_opened", counter="1")
    b.take(2, [opened])
    b.take(1, [first, opened])  # already folded: skipped
    assert b.state.seq == 2 and b.estimator.seen == 2 and not b.broken
    b.take(5, [opened])
    assert b.broken


def test_a_new_setup_in_the_stream_rebuilds_the_estimator() -> None:
    """A branch_config with a different set-up marks the branch for reopening (its estimator is made per set-up)."""
    config = load_config_demo()
    b = _Branch(Slow(config), config)
    b.take(1, [event(T0, "branch_config", **config_mapping())])
    assert not b.broken
    changed = {**config_mapping(), "name": "renamed"}
    b.take(2, [event(T0, "branch_config", **changed)])
    assert b.broken


def test_only_changed_ranges_travel_and_the_server_rebuilds_the_whole() -> None:
    """Each answer after the first carries only changed and dropped tickets; applied, it equals the child's estimates."""
    def wait(minutes: int) -> WaitEstimate:
        return WaitEstimate(minutes * 60.0, 0.0, minutes * 90.0, f"{minutes}", f"{minutes}")

    script = [Estimates(at=T0, waits={"A001": wait(5), "A002": wait(9), "A003": wait(12)}),
              Estimates(at=T0, waits={"A002": wait(4), "A003": wait(12), "A004": wait(15)}),
              Estimates(at=T0, waits={"A003": wait(8), "A004": wait(15)})]
    config = load_config_demo()
    child = _Branch(Scripted(script), config)
    answers = [_estimate(child, T0) for _ in script]
    assert answers[0].estimates is not None and answers[0].changes is None
    assert answers[1].changes.waits == {"A002": wait(4), "A004": wait(15)} and answers[1].changes.gone == ["A001"]
    assert answers[2].changes.waits == {"A003": wait(8)} and answers[2].changes.gone == ["A002"]

    class Replaying:
        """Stands in for the process: hands the server side the child's answers in turn (one of them twice)."""

        def __init__(self, answers) -> None:  # type: ignore[no-untyped-def]
            self.answers, self.sent = answers, []

        async def ask(self, branch, now):  # type: ignore[no-untyped-def]
            return self.answers.pop(0)

        def send(self, msg) -> None:  # type: ignore[no-untyped-def]
            self.sent.append(msg)

    process = Replaying([answers[0], answers[1], answers[1], answers[2]])
    remote = RemoteEstimator(process, "demo")  # type: ignore[arg-type]
    got = [asyncio.run(remote.estimate(T0)).estimates for _ in range(4)]
    assert [sorted(e.waits.items()) for e in got] == [sorted(s.waits.items()) for s in (script[0], script[1],
                                                                                         script[1], script[2])]
    assert process.sent == []

    out_of_step = Replaying([answers[2]])  # a change against a version this side never had
    lost = RemoteEstimator(out_of_step, "demo")  # type: ignore[arg-type]
    assert asyncio.run(lost.estimate(T0)).estimates is None and out_of_step.sent == [("resend", "demo")]


def load_config_demo():  # type: ignore[no-untyped-def]
    return load_config(DEMO_CONFIG)


def config_mapping() -> dict:  # type: ignore[type-arg]
    return load_config_demo().event_fields()


@pytest.mark.usefixtures("engine")  # a server: on SQLite and on PostgreSQL
def test_shutdown_drops_a_pending_refresh(tmp_path, clock) -> None:
    """A refresh due after an action is cancelled when the server stops, before the writer and store close
    (it used to run during the estimator's shutdown and fail on the closed writer)."""
    with client(tmp_path, clock, estimator_factory=make_estimator, estimate_delay_seconds=30.0) as c:
        c.post(f"{API}/counters/1/open")
        svc = c.app.state.services["demo"]
        pending = svc._refresh
        assert pending is not None and not pending.cancelled()
    assert pending.cancelled() and svc._refresh is None
