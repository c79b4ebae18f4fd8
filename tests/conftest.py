"""Shared fixtures: the demo config, a manual clock, the shared example log, the storage engines."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from server.core.clock import ManualClock
from server.core.config import BranchConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = timezone(timedelta(hours=8))


def _shared() -> Path:
    """The shared folder beside the checkout (as laid for sessions and CI)."""
    return ROOT.parent / "shared"


@pytest.fixture
def demo_config() -> BranchConfig:
    return load_config(ROOT / "server" / "branches" / "demo.toml")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def demo_day_log() -> Path:
    path = _shared() / "examples" / "demo-day.jsonl"
    if not path.exists():
        pytest.fail(f"the shared example log is missing: {path.name} (shared/examples beside the checkout)")
    return path


# --------------------------------------------------------------- services
# PostgreSQL and Redis are never needed on a fresh machine: there a test that
# needs one is skipped, saying why. CI (.ci/run) sets BRANCHQ_REQUIRE_SERVICES=1,
# and then an unreachable service fails the test instead: in CI it always runs.

PG_ADMIN_URL = os.environ.get("BRANCHQ_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("BRANCHQ_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (fresh machine) or fail (CI) when a service a test needs does not answer."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("BRANCHQ_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (BRANCHQ_REQUIRE_SERVICES=1: CI must provide it)")
    pytest.skip(message + " (CI provides it; set BRANCHQ_REQUIRE_SERVICES=1 to make this an error)")


@pytest.fixture
def redis_url() -> str:
    """The test Redis (skipped on a machine without one, an error in CI); use a random key prefix."""
    parts = urlsplit(REDIS_TEST_URL)
    need_service("Redis", parts.hostname or "127.0.0.1", parts.port or 6379)
    return REDIS_TEST_URL


@pytest.fixture
def pg_admin_url() -> str:
    """A PostgreSQL URL to create throw-away databases from (skipped without one, an error in CI)."""
    parts = urlsplit(PG_ADMIN_URL.replace("+psycopg", ""))
    need_service("PostgreSQL", parts.hostname or "127.0.0.1", parts.port or 5432)
    return PG_ADMIN_URL


# --------------------------------------------------------------- storage engines
# A test module that touches storage says `pytestmark = pytest.mark.usefixtures("engine")`
# and runs once per engine. On PostgreSQL every data dir a test uses gets its own
# schema in one randomly named database per session (tests/serverkit.py), so
# sessions of several engineers, and tests within one, never see each other's rows.

PG_DATABASE_ENV = "BRANCHQ_TEST_PG_DATABASE"  # read by tests/serverkit.py: the session's database


@pytest.fixture(scope="session")
def pg_test_database() -> Iterator[str]:
    """A PostgreSQL database of this test session, with a random name, dropped at the end."""
    import psycopg

    parts = urlsplit(PG_ADMIN_URL.replace("+psycopg", ""))
    need_service("PostgreSQL", parts.hostname or "127.0.0.1", parts.port or 5432)
    name = f"branchq_test_{secrets.token_hex(6)}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The storage engine this run of the test uses (PostgreSQL: skipped without one, an error in CI)."""
    if request.param == "postgresql":
        monkeypatch.setenv(PG_DATABASE_ENV, request.getfixturevalue("pg_test_database"))
    else:
        monkeypatch.delenv(PG_DATABASE_ENV, raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return request.param
