"""Alembic migrations: the migrated schema is the models' on both engines, and old databases are adopted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import server.app  # noqa: F401 -- every module with tables the server uses
from server.accounts import TABLES as ACCOUNT_TABLES
from server.core.events import event
from server.migrations import current, head, upgrade
from server.store import EventRow, IdempotencyRow, Store, make_engine
from tests.serverkit import database_url

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


@pytest.fixture
def url(tmp_path):
    return database_url(tmp_path) or f"sqlite:///{tmp_path / 'branchq.db'}"


def test_the_migrated_schema_is_exactly_the_models(url):
    """Upgrading an empty database to head gives the tables, columns, types and indexes the models declare."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert differences == []
        assert current(engine) == head()
        upgrade(engine)  # again: nothing to do, no error
        assert current(engine) == head()
    finally:
        engine.dispose()


def test_a_database_from_before_migrations_is_adopted_with_its_events(url):
    """Tables made by the old create_all calls (events, accounts), without a version, are adopted: events kept."""
    engine = make_engine(url)
    tables = [EventRow.__table__, IdempotencyRow.__table__, *ACCOUNT_TABLES]  # type: ignore[attr-defined]
    SQLModel.metadata.create_all(engine, tables=tables)
    engine.dispose()
    store = Store(url)
    try:
        ev = event(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), "ticket_issued", ticket="A001", service="A")
        store.append("demo", 1, [ev])
        store.migrate()
        assert current(store.engine) == head()
        assert list(store.payloads("demo")) == [ev.to_json()]
    finally:
        store.close()
