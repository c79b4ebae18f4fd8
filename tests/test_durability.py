"""A real `branchq serve` process: what it acknowledged survives SIGKILL."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.serverkit import (
    demo_server_process,  # noqa: F401  (the `server` fixture)
    without_times,
)

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL

API = "/api/v1/branches/demo"


def test_acknowledged_actions_survive_sigkill(server):
    """After kill -9 and a restart the state is identical and the next ticket takes a new number."""
    server.start()
    printed = server.log.read_text()
    for url in ("/docs", "/display/demo", "/kiosk/demo", "/teller/demo"):
        assert f"{server.url}{url}" in printed  # serve --demo tells where everything is
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        numbers = [c.post(f"{API}/tickets", json={"service": s}).json()["ticket"] for s in "AABVCA"]
        for counter in ("2", "4"):
            assert c.post(f"{API}/counters/{counter}/open").status_code == 200
            assert c.post(f"{API}/counters/{counter}/call-next").status_code == 200
        assert c.post(f"{API}/counters/4/start").status_code == 200
        before = without_times(c.get(f"{API}/state").json())
    server.kill()
    server.start()
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        assert without_times(c.get(f"{API}/state").json()) == before
        assert c.post(f"{API}/tickets", json={"service": "A"}).json()["ticket"] == "A004"
    assert numbers == ["A001", "A002", "B001", "V001", "C001", "A003"]


def test_kill_during_a_burst_loses_no_acknowledged_ticket(server):
    """Tickets acknowledged up to the moment of SIGKILL are all there after restart; no number is reused."""
    server.start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def kiosk():
        with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
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
    with httpx.Client(base_url=server.url, headers=server.auth(), timeout=5) as c:
        waiting = {t["ticket"] for t in c.get(f"{API}/state").json()["services"][1]["tickets"]}
        assert set(acknowledged) <= waiting
        fresh = c.post(f"{API}/tickets", json={"service": "B"}).json()["ticket"]
    assert fresh not in waiting and int(fresh[1:]) == len(waiting) + 1
