"""Fan-out across server processes: two real `branchq serve` processes on one database (SQLite, PostgreSQL) and Redis."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import need_service
from tests.serverkit import API, Server, free_port, without_times

WS = "/ws/v1/branches/demo"
# Each test runs on a shared SQLite file and on PostgreSQL (both servers use the data dir's database).
pytestmark = pytest.mark.usefixtures("engine")


class Screen:
    """A lobby screen on one server: keeps the latest view and every event seq it was sent."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.seqs: list[int] = []
        self.snapshots = 0
        first = self.next(5)
        assert first["type"] == "snapshot"

    def next(self, timeout: float) -> dict:
        msg = json.loads(self.ws.recv(timeout=timeout))
        if msg["type"] == "snapshot":
            self.snapshots += 1
            self.view, self.seq = {k: v for k, v in msg.items() if k != "type"}, msg["seq"]
        elif msg["type"] == "event":
            self.seqs.append(msg["seq"])
            self.seq = msg["seq"]
            if msg["view"] is not None:
                self.view = msg["view"]
        return msg

    def until(self, seq: int, timeout: float) -> float:
        """Read until the screen is at `seq`; the seconds it took."""
        started = time.monotonic()
        while self.seq < seq:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise AssertionError(f"screen at seq {self.seq}, still waiting for {seq} after {timeout} s")
            self.next(left)
        return time.monotonic() - started


@contextlib.contextmanager
def screen_on(server: Server, branch: str = "demo", token: str | None = None):
    """A screen of `branch` connected to `server` for the duration of the block (the demo lobby's token by default)."""
    token = token or server.token("lobby-demo")
    with connect(f"ws://127.0.0.1:{server.port}/ws/v1/branches/{branch}?token={token}", max_size=None) as ws:
        yield Screen(ws)


@contextlib.contextmanager
def two_servers(tmp_path, redis_url, **more_env):
    """Two servers on one database, fanning out through Redis under a random channel prefix."""
    env = {"REDIS_URL": redis_url, "BRANCHQ_REDIS_PREFIX": f"bqtest-{uuid.uuid4().hex[:8]}:", **more_env}
    servers = [Server(tmp_path / "data", free_port(), env=env, name=n) for n in ("a", "b")]
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            if s.proc and s.proc.poll() is None:
                s.kill()


@pytest.fixture
def pair(tmp_path, redis_url):
    with two_servers(tmp_path, redis_url) as servers:
        yield servers


def _state(server: Server) -> dict:
    return httpx.get(f"{server.url}{API}/state", headers=server.auth(), timeout=5).json()


def staff(server: Server) -> httpx.Client:
    """An admin's HTTP client for `server` (sessions live in the shared database: valid on every process)."""
    return httpx.Client(base_url=server.url, headers=server.auth(), timeout=5)


def test_an_action_on_one_process_reaches_screens_on_the_other_in_order(pair):
    """Actions alternating between A and B reach a screen on B within 500 ms each, every seq once, in order."""
    a, b = pair
    with screen_on(b) as screen, staff(a) as ca, staff(b) as cb:
        assert ca.post(f"{API}/counters/1/open").status_code == 200  # seq 1-2 (the day's config, then the open)
        screen.until(2, 5)  # the first message also waits for the relay to subscribe
        delays = []
        for i in range(30):
            client = ca if i % 3 else cb  # two thirds on A, the rest on B (which must know A's seqs)
            r = client.post(f"{API}/tickets", json={"service": "A"})
            assert r.status_code == 201, r.text
            delays.append(screen.until(r.json()["seq"], 2))
        r = ca.post(f"{API}/counters/1/call-next")
        assert r.status_code == 200 and r.json()["ticket"] == "A001"
        delays.append(screen.until(r.json()["seq"], 2))
    assert screen.seqs == list(range(screen.seqs[0], screen.seq + 1))  # gap-free, no repeats, no snapshot since
    assert screen.snapshots == 1 and screen.seq == 33
    assert max(delays) < 0.5, delays
    assert without_times(screen.view) == without_times(_state(a)) == without_times(_state(b))


def test_tickets_taken_on_both_processes_get_distinct_numbers(pair):
    """Kiosks on A and B issuing in turn never get the same number, and both processes show the same line."""
    a, b = pair
    with staff(a) as ca, staff(b) as cb:
        numbers = [c.post(f"{API}/tickets", json={"service": "B"}).json()["ticket"] for c in (ca, cb) * 10]
    assert sorted(numbers) == [f"B{i:03d}" for i in range(1, 21)]
    assert [t["ticket"] for t in _state(b)["services"][1]["tickets"]] == sorted(numbers)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of our own on a free port, which the test may stop and start again."""
    need_service("Redis", "127.0.0.1", 6379)  # where CI runs one, redis-server is installed
    if shutil.which("redis-server") is None:
        if os.environ.get("BRANCHQ_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed (BRANCHQ_REQUIRE_SERVICES=1: CI must provide it)")
        pytest.skip("redis-server is not installed (CI provides it)")
    port = free_port()
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    class Own:
        url = f"redis://127.0.0.1:{port}/0"

        def start(self):
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=tmp_path)
            deadline = time.monotonic() + 10
            while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout != b"PONG\n":
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

        def stop(self):
            self.proc.kill()
            self.proc.wait(10)

    own = Own()
    own.start()
    yield own
    if own.proc.poll() is None:
        own.stop()


def test_without_redis_each_process_serves_its_screens_and_resyncs_when_it_returns(tmp_path, own_redis):
    """Redis stopped: A and B keep serving their own screens and log it once; Redis back: B's screen resyncs."""
    with two_servers(tmp_path, own_redis.url) as servers:
        a, b = servers
        with screen_on(a) as on_a, screen_on(b) as on_b, staff(a) as ca, staff(b) as cb:
            seq = ca.post(f"{API}/tickets", json={"service": "A"}).json()["seq"]
            on_b.until(seq, 5)
            own_redis.stop()
            for _ in range(5):  # several actions while Redis is away: logged once, not per action
                seq_a = ca.post(f"{API}/tickets", json={"service": "A"}).json()["seq"]
                on_a.until(seq_a, 2)
                r = cb.post(f"{API}/tickets", json={"service": "C"})
                assert r.status_code == 201, r.text
                on_b.until(r.json()["seq"], 2)
            assert ca.post(f"{API}/counters/2/open").status_code == 200
            snapshots = on_b.snapshots
            own_redis.start()
            deadline = time.monotonic() + 15  # the relay retries every few seconds at most
            while on_b.snapshots == snapshots:  # Redis back: B's screens are told to take a new snapshot
                on_b.next(max(0.1, deadline - time.monotonic()))
            on_b.until(_state(a)["seq"], 5)
            assert without_times(on_b.view) == without_times(_state(a))
            assert on_b.view["counters"][1]["status"] == "free"  # the last action, taken on A
            seq = ca.post(f"{API}/tickets", json={"service": "V"}).json()["seq"]
            assert on_b.until(seq, 2) < 0.5  # and live again
        for s in servers:
            assert s.log.read_text().count("unreachable") == 1, s.log.read_text()[-3000:]


NORTH = {"name": "北区支行", "services": [{"id": "A", "name": "现金", "prefix": "A"}],
         "counters": [{"id": "1", "name": "1号窗口", "services": ["A"]}]}


def test_a_branch_added_through_the_admin_api_fans_out_as_well(tmp_path, redis_url):
    """A branch an admin adds on A opens on B, and A's actions in it reach B's screens within 500 ms."""
    with two_servers(tmp_path, redis_url, BRANCHQ_BRANCH_POLL_SECONDS="0.5") as (a, b), staff(a) as ca:
        assert ca.put("/api/v1/admin/branches/north", json=NORTH).status_code == 201
        deadline = time.monotonic() + 10
        while "north" not in httpx.get(f"{b.url}/api/v1/health", timeout=5).json()["branches"]:
            assert time.monotonic() < deadline, "B never opened the branch added on A"
            time.sleep(0.1)
        admin_token = a.auth()["Authorization"].removeprefix("Bearer ")  # a session is valid on every process
        with screen_on(b, "north", admin_token) as screen:
            seq = ca.post("/api/v1/branches/north/tickets", json={"service": "A"}).json()["seq"]
            assert screen.until(seq, 2) < 0.5
            assert screen.view["services"][0]["tickets"][0]["ticket"] == "A001"
