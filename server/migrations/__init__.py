"""Schema migrations (Alembic) for SQLite and PostgreSQL, shipped with the package.

`upgrade(engine)` brings a database to the newest revision; the server runs it
at start-up, so an upgraded branchq migrates its database by itself (several
processes starting at once on PostgreSQL take turns on an advisory lock). A
database made before migrations existed (tables, no `alembic_version`) is
recognised and stamped as the baseline first.

Adding a table or a column: change the SQLModel class, import its module in
`env.py` if it is new, then from the checkout's root

    alembic -c server/migrations/alembic.ini revision --autogenerate -m "what and why"

review the generated file under versions/, and run the tests
(tests/test_migrations.py checks that the migrated schema equals the models
on both engines).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
_LOCK = 7_311_412  # pg_advisory_xact_lock key: "branchq migrations"


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest revision, in one transaction."""
    cfg = config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        cfg.attributes["connection"] = conn
        tables = set(inspect(conn).get_table_names())
        if "events" in tables and "alembic_version" not in tables:
            command.stamp(cfg, BASELINE)  # made by create_all before migrations existed
        command.upgrade(cfg, "head")


def current(engine: Engine) -> str | None:
    """The database's revision (None: not migrated yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head() or BASELINE
