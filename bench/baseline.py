"""What the benchmarks' bare baselines share: SQLModel's tutorial engine on SQLite, in WAL mode as branchq's is.

(branchq also checkpoints its log every 200 pages, server/store.py; the bare
baseline keeps SQLite's default of 1,000, as the tutorial would.)
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, event
from sqlmodel import create_engine


def bare_sqlite_engine(path: Path) -> Engine:
    """An engine on `path` in WAL mode with synchronous=NORMAL, the durability branchq's store has (a fair baseline)."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _):  # type: ignore[no-untyped-def]
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")

    return engine
