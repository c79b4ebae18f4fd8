"""One client cannot hurt the branch: oversized bodies and too many WebSockets are refused cleanly."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.serverkit import API, client, stored_events

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL

WS = "/ws/v1/branches/demo"


def _refusal(c):
    """Open a feed that should be refused; the close code and reason it gets."""
    with pytest.raises(WebSocketDisconnect) as refused, c.websocket_connect(WS) as ws:
        ws.receive_text()
    return refused.value.code, refused.value.reason


def _admitted_soon(c) -> bool:
    """Whether a new feed is admitted within two seconds (a closed one is let go asynchronously)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            with c.websocket_connect(WS) as ws:
                return ws.receive_json()["type"] == "snapshot"
        except WebSocketDisconnect as refused:
            assert refused.code == 1008
            time.sleep(0.02)
    return False


def test_one_address_gets_at_most_its_cap_of_feeds(tmp_path, clock):
    """The (cap+1)th feed from one address is closed with 1008 and a reason; closing one frees a place."""
    with client(tmp_path, clock, ws_max_per_address=3) as c, contextlib.ExitStack() as stack:
        feeds = [stack.enter_context(c.websocket_connect(WS)) for _ in range(3)]
        for ws in feeds:
            assert ws.receive_json()["type"] == "snapshot"
        code, reason = _refusal(c)
        assert code == 1008 and reason == "too many connections from testclient (at most 3); close some screens"
        feeds[0].close()
        assert _admitted_soon(c)  # the server notices the close asynchronously
        c.post(f"{API}/tickets", json={"service": "A"})
        events = [feeds[1].receive_json()["event"]["type"] for _ in range(2)]  # the day's config, then the ticket
        assert events == ["branch_config", "ticket_issued"]  # the admitted feeds are untouched


def test_the_server_wide_cap_refuses_with_try_again_later(tmp_path, clock):
    """Past the global cap a feed is closed with 1013 (try again later), whatever its address."""
    with client(tmp_path, clock, ws_max_total=2) as c, c.websocket_connect(WS) as a, c.websocket_connect(WS) as b:
        assert a.receive_json()["type"] == b.receive_json()["type"] == "snapshot"
        code, reason = _refusal(c)
        assert code == 1013 and "maximum of 2 connections" in reason


def test_refused_feeds_do_not_count(tmp_path, clock):
    """Refusals leave the count alone: after many refused attempts, closing one feed admits exactly one."""
    with client(tmp_path, clock, ws_max_per_address=1) as c:
        with c.websocket_connect(WS) as ws:
            ws.receive_json()
            for _ in range(5):
                assert _refusal(c)[0] == 1008
        assert _admitted_soon(c)


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock, max_body_bytes=1024, max_import_bytes=4096) as c:
        yield c


def test_chunked_body_over_the_cap_is_413(c):
    """A body sent without Content-Length is cut off at the cap and refused, storing nothing."""
    before = stored_events(c)

    def chunks():
        yield b'{"service": "'
        for _ in range(20):
            yield b"A" * 100
        yield b'"}'

    r = c.post(f"{API}/tickets", content=chunks(), headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["message"]) == (413, "The request body is larger than 1024 bytes.")
    assert stored_events(c) == before


def test_import_has_its_own_larger_cap(c):
    """A log import may exceed the action cap but not the import cap; over it is 413 and nothing stored."""
    line = b'{"ts": "2026-12-01T09:00:00+08:00", "type": "ticket_issued", "ticket": "A001", "service": "A"}\n'
    assert c.post(f"{API}/events", content=line * 20).status_code == 422  # 2 KB: read, then refused as a log
    r = c.post(f"{API}/events", content=line * 50)  # 5 KB
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")
    assert stored_events(c) == []



def test_the_cap_through_a_real_server(tmp_path, monkeypatch):
    """Through uvicorn the refused screen sees close code 1008 and the reason, and its two admitted feeds live on."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from tests.serverkit import Server, free_port

    monkeypatch.setenv("BRANCHQ_WS_MAX_PER_ADDRESS", "2")
    server = Server(tmp_path / "data", free_port())
    server.start()
    try:
        url = f"ws://127.0.0.1:{server.port}/ws/v1/branches/demo?token={server.token('lobby-demo')}"
        with connect(url) as a, connect(url) as b:
            assert json.loads(a.recv(timeout=5))["type"] == json.loads(b.recv(timeout=5))["type"] == "snapshot"
            with connect(url) as third, pytest.raises(ConnectionClosed) as closed:
                third.recv(timeout=5)
            assert closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason == "too many connections from 127.0.0.1 (at most 2); close some screens"
            a.send(json.dumps({"type": "ping"}))
            assert json.loads(a.recv(timeout=5))["type"] == "pong"
    finally:
        server.kill()
