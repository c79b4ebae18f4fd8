"""The store on each engine: byte-exact payloads, one transaction per append, conflicts named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.core.events import event
from server.store import ONE_STATEMENT_ROWS, KeyTaken, Remembered, SeqConflict, Store
from tests.serverkit import database_url

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture
def store(tmp_path):
    s = Store(database_url(tmp_path) or f"sqlite:///{tmp_path / 'branchq.db'}")
    s.migrate()
    yield s
    s.close()


def _issued(i: int, service: str = "A"):
    return event(T0 + timedelta(seconds=i), "ticket_issued", ticket=f"{service}{i:03d}", service=service,
                 channel="kiosk", note="现金/简单业务")


def test_payloads_come_back_byte_for_byte_in_seq_order(store):
    """An export is the stored JSON lines exactly as written, Chinese text included, in seq order."""
    events = [_issued(i) for i in range(1, 4)]
    store.append("demo", 1, events[:2])
    store.append("demo", 3, events[2:])
    assert list(store.payloads("demo")) == [ev.to_json() for ev in events]
    assert [seq for seq, _ in store.events("demo", after_seq=1)] == [2, 3]


def test_a_taken_seq_is_a_conflict_and_stores_nothing_of_the_loser(store):
    """Two writers with the same idea of 'next': the second gets SeqConflict; neither its events nor its answer stay."""
    store.append("demo", 1, [_issued(1)])
    answer = ("k1", Remembered("POST tickets A", 201, {"ticket": "A002"}))
    with pytest.raises(SeqConflict):
        store.append("demo", 1, [_issued(2), _issued(3)], remember=answer)
    assert store.last_seq("demo") == 1
    assert store.recall("demo", "k1") is None
    store.append("demo", 2, [_issued(2)], remember=answer)  # caught up: the next seq is free
    assert store.recall("demo", "k1") == answer[1]


def test_a_reused_idempotency_key_is_named_and_its_events_are_not_stored(store):
    """A key that already has an answer raises KeyTaken, and the events of that append are rolled back."""
    store.append("demo", 1, [_issued(1)], remember=("k", Remembered("POST tickets A", 201, {"n": 1})))
    with pytest.raises(KeyTaken):
        store.append("demo", 2, [_issued(2)], remember=("k", Remembered("POST tickets A", 201, {"n": 2})))
    assert store.last_seq("demo") == 1


def test_branches_have_their_own_seqs(store):
    """Seq 1 of one branch does not conflict with seq 1 of another, and reads never mix them."""
    store.append("north", 1, [_issued(1)])
    store.append("south", 1, [_issued(1, "B")])
    assert [ev.ticket for _, ev in store.events("south")] == ["B001"]


def test_an_import_sized_append_is_one_transaction(store):
    """More events than one statement takes go in one transaction: all stored, or none after a conflict."""
    many = [_issued(i % 999 + 1) for i in range(ONE_STATEMENT_ROWS + 50)]
    store.append("demo", 1, many)
    assert store.last_seq("demo") == len(many)
    with pytest.raises(SeqConflict):
        store.append("demo", len(many) - 10, many)
    assert store.last_seq("demo") == len(many)


def test_time_ranges_select_by_utc_instant(store):
    """from/to bounds in any timezone select the same events on every engine."""
    store.append("demo", 1, [_issued(i) for i in range(1, 6)])
    start = (T0 + timedelta(seconds=2)).astimezone(UTC)
    end = T0 + timedelta(seconds=4)
    assert len(list(store.payloads("demo", start, end))) == 2


def test_an_empty_append_stores_nothing_and_is_no_error(store):
    """A decision without events (a close-out another process already wrote) stores nothing, on every engine."""
    store.append("demo", 1, [])
    assert store.last_seq("demo") == 0
