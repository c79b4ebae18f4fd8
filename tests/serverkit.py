"""Helpers for the server tests: an app on a fresh database with a manual clock, and credentials.

Every route needs credentials (docs/security.md). `client()` signs its TestClient in
as an admin unless told otherwise; `auth(c, role, ...)` gives the headers of a fresh
principal of any role (a teller signed in to a counter, a kiosk, a display ...).
A `Server` (a real `branchq serve --demo` process) has its demo accounts:
`server.auth("admin")`, `server.auth("teller2")`, `server.token("lobby-demo")`.

The database is SQLite in the data dir, or, when the `engine` fixture runs the
test on PostgreSQL, a schema of its own named after the data dir: two data dirs
in one test are two databases, as with SQLite files.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.core.clock import ManualClock
from server.settings import Settings

with warnings.catch_warnings():  # starlette's note about httpx vs httpx2 is not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API = "/api/v1/branches/demo"
PG_DATABASE_ENV = "BRANCHQ_TEST_PG_DATABASE"  # set by the `engine` fixture (tests/conftest.py)


def database_url(data_dir: Path) -> str | None:
    """The database of a test server using `data_dir`: None for SQLite in it, else its own PostgreSQL schema."""
    base = os.environ.get(PG_DATABASE_ENV)
    if not base:
        return None
    return pg_schema_url(base, data_dir)


def pg_schema_url(database: str, data_dir: Path) -> str:
    """A URL of `database` whose tables live in a schema of their own, named after `data_dir` (created here)."""
    import psycopg

    schema = "t_" + hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    with psycopg.connect(database.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    return f"{database}?options=-csearch_path%3D{schema}"


def use_data_dir(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """Point the CLI (which reads the environment) at the database of `data_dir`."""
    monkeypatch.setenv("BRANCHQ_DATA_DIR", str(data_dir))
    url = database_url(data_dir)
    if url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", url)


@contextlib.contextmanager
def client(data_dir: Path, clock: ManualClock, estimator_factory: Any = None, role: str | None = "admin",
           **settings: Any) -> Iterator[TestClient]:
    """A TestClient whose lifespan runs: the store, hub and demo branch are live inside the block.

    It is signed in as `role` (an admin by default; None: no credentials at all). Sessions
    last a year of the manual clock unless `session_hours` says otherwise.
    Without an estimator_factory the branch runs with no estimator, whatever is installed.
    """
    settings.setdefault("session_hours", 24 * 365)  # tests move the clock by days; expiry has its own tests
    settings.setdefault("database_url", database_url(data_dir))
    app = create_app(Settings(data_dir=data_dir, **settings), clock=clock,
                     estimator_factory=estimator_factory or (lambda config: None))
    with TestClient(app) as c:
        if role is not None:
            c.headers.update(auth(c, role))
        yield c


_names = itertools.count(1)


def token(c: TestClient, role: str, branch: str | list[str] = "demo", counter: str | None = None,
          name: str | None = None) -> str:
    """A fresh session token (admin, manager, teller) or device token (kiosk, display) for `branch`;
    a teller's session is signed in to `counter`."""
    accounts = c.app.state.accounts  # type: ignore[attr-defined]
    name = name or f"{role}-{next(_names)}"
    branches = [branch] if isinstance(branch, str) else branch
    if role in ("kiosk", "display"):
        return str(accounts.add_device(name, role, branches[0]).token)
    accounts.add_user(name, role, branches)
    issued = accounts.open_session(name)
    if counter is not None:
        accounts.choose_counter(accounts.resolve(issued.token), branches[0], counter)
    return str(issued.token)


def auth(c: TestClient, role: str, **kwargs: Any) -> dict[str, str]:
    """Headers for a fresh principal of `role` (see `token`)."""
    return bearer(token(c, role, **kwargs))


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def demo_credentials(data_dir: Path) -> dict[str, Any]:
    """What `branchq serve --demo` made in this data dir: users with passwords, devices with tokens."""
    return json.loads((data_dir / "demo-credentials.json").read_text())  # type: ignore[no-any-return]


def sign_in(base_url: str, data_dir: Path, name: str = "admin") -> dict[str, str]:
    """Bearer headers for a demo user of the server at `base_url` (signs in with the demo password)."""
    password = demo_credentials(data_dir)["users"][name]["password"]
    r = httpx.post(f"{base_url}/api/v1/session", json={"name": name, "password": password}, timeout=10)
    assert r.status_code == 201, r.text
    return bearer(r.json()["token"])


def stored_events(c: TestClient, branch: str = "demo") -> list[str]:
    """The branch's stored log, line by line (what an export gives)."""
    r = c.get(f"/api/v1/branches/{branch}/events")
    assert r.status_code == 200
    return r.text.splitlines()


def without_times(view: dict[str, Any]) -> dict[str, Any]:
    """A view minus the moment it was rendered and the estimates made then, for comparing states."""
    out = {k: v for k, v in view.items() if k not in ("at", "estimates_at")}
    out["counters"] = [{k: v for k, v in c.items() if k != "estimate"} for c in view["counters"]]
    out["services"] = [
        {**{k: v for k, v in s.items() if k != "join"},
         "tickets": [{k: v for k, v in t.items() if k != "wait"} for t in s["tickets"]]}
        for s in view["services"]
    ]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`branchq serve --demo` on a data dir, started and killed like in production."""

    def __init__(self, data_dir: Path, port: int, database: str | None = None, config: list[Path] | None = None,
                 env: dict[str, str] | None = None, name: str = "server") -> None:
        """`database`: a URL shared with other servers (default: the data dir's own); `config`: files instead of --demo;
        `env`: more variables (e.g. REDIS_URL); `name`: its log file's, when several servers share a data dir."""
        self.data_dir, self.port = data_dir, port
        self.database, self.config, self.env, self.name = database, config, env or {}, name
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self._auth: dict[str, dict[str, str]] = {}

    def auth(self, name: str = "admin") -> dict[str, str]:
        """Bearer headers of a demo user (signed in once per Server, kept across restarts)."""
        if name not in self._auth:
            self._auth[name] = sign_in(self.url, self.data_dir, name)
        return self._auth[name]

    def token(self, device: str) -> str:
        """A demo device's token: "kiosk-demo", "lobby-demo", "counter-demo-3"."""
        return str(demo_credentials(self.data_dir)["devices"][device]["token"])

    def start(self):
        env = {**os.environ, "BRANCHQ_DATA_DIR": str(self.data_dir), **self.env}
        env.pop("DATABASE_URL", None)
        if "REDIS_URL" not in self.env:
            env.pop("REDIS_URL", None)  # the test's own Redis or none, never the caller's
        url = self.database or database_url(self.data_dir)
        if url is not None:
            env["DATABASE_URL"] = url
        if self.config is not None:
            env["BRANCHQ_BRANCH_CONFIGS"] = json.dumps([str(p) for p in self.config])
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / f"{self.name}.log"  # a file, not a pipe nobody reads (a full pipe would block it)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", *([] if self.config else ["--demo"]),
                 "--port", str(self.port)],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60  # a loaded 2-core CI machine takes seconds to import numpy & co.
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        pytest.fail(f"server did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture(name="server")
def demo_server_process(tmp_path: Path) -> Iterator[Server]:
    """A `branchq serve --demo` process on its own data dir and port (not started); killed after the test.

    Test modules that run real server processes import it: `from tests.serverkit import demo_server_process`.
    """
    s = Server(tmp_path / "data", free_port())
    yield s
    if s.proc and s.proc.poll() is None:
        s.kill()
