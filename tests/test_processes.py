"""Several real server processes on one database: the store, not a lock in one process, keeps each branch right.

Two `branchq serve` processes share a database (PostgreSQL, and a SQLite file
for the invariants), as behind a load balancer; each test fires requests at
the same moment through both, then checks the answers and the stored log. The
processes are started once per engine; each test has a branch of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from server.accounts import Accounts
from server.core.events import LogReader
from server.core.state import BranchState
from server.store import Store
from tests.serverkit import Server, bearer, free_port, pg_schema_url

TELLERS = 20
BRANCHES = ("tellers", "kiosks", "booking", "reads")


def _config(folder: Path, branch: str) -> Path:
    """A branch with twenty counters serving A and B (the demo has five)."""
    lines = [f'branch = "{branch}"', 'name = "大支行"', 'timezone = "Asia/Shanghai"']
    for sid, name in (("A", "现金"), ("B", "个人")):
        lines += ["[[services]]", f'id = "{sid}"', f'name = "{name}"', f'prefix = "{sid}"', "priority = 1"]
    for i in range(1, TELLERS + 1):
        lines += ["[[counters]]", f'id = "{i}"', f'name = "{i}号窗口"', 'services = ["A", "B"]']
    path = folder / f"{branch}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Cluster:
    def __init__(self, engine: str, url: str, servers: list[Server], headers: dict[str, str]) -> None:
        self.engine, self.url, self.servers, self.headers = engine, url, servers, headers

    def api(self, i: int, branch: str) -> str:
        return f"{self.servers[i % len(self.servers)].url}/api/v1/branches/{branch}"

    def client(self, i: int, branch: str) -> httpx.Client:
        """A client of process i % 2 for `branch`, signed in as the cluster's admin."""
        return httpx.Client(base_url=self.api(i, branch), headers=self.headers, timeout=30)

    def at_once(self, branch: str, n: int, send: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
        """n clients, alternating between the processes, each sending one request at the same moment."""
        clients = [self.client(i, branch) for i in range(n)]
        for c in clients:
            c.get("/services")  # connected before the barrier, so the requests themselves start together
        barrier, answers = threading.Barrier(n), [None] * n

        def run(i: int) -> None:
            barrier.wait()
            answers[i] = send(clients[i], i)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for c in clients:
            c.close()
        return answers  # type: ignore[return-value]

    def stored(self, branch: str) -> tuple[BranchState, list[int]]:
        """Fold the exported log (every event must fit the ones before); the state it gives and the stored seqs."""
        with self.client(0, branch) as c:
            text = c.get("/events").text
        state = BranchState().apply_all(ev for _, ev in LogReader().read(text.splitlines()))
        store = Store(self.url)
        try:
            return state, [seq for seq, _ in store.events(branch)]
        finally:
            store.close()

    def lost_races(self, branch: str) -> int:
        return sum(httpx.get(f"{s.url}/api/v1/health", headers=self.headers).json()["lost_races"][branch]
                   for s in self.servers)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two server processes on one database (PostgreSQL: skipped without one, an error in CI)."""
    folder = tmp_path_factory.mktemp("cluster")
    if request.param == "postgresql":
        url = pg_schema_url(request.getfixturevalue("pg_test_database"), folder)
    else:
        url = f"sqlite:///{folder / 'branchq.db'}"
    configs = [_config(folder, b) for b in BRANCHES]
    headers = _admin(url)
    servers = [Server(folder / f"p{i}", free_port(), database=url, config=configs,
                      env={"BRANCHQ_ESTIMATOR": "false"}) for i in range(2)]  # the store's work, not the estimator's
    try:
        for s in servers:
            s.start()
        yield Cluster(request.param, url, servers, headers)
    finally:
        for s in servers:
            if s.proc and s.proc.poll() is None:
                s.kill()


def _admin(url: str) -> dict[str, str]:
    """Bearer headers of an admin made in the shared database (sessions are valid in every process)."""
    store = Store(url)
    try:
        store.migrate()
        accounts = Accounts(store.engine, lambda: datetime.now(UTC))
        accounts.add_user("admin", "admin")
        return bearer(accounts.open_session("admin").token)
    finally:
        store.close()


def test_twenty_tellers_at_once_never_call_the_same_ticket(cluster, record_property):
    """Twenty counters press call-next together through two processes: twenty different tickets are called."""
    issued = cluster.at_once("tellers", 2 * TELLERS, lambda c, i: c.post("/tickets", json={"service": "AB"[i % 2]}))
    assert [r.status_code for r in issued] == [201] * (2 * TELLERS)
    opened = cluster.at_once("tellers", TELLERS, lambda c, i: c.post(f"/counters/{i + 1}/open"))
    assert [r.status_code for r in opened] == [200] * TELLERS
    called = cluster.at_once("tellers", TELLERS, lambda c, i: c.post(f"/counters/{i + 1}/call-next"))
    assert [r.status_code for r in called] == [200] * TELLERS, [r.text for r in called if r.status_code != 200]
    tickets = [r.json()["ticket"] for r in called]
    assert len(set(tickets)) == TELLERS
    state, seqs = cluster.stored("tellers")
    assert seqs == list(range(1, len(seqs) + 1)) and state.seq == len(seqs)
    assert sorted(c.ticket for c in state.counters.values()) == sorted(tickets)
    record_property(f"lost_races_{cluster.engine}", cluster.lost_races("tellers"))


def test_ten_kiosks_at_once_never_get_the_same_number(cluster):
    """Ten kiosks issue together through two processes: ten different numbers, A001 to A010, none lost."""
    issued = cluster.at_once("kiosks", 10, lambda c, i: c.post("/tickets", json={"service": "A"}))
    assert [r.status_code for r in issued] == [201] * 10
    assert sorted(r.json()["ticket"] for r in issued) == [f"A{n:03d}" for n in range(1, 11)]
    state, seqs = cluster.stored("kiosks")
    assert seqs == list(range(1, len(seqs) + 1)) and state.last_number == {"A": 10}
    assert len(state.waiting("A")) == 10


def test_a_counter_cannot_be_double_booked(cluster):
    """Two tellers press call-next on one counter through different processes: one call, one 409 naming it."""
    for i in range(3):
        with cluster.client(i, "booking") as c:
            assert c.post("/tickets", json={"service": "A"}).status_code == 201
    with cluster.client(0, "booking") as c:
        assert c.post("/counters/7/open").status_code == 200
    answers = cluster.at_once("booking", 2, lambda c, i: c.post("/counters/7/call-next"))
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert next(r for r in answers if r.status_code == 200).json()["ticket"] == "A001"
    refused = next(r for r in answers if r.status_code == 409).json()
    assert "Counter 7" in refused["message"] and "closed" not in refused["message"], refused
    state, _ = cluster.stored("booking")
    assert state.counters["7"].ticket == "A001" and state.tickets["A002"].status == "waiting"


def test_what_a_read_in_one_process_shows_of_another(cluster):
    """PostgreSQL: process B's very next read shows what A acknowledged; SQLite: B shows it from its next action."""
    with cluster.client(0, "reads") as a, cluster.client(1, "reads") as b:
        for n in range(1, 6):
            ticket = a.post("/tickets", json={"service": "B"}).json()["ticket"]
            if cluster.engine == "postgresql":
                assert b.get(f"/tickets/{ticket}").status_code == 200
                assert len(b.get("/state").json()["services"][1]["tickets"]) == n
        opened = b.post("/counters/3/open").json()
        assert opened["seq"] == len(cluster.stored("reads")[1]) == 7  # B decided on A's history: config, 5 tickets, open
        assert len(b.get("/state").json()["services"][1]["tickets"]) == 5
