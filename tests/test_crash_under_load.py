"""kill -9 of a real server under load from kiosks, tellers and a screen; restart on the same database.

Every answer the clients got (201/200) is an acknowledged action: its events
and seqs are in the answer. After the restart each one must be in the stored
log at exactly those seqs, no ticket number may be given twice, and the screen
that was watching must resync to exactly the restarted server's state.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.serverkit import (
    API,
    Server,
    demo_server_process,  # noqa: F401  (the `server` fixture)
    without_times,
)

KIOSKS = {"A": 2, "B": 1, "V": 1}  # kiosk threads per service
TELLERS = ("1", "3", "4")  # counters whose teller calls and serves as fast as the server answers
KILL_AFTER = 150  # acknowledged actions before the SIGKILL


@dataclass
class Acknowledged:
    """What the server confirmed: (first seq, events as the answer gave them) per action."""

    actions: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seq: int, events: list[dict[str, Any]]) -> None:
        with self.lock:
            self.actions.append((seq - len(events) + 1, events))

    def __len__(self) -> int:
        return len(self.actions)


def _kiosk(server: Server, service: str, acked: Acknowledged, stop: threading.Event) -> None:
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        while not stop.is_set():
            try:
                r = c.post(f"{API}/tickets", json={"service": service})
            except httpx.TransportError:
                return  # the server died mid-request: not acknowledged
            if r.status_code == 201:
                body = r.json()
                acked.add(body["seq"], [{"type": "ticket_issued", "ticket": body["ticket"], "service": service}])


def _teller(server: Server, counter: str, acked: Acknowledged, stop: threading.Event) -> None:
    """call-next, start, finish in a loop; each 200 is acknowledged with the events it reports."""
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        while not stop.is_set():
            for action in ("call-next", "start", "finish"):
                try:
                    r = c.post(f"{API}/counters/{counter}/{action}")
                except httpx.TransportError:
                    return
                if r.status_code != 200:
                    time.sleep(0.01)  # nobody waiting yet
                    break
                acked.add(r.json()["seq"], r.json()["events"])


def _feed(server: Server, since: int | None = None) -> str:
    """The lobby screen's feed address, with its device token."""
    url = f"ws://127.0.0.1:{server.port}/ws/v1/branches/demo?token={server.token('lobby-demo')}"
    return url if since is None else f"{url}&since={since}"


def _screen(server: Server, seen: list[dict[str, Any]], ready: threading.Event) -> None:
    """A lobby screen: records every message until its socket dies with the server."""
    try:
        with connect(_feed(server), max_size=None) as ws:
            seen.append(json.loads(ws.recv(timeout=5)))
            ready.set()
            while True:
                seen.append(json.loads(ws.recv(timeout=30)))
    except Exception:  # the connection closed with the SIGKILL
        ready.set()


def _matches(stored: dict[str, Any], answered: dict[str, Any]) -> bool:
    """A stored event is the acknowledged one: every field the answer gave is stored unchanged."""
    return all(stored.get(k) == v for k, v in answered.items())


def test_sigkill_under_load_keeps_every_acknowledged_action(server):
    """Acknowledged == found after kill -9 mid-load; no number given twice; the screen resyncs exactly."""
    server.start()
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        for counter in TELLERS:
            assert c.post(f"{API}/counters/{counter}/open").status_code == 200
    acked, stop = Acknowledged(), threading.Event()
    seen: list[dict[str, Any]] = []
    ready = threading.Event()
    screen = threading.Thread(target=_screen, args=(server, seen, ready))
    screen.start()
    assert ready.wait(10)
    workers = [threading.Thread(target=_kiosk, args=(server, s, acked, stop)) for s, n in KIOSKS.items()
               for _ in range(n)]
    workers += [threading.Thread(target=_teller, args=(server, c, acked, stop)) for c in TELLERS]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60
    while len(acked) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()  # mid-load: requests are in flight on every connection
    stop.set()
    for t in [*workers, screen]:
        t.join(10)
    assert len(acked) >= KILL_AFTER, f"only {len(acked)} actions acknowledged in 60 s"

    server.start()  # same data dir, same database
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        log = [json.loads(line) for line in c.get(f"{API}/events").text.splitlines()]
        found = sum(
            1 for first, events in acked.actions
            if all(first + i <= len(log) and _matches(log[first + i - 1], ev) for i, ev in enumerate(events)))
        tickets = sum(1 for _, events in acked.actions if events[-1]["type"] == "ticket_issued")
        print(f"\ncrash under load: {len(acked)} actions acknowledged ({tickets} tickets, {len(acked) - tickets} "
              f"teller actions), {found} found after restart; {len(log)} events stored")
        assert found == len(acked)

        # No number twice: every ticket_issued of the day is unique, and new ones continue after the highest.
        issued = [ev["ticket"] for ev in log if ev["type"] == "ticket_issued"]
        assert len(issued) == len(set(issued))
        for service in KIOSKS:
            highest = max(int(t[1:]) for t in issued if t[0] == service)
            fresh = c.post(f"{API}/tickets", json={"service": service}).json()["ticket"]
            assert fresh == f"{service}{highest + 1:03d}"

        # The screen saw only stored events, each at its seq.
        events_seen = [m for m in seen if m.get("type") == "event"]
        assert events_seen, "the screen saw no event before the kill"
        for m in events_seen:
            assert {k: v for k, v in log[m["seq"] - 1].items() if k != "actor"} == m["event"]
        last_seen = max(m["seq"] for m in [seen[0], *events_seen])

        # It reconnects where it left off and ends at exactly the restarted server's state: the events it
        # missed if the new server has them all (it saw the last stored event), else a full snapshot.
        state = c.get(f"{API}/state").json()
        assert state["seq"] == len(log) + len(KIOSKS)
        with connect(_feed(server, since=last_seen), max_size=None) as ws:
            assert _resynced_view(ws, last_seen, state["seq"]) == without_times(state)
        with connect(_feed(server, since=1), max_size=None) as ws:  # far behind: a snapshot
            first = json.loads(ws.recv(timeout=5))
            assert first["type"] == "snapshot" and without_times(_view(first)) == without_times(state)
            r = c.post(f"{API}/counters/2/open")
            pushed = json.loads(ws.recv(timeout=5))
            while pushed.get("type") != "event":  # a refresh of the wait texts may come first
                pushed = json.loads(ws.recv(timeout=5))
            assert (pushed["seq"], pushed["event"]["type"]) == (r.json()["seq"], "counter_opened")


def _view(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != "type"}


def _resynced_view(ws: Any, since: int, current: int) -> dict[str, Any]:
    """Read a resumed feed up to `current`: a snapshot, or each missed event in order; the view it ends with."""
    msg = json.loads(ws.recv(timeout=5))
    if msg["type"] == "snapshot":
        assert msg["seq"] == current
        return without_times(_view(msg))
    expected = since + 1
    while True:
        assert (msg["type"], msg["seq"]) == ("event", expected)
        if msg["seq"] == current:
            return without_times(msg["view"])
        expected += 1
        msg = json.loads(ws.recv(timeout=5))
