"""SQLite's write-ahead log is copied back in small steps: no action waits for a big checkpoint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from server.core.events import event
from server.store import WAL_CHECKPOINT_PAGES, Remembered, Store

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def test_sqlite_keeps_its_write_ahead_log_small(tmp_path):
    """A rush of keyed actions leaves SQLite's log near WAL_CHECKPOINT_PAGES, so no commit copies a big one back."""
    path = tmp_path / "branchq.db"
    store = Store(f"sqlite:///{path}")
    try:
        store.migrate()
        for i in range(1, 1501):
            issued = event(T0 + timedelta(seconds=i), "ticket_issued", ticket=f"A{i:03d}", service="A",
                           channel="kiosk")
            store.append("demo", i, [issued], remember=(f"key-{i}", Remembered("POST tickets A", 201, {"n": i})))
        wal = path.with_name(path.name + "-wal").stat().st_size
        page = store.engine.raw_connection().driver_connection.execute("PRAGMA page_size").fetchone()[0]
    finally:
        store.close()
    assert wal <= 2 * WAL_CHECKPOINT_PAGES * (page + 24)  # each WAL frame: a page and a 24-byte header
