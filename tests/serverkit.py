"""Helpers for the server tests: an app on a fresh SQLite file with a manual clock."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    """A view minus the moment it was rendered, for comparing states."""
    return {k: v for k, v in view.items() if k not in ("at", "estimates_at")}
