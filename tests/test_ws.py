"""The screens' WebSocket feed: snapshot, deltas, resume, and isolation from slow screens."""

from __future__ import annotations

import asyncio
import json

import pytest

from server.hub import RESYNC, Hub
from tests.serverkit import API, client

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL

WS = "/ws/v1/branches/demo"


@pytest.fixture
def c(tmp_path, clock):
    with client(tmp_path, clock, ws_history=8) as c:
        yield c


def _recv(ws):
    return json.loads(ws.receive_text())


def test_connect_gets_a_snapshot_with_seq(c):
    """A new screen first receives the full view, typed snapshot, at the current seq."""
    c.post(f"{API}/tickets", json={"service": "A"})
    with c.websocket_connect(WS) as ws:
        msg = _recv(ws)
    assert (msg["type"], msg["seq"], msg["branch"]) == ("snapshot", 2, "demo")
    assert msg["services"][0]["tickets"][0]["ticket"] == "A001"


def test_every_change_arrives_in_seq_order_with_the_view(c):
    """Each event is one message with the next seq; the last of an action carries the new view."""
    with c.websocket_connect(WS) as ws:
        assert _recv(ws)["seq"] == 0
        c.post(f"{API}/tickets", json={"service": "V"})
        c.post(f"{API}/counters/4/open")
        msgs = [_recv(ws) for _ in range(3)]
    assert [(m["type"], m["seq"], m["event"]["type"]) for m in msgs] == [
        ("event", 1, "branch_config"), ("event", 2, "ticket_issued"), ("event", 3, "counter_opened")]
    assert msgs[0]["view"] is None  # the middle of an action: the view follows with its last event
    assert msgs[1]["view"]["services"][3]["waiting"] == 1
    assert msgs[2]["view"]["counters"][3]["status"] == "free"


def test_resume_from_seq_gets_only_what_was_missed(c):
    """Reconnecting with ?since=SEQ replays the later messages and no snapshot."""
    c.post(f"{API}/tickets", json={"service": "A"})  # seq 1, 2
    c.post(f"{API}/tickets", json={"service": "B"})  # seq 3
    with c.websocket_connect(f"{WS}?since=2") as ws:
        msg = _recv(ws)
        assert (msg["type"], msg["seq"], msg["event"]["ticket"]) == ("event", 3, "B001")
        assert msg["view"]["seq"] == 3  # the last missed message brings the current view
        c.post(f"{API}/tickets", json={"service": "C"})
        assert _recv(ws)["seq"] == 4


def test_resume_too_old_gets_a_new_snapshot(c):
    """A screen that missed more than the hub keeps gets a snapshot instead of a gap."""
    for _ in range(12):  # more than ws_history=8 messages
        c.post(f"{API}/tickets", json={"service": "A"})
    with c.websocket_connect(f"{WS}?since=1") as ws:
        msg = _recv(ws)
    assert (msg["type"], msg["seq"]) == ("snapshot", 13)


def test_hello_and_ping_register_the_screen(c):
    """A screen's hello names it in the registry; a ping is answered with the current seq."""
    with c.websocket_connect(f"{WS}?screen=lobby") as ws:
        _recv(ws)
        ws.send_text(json.dumps({"type": "hello", "screen": "counter", "id": "counter-3"}))
        ws.send_text(json.dumps({"type": "ping"}))
        assert _recv(ws) == {"type": "pong", "seq": 0}
        (screen,) = c.get(f"{API}/screens").json()
        assert (screen["screen"], screen["id"]) == ("counter", "counter-3")
    assert c.get(f"{API}/screens").json() == []


def test_unknown_branch_feed_is_closed(c):
    """Connecting to a branch the server does not run is refused with code 4404."""
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as exc, c.websocket_connect("/ws/v1/branches/nowhere") as ws:
        ws.receive_text()
    assert exc.value.code == 4404


def test_a_slow_subscriber_never_stalls_the_others():
    """A screen that stops reading overflows only its own queue and is told to resync; others get everything."""

    async def scenario():
        hub = Hub(queue_size=4, history=16)
        slow, fast = hub.subscribe("demo"), hub.subscribe("demo")
        got = []

        async def read_fast():
            while len(got) < 10:
                got.append(await fast.get())

        reader = asyncio.create_task(read_fast())
        for seq in range(1, 11):
            hub.record("demo", seq, {"type": "abandoned"})
            hub.publish("demo", seq, f"m{seq}")
            await asyncio.sleep(0)  # the fast screen reads as messages come
        await asyncio.wait_for(reader, 1)
        return got, [slow.queue.get_nowait() for _ in range(slow.queue.qsize())], slow.dropped

    got, slow_queue, dropped = asyncio.run(scenario())
    assert got == [(s, f"m{s}") for s in range(1, 11)]
    assert slow_queue[0] == (None, RESYNC) and len(slow_queue) <= 4 and dropped >= 1


def test_slow_socket_does_not_delay_a_live_one(c):
    """With one connected screen not reading at all, another screen still gets every event promptly."""
    with c.websocket_connect(WS) as idle, c.websocket_connect(WS) as live:
        _recv(live)
        for _ in range(40):
            c.post(f"{API}/tickets", json={"service": "A"})
        seqs = [_recv(live)["seq"] for _ in range(41)]
        assert seqs == list(range(1, 42))
        assert _recv(idle)["type"] == "snapshot"


def test_a_stuck_screen_on_a_real_socket_does_not_delay_a_live_one(tmp_path):
    """Against a real server, a screen that never reads its socket leaves another screen's feed complete and prompt."""
    import socket
    import time

    import httpx
    from websockets.sync.client import connect

    from tests.serverkit import Server, free_port

    server = Server(tmp_path / "data", free_port())
    server.start()
    stuck = socket.create_connection(("127.0.0.1", server.port))
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        token = server.token("lobby-demo").encode()
        stuck.sendall(b"GET /ws/v1/branches/demo?token=" + token + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        with connect(f"ws://127.0.0.1:{server.port}/ws/v1/branches/demo?token={token.decode()}", max_size=None) as live, \
                httpx.Client(base_url=server.url, headers=server.auth()) as c:
            assert json.loads(live.recv(timeout=5))["type"] == "snapshot"
            started = time.monotonic()
            for _ in range(300):  # each message carries the growing view: megabytes for the stuck screen
                assert c.post(f"{API}/tickets", json={"service": "A"}).status_code == 201
            seqs = []
            while len(seqs) < 301:  # refresh messages (fresh wait texts) may come in between
                msg = json.loads(live.recv(timeout=5))
                if msg["type"] == "event":
                    seqs.append(msg["seq"])
            elapsed = time.monotonic() - started
            screens = c.get(f"{API}/screens").json()
        assert min(s["seq"] for s in screens) < 300  # the stuck screen really is behind
        assert seqs == list(range(1, 302))
        assert elapsed < 30
    finally:
        stuck.close()
        server.kill()
