"""Alembic's entry point: run migrations on the connection `server.migrations.upgrade` passes in,
or, from the `alembic` command line, on the database the settings name (DATABASE_URL or the data dir)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import server.accounts  # noqa: F401 -- the tables; a module with new tables is imported here too
import server.branch_configs  # noqa: F401
import server.store  # noqa: F401

config = context.config


def run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; Alembic copies the table instead.
    context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    from server.settings import Settings
    from server.store import make_engine

    engine = make_engine(Settings().db_url)
    with engine.begin() as conn:
        run(conn)
    engine.dispose()
