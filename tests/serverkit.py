"""Helpers for the server tests: an app on a fresh SQLite file with a manual clock."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def client(data_dir: Path, clock: ManualClock, estimator_factory: Any = None, **settings: Any) -> Iterator[TestClient]:
    """A TestClient whose lifespan runs: the store, hub and demo branch are live inside the block.

    Without an estimator_factory the branch runs with no estimator, whatever is installed.
    """
    app = create_app(Settings(data_dir=data_dir, **settings), clock=clock,
                     estimator_factory=estimator_factory or (lambda config: None))
    with TestClient(app) as c:
        yield c


def stored_events(c: TestClient) -> list[str]:
    """The branch's stored log, line by line (what an export gives)."""
    r = c.get(f"{API}/events")
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

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self):
        env = {**os.environ, "BRANCHQ_DATA_DIR": str(self.data_dir)}
        env.pop("DATABASE_URL", None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / "server.log"  # a file, not a pipe nobody reads (a full pipe would block it)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--demo", "--port", str(self.port)],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
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
