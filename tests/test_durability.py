"""A real `branchq serve` process: what it acknowledged survives SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.serverkit import without_times

API = "/api/v1/branches/demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`branchq serve --demo` on a data dir, started and killed like in production."""

    def __init__(self, data_dir, port):
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self):
        env = {**os.environ, "BRANCHQ_DATA_DIR": str(self.data_dir)}
        env.pop("DATABASE_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--demo", "--port", str(self.port)],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        pytest.fail(f"server did not start: {self.proc.stdout.read().decode()[-2000:]}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data", _free_port())
    yield s
    if s.proc and s.proc.poll() is None:
        s.kill()


def test_acknowledged_actions_survive_sigkill(server):
    """After kill -9 and a restart the state is identical and the next ticket takes a new number."""
    server.start()
    with httpx.Client(base_url=server.url, timeout=5) as c:
        numbers = [c.post(f"{API}/tickets", json={"service": s}).json()["ticket"] for s in "AABVCA"]
        for counter in ("2", "4"):
            assert c.post(f"{API}/counters/{counter}/open").status_code == 200
            assert c.post(f"{API}/counters/{counter}/call-next").status_code == 200
        assert c.post(f"{API}/counters/4/start").status_code == 200
        before = without_times(c.get(f"{API}/state").json())
    server.kill()
    server.start()
    with httpx.Client(base_url=server.url, timeout=5) as c:
        assert without_times(c.get(f"{API}/state").json()) == before
        assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A004"
    assert numbers == ["A001", "A002", "B001", "V001", "C001", "A003"]


def test_kill_during_a_burst_loses_no_acknowledged_ticket(server):
    """Tickets acknowledged up to the moment of SIGKILL are all there after restart; no number is reused."""
    server.start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def kiosk():
        with httpx.Client(base_url=server.url, timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post(f"{API}/tickets", json={"service": "B"})
                except httpx.TransportError:
                    return  # the server died mid-request: that ticket was not acknowledged
                if r.status_code == 201:
                    acknowledged.append(r.json()["ticket"])

    threads = [threading.Thread(target=kiosk) for _ in range(4)]
    for t in threads:
        t.start()
    while len(acknowledged) < 100:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    server.start()
    with httpx.Client(base_url=server.url, timeout=5) as c:
        waiting = {t["ticket"] for t in c.get(f"{API}/state").json()["services"][1]["tickets"]}
        assert set(acknowledged) <= waiting
        fresh = c.post(f"{API}/tickets", json={"service": "B"}).json()["ticket"]
    assert fresh not in waiting and int(fresh[1:]) == len(waiting) + 1
