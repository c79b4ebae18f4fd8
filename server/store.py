"""Durable storage of each branch's event log (SQLModel tables, SQLAlchemy core on the hot path).

The log is the truth: state is rebuilt by folding it. Each event row keeps the
event's JSON line exactly as the spec writes it, so an export is the payloads
in order.

Appending takes the branch's next `seq`; UNIQUE(branch, seq) makes a second
writer with the same idea of "next" fail with an IntegrityError instead of
forking the history. Today one process writes each branch (an asyncio lock in
BranchService), so the error only appears if another process, e.g. `branchq
import` or a second server (issue 4), wrote meanwhile: the service then catches
up from the store and decides again. The database, not a lock in one process,
is what keeps the log linear.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, UniqueConstraint, event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, create_engine

from server.core.events import Event, parse_event


class EventRow(SQLModel, table=True):
    """One event of one branch; `payload` is its JSON line (spec v1.1)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("branch", "seq", name="uq_events_branch_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    branch: str = Field(max_length=64)
    seq: int
    ts: datetime = Field(index=True)  # UTC; for time-range exports
    type: str = Field(max_length=32)
    payload: str
    actor: str | None = Field(default=None, max_length=128)  # who caused it (issue 5 fills it)


class IdempotencyRow(SQLModel, table=True):
    """The answer given to a request that carried an Idempotency-Key."""

    __tablename__ = "idempotency"

    branch: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=128)
    request: str = Field(max_length=512)  # method and path: a key reused elsewhere is an error
    status: int
    response: str  # JSON
    seq: int  # the branch's seq after the action (for cleanup and audit)


class SeqConflict(Exception):
    """Another writer appended to this branch first; catch up and decide again."""


class KeyTaken(Exception):
    """The Idempotency-Key already has a stored answer (older than the service remembers)."""


def _conflict(message: str) -> Exception:
    """Which unique rule a failed append broke: the idempotency key's or the event seq's."""
    return KeyTaken(message) if "idempotency" in message else SeqConflict(message)


@dataclass(frozen=True)
class Remembered:
    request: str
    status: int
    response: dict[str, Any]


_EVENTS = EventRow.__table__  # type: ignore[attr-defined]
_IDEM = IdempotencyRow.__table__  # type: ignore[attr-defined]


def make_engine(url: str) -> Engine:
    """An engine; for SQLite the file's folder is created and WAL switched on."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL with synchronous=NORMAL: a commit is in the WAL file (the OS page
    # cache) when COMMIT returns, so it survives the process being killed
    # (kill -9, a crash) -- every acknowledged action is kept. What NORMAL
    # gives up is the fsync per commit: a power cut or kernel panic may lose
    # the last commits. FULL would cost an fsync (milliseconds) per action;
    # a branch that needs power-loss safety sets synchronous=FULL here.
    # SQLite's automatic checkpoint stays on: the commit that crosses 1,000 WAL
    # pages copies them back and fsyncs (~5 ms, about one commit in 200 under
    # a benchmark rush; never noticed at a branch's pace). Moving it to a
    # PASSIVE checkpoint thread was measured and let the WAL grow without
    # bound under continuous writes, so it is not done.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")  # another process (import) briefly holds the write lock
    cur.close()


class Store:
    """Events and idempotency records of every branch in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # SQLite's hot path skips SQLAlchemy: one DB-API connection kept open,
        # two prepared INSERTs and a commit (~25 us instead of ~125 us per
        # action). Other databases go through SQLAlchemy core.
        self._sqlite = url.startswith("sqlite")
        self._raw: Any = None
        self._raw_lock = threading.Lock()

    def create_all(self) -> None:
        SQLModel.metadata.create_all(self.engine, tables=[_EVENTS, _IDEM])

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()

    # ------------------------------------------------------------------ writes
    def append(
        self,
        branch: str,
        first_seq: int,
        events: list[Event],
        actor: str | None = None,
        remember: tuple[str, Remembered] | None = None,
    ) -> None:
        """Store `events` as seq first_seq, first_seq+1, ... and the idempotent answer, in ONE transaction.

        Raises SeqConflict if any of those seqs is taken (someone else wrote),
        KeyTaken if the Idempotency-Key already has an answer; then nothing is stored.
        """
        if self._sqlite:
            return self._append_sqlite(branch, first_seq, events, actor, remember)
        rows = [
            {"branch": branch, "seq": first_seq + i, "ts": _utc(ev.ts), "type": ev.type,
             "payload": ev.to_json(), "actor": actor}
            for i, ev in enumerate(events)
        ]
        try:
            with self.engine.begin() as conn:
                if rows:
                    conn.execute(insert(_EVENTS), rows)
                if remember is not None:
                    key, r = remember
                    conn.execute(insert(_IDEM), {
                        "branch": branch, "key": key, "request": r.request, "status": r.status,
                        "response": json.dumps(r.response, ensure_ascii=False),
                        "seq": first_seq + len(events) - 1,
                    })
        except IntegrityError as exc:
            raise _conflict(str(exc.orig)) from None

    def _append_sqlite(self, branch: str, first_seq: int, events: list[Event], actor: str | None,
                       remember: tuple[str, Remembered] | None) -> None:
        rows = [(branch, first_seq + i, _sqlite_ts(ev.ts), ev.type, ev.to_json(), actor) for i, ev in enumerate(events)]
        with self._raw_lock:
            if self._raw is None:
                self._raw = self.engine.raw_connection()  # with the WAL pragmas of make_engine
            conn = self._raw
            try:
                # The driver opens the transaction before the first INSERT;
                # commit() makes events and the answer durable together.
                if rows:
                    conn.executemany(_SQLITE_EVENT, rows)
                if remember is not None:
                    key, r = remember
                    conn.execute(_SQLITE_IDEM, (branch, key, r.request, r.status,
                                                json.dumps(r.response, ensure_ascii=False),
                                                first_seq + len(events) - 1))
                conn.commit()
            except sqlite3.IntegrityError as exc:
                conn.rollback()
                raise _conflict(str(exc)) from None
            except BaseException:
                conn.rollback()
                raise

    # ------------------------------------------------------------------- reads
    def events(self, branch: str, after_seq: int = 0) -> list[tuple[int, Event]]:
        """The branch's events with seq > after_seq, in order."""
        q = select(_EVENTS.c.seq, _EVENTS.c.payload).where(
            _EVENTS.c.branch == branch, _EVENTS.c.seq > after_seq
        ).order_by(_EVENTS.c.seq)
        with self.engine.connect() as conn:
            return [(seq, _decode(payload)) for seq, payload in conn.execute(q)]

    def payloads(self, branch: str, start: datetime | None = None, end: datetime | None = None) -> Iterator[str]:
        """JSON lines of the branch's events in seq order, optionally within [start, end)."""
        q = select(_EVENTS.c.payload).where(_EVENTS.c.branch == branch)
        if start is not None:
            q = q.where(_EVENTS.c.ts >= _utc(start))
        if end is not None:
            q = q.where(_EVENTS.c.ts < _utc(end))
        with self.engine.connect() as conn:
            for (payload,) in conn.execute(q.order_by(_EVENTS.c.seq)).yield_per(1000):
                yield payload

    def audit(self, branch: str, start: datetime | None = None,
              end: datetime | None = None) -> Iterator[tuple[int, str | None, str]]:
        """(seq, actor, payload) of the branch's events in seq order, optionally within [start, end)."""
        q = select(_EVENTS.c.seq, _EVENTS.c.actor, _EVENTS.c.payload).where(_EVENTS.c.branch == branch)
        if start is not None:
            q = q.where(_EVENTS.c.ts >= _utc(start))
        if end is not None:
            q = q.where(_EVENTS.c.ts < _utc(end))
        with self.engine.connect() as conn:
            yield from conn.execute(q.order_by(_EVENTS.c.seq)).yield_per(1000)

    def last_seq(self, branch: str) -> int:
        q = select(func.max(_EVENTS.c.seq)).where(_EVENTS.c.branch == branch)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar() or 0

    def recent_keys(self, branch: str, limit: int) -> list[tuple[str, Remembered]]:
        """The branch's latest Idempotency-Key answers, oldest first (to remember after a restart)."""
        q = select(_IDEM.c.key, _IDEM.c.request, _IDEM.c.status, _IDEM.c.response).where(
            _IDEM.c.branch == branch).order_by(_IDEM.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [(r.key, Remembered(r.request, r.status, json.loads(r.response))) for r in reversed(rows)]

    def recall(self, branch: str, key: str) -> Remembered | None:
        """The stored answer for an Idempotency-Key, if this key was used."""
        q = select(_IDEM.c.request, _IDEM.c.status, _IDEM.c.response).where(
            _IDEM.c.branch == branch, _IDEM.c.key == key
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return Remembered(row.request, row.status, json.loads(row.response)) if row else None


_SQLITE_EVENT = "INSERT INTO events (branch, seq, ts, type, payload, actor) VALUES (?, ?, ?, ?, ?, ?)"
_SQLITE_IDEM = "INSERT INTO idempotency (branch, key, request, status, response, seq) VALUES (?, ?, ?, ?, ?, ?)"


def _sqlite_ts(ts: datetime) -> str:
    """The text SQLAlchemy's DateTime writes on SQLite (UTC), so its range queries match."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _utc(ts: datetime) -> datetime:
    """Times are stored in UTC so ranges compare the same on every database."""
    return ts.astimezone(UTC)


def _decode(payload: str) -> Event:
    ev = parse_event(json.loads(payload))
    if ev is None:  # stored events were all known types when written
        raise ValueError(f"stored event of unknown type: {payload[:80]}")
    return ev
