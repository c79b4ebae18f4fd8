"""Durable storage of each branch's event log (SQLModel tables; a lean DB-API path for the hot calls).

The log is the truth: state is rebuilt by folding it. Each event row keeps the
event's JSON line exactly as the spec writes it, so an export is the payloads
in order, byte for byte, on every database.

Appending takes the branch's next `seq`; UNIQUE(branch, seq) makes a second
writer with the same idea of "next" fail with SeqConflict instead of forking
the history. Several server processes may write one branch (PostgreSQL behind
a load balancer), and `branchq import` may write while a server runs: the
loser catches up from the store and decides again (BranchService._execute
explains why this optimistic scheme and not row locks). The database, not a
lock in one process, is what keeps the log linear.

Hot calls (append, catch-up reads) skip SQLAlchemy: a DB-API connection is
kept open and used by one thread at a time (SQLite: one for the process;
PostgreSQL: one per writer thread, so commits of different branches run side
by side and the database groups their fsyncs). SQLite: two prepared INSERTs and a
commit (~25 us instead of ~125 us). PostgreSQL: ONE autocommit statement per
action (events and the Idempotency-Key's answer in a single INSERT ... WITH),
so an action costs one round trip and one commit, which is atomic by itself.
Exports, loads and the rest go through SQLAlchemy core.
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

from sqlalchemy import Engine, UniqueConstraint, event, func, select
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
WAL_CHECKPOINT_PAGES = 200  # SQLite's checkpoint at commit, past this many log pages (see _sqlite_pragmas)
ONE_STATEMENT_ROWS = 200  # larger appends (imports) go as a transaction of batched INSERTs


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
    # The commit that crosses WAL_CHECKPOINT_PAGES of log copies them back into
    # the database and fsyncs: SQLite's default of 1,000 pages (~5 pages per
    # action) cost that commit ~5-7 ms once in ~200 actions, most of the actions
    # slower than 2 ms at one connection. At 200 pages it costs ~2.5 ms once in
    # ~40: ticket issue's p99 at one connection (5-second runs shaped like
    # bench/server.py's) went from 4.6-6.1 ms to 3.8-4.1 ms in four interleaved
    # pairs of runs. A PASSIVE checkpoint
    # thread (SQLite's at 4,000 pages as a backstop) was measured too: on two
    # cores its copying competed with the actions, p50 rose 0.1-0.4 ms and p99
    # was no better, so it is not done.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cur.execute("PRAGMA busy_timeout=5000")  # another process (import) briefly holds the write lock
    cur.close()


class Store:
    """Events and idempotency records of every branch in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sqlite = url.startswith("sqlite")
        # Several server processes may share a PostgreSQL database; a SQLite
        # file has one server (other writers, like `branchq import`, are rare
        # and caught by SeqConflict). BranchService reads what others wrote
        # before each decision and each answer only when the store is shared.
        self.shared = not self._sqlite
        self._one_conn = _Kept()  # SQLite: one connection for every thread
        self._per_thread = threading.local()  # PostgreSQL: one per thread
        self._kept: list[_Kept] = [self._one_conn]
        self._kept_lock = threading.Lock()

    def migrate(self) -> None:
        """Bring the schema to the newest revision (server/migrations); a no-op when it is there."""
        from server.migrations import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        with self._kept_lock:
            for kept in self._kept:
                with kept.lock:
                    if kept.raw is not None:
                        kept.raw.close()
                        kept.raw = None
        self.engine.dispose()

    def _hot(self) -> _Kept:
        """The calling thread's kept connection slot (hold its lock while using it)."""
        if self._sqlite:
            return self._one_conn
        kept: _Kept | None = getattr(self._per_thread, "kept", None)
        if kept is None:
            kept = self._per_thread.kept = _Kept()
            with self._kept_lock:
                self._kept.append(kept)
        return kept

    def _connection(self, kept: _Kept) -> Any:
        """The slot's DB-API connection (its lock held); opened on first use or after a failure."""
        if kept.raw is None:
            raw = self.engine.raw_connection()  # with make_engine's pragmas
            if not self._sqlite:
                raw.driver_connection.autocommit = True  # one statement = one transaction
            kept.raw = raw
        return kept.raw

    @staticmethod
    def _drop_connection(kept: _Kept) -> None:
        """Forget a connection that failed (a restarted database): the next call opens a new one."""
        if kept.raw is not None:
            try:
                kept.raw.invalidate()
            finally:
                kept.raw = None

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
        rows = [(branch, first_seq + i, _utc(ev.ts), ev.type, ev.to_json(), actor) for i, ev in enumerate(events)]
        if not rows and remember is None:
            return  # e.g. a day close-out another process already wrote
        answer = None
        if remember is not None:
            key, r = remember
            answer = (branch, key, r.request, r.status, json.dumps(r.response, ensure_ascii=False),
                      first_seq + len(events) - 1)
        kept = self._hot()
        with kept.lock:
            conn = self._connection(kept)
            if self._sqlite:
                self._append_sqlite(conn, rows, answer)
            else:
                self._append_postgres(kept, rows, answer)

    def _append_sqlite(self, conn: Any, rows: list[tuple[Any, ...]], answer: tuple[Any, ...] | None) -> None:
        try:
            # The driver opens the transaction before the first INSERT;
            # commit() makes events and the answer durable together.
            if rows:
                conn.executemany(_INSERT_EVENT.replace("%s", "?"), [_sqlite_row(r) for r in rows])
            if answer is not None:
                conn.execute(_INSERT_ANSWER.replace("%s", "?"), answer)
            conn.commit()
        except sqlite3.IntegrityError as exc:
            conn.rollback()
            raise _conflict(str(exc)) from None
        except BaseException:
            conn.rollback()
            raise

    def _append_postgres(self, kept: _Kept, rows: list[tuple[Any, ...]], answer: tuple[Any, ...] | None) -> None:
        import psycopg  # only with the postgres extra

        pg = kept.raw.driver_connection
        try:
            if len(rows) <= ONE_STATEMENT_ROWS:
                sql, params = _one_statement(rows, answer)
                pg.execute(sql, params)
            else:
                with pg.transaction(), pg.cursor() as cur:
                    cur.executemany(_INSERT_EVENT, rows)
                    if answer is not None:
                        cur.execute(_INSERT_ANSWER, answer)
        except psycopg.errors.UniqueViolation as exc:
            raise _conflict(exc.diag.constraint_name or str(exc)) from None
        except psycopg.OperationalError:
            self._drop_connection(kept)
            raise

    # ------------------------------------------------------------------- reads
    def events(self, branch: str, after_seq: int = 0) -> list[tuple[int, Event]]:
        """The branch's events with seq > after_seq, in order (the hot path's catch-up read)."""
        sql = "SELECT seq, payload FROM events WHERE branch = %s AND seq > %s ORDER BY seq"
        kept = self._hot()
        with kept.lock:
            conn = self._connection(kept)
            try:
                if self._sqlite:
                    rows = conn.execute(sql.replace("%s", "?"), (branch, after_seq)).fetchall()
                else:
                    rows = conn.driver_connection.execute(sql, (branch, after_seq)).fetchall()
            except Exception:
                self._drop_connection(kept)
                raise
        return [(seq, _decode(payload)) for seq, payload in rows]

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


class _Kept:
    """A DB-API connection kept open for the hot path, and the lock of whoever uses it."""

    def __init__(self) -> None:
        self.raw: Any = None  # a SQLAlchemy pool proxy; .driver_connection is sqlite3's or psycopg's
        self.lock = threading.Lock()


_EVENT_COLUMNS = "(branch, seq, ts, type, payload, actor)"
_INSERT_EVENT = f"INSERT INTO events {_EVENT_COLUMNS} VALUES (%s, %s, %s, %s, %s, %s)"
_INSERT_ANSWER = "INSERT INTO idempotency (branch, key, request, status, response, seq) VALUES (%s, %s, %s, %s, %s, %s)"


def _one_statement(rows: list[tuple[Any, ...]], answer: tuple[Any, ...] | None) -> tuple[str, list[Any]]:
    """One PostgreSQL statement storing the events and the answer: atomic without BEGIN/COMMIT round trips."""
    params = [v for row in rows for v in row]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    events_sql = f"INSERT INTO events {_EVENT_COLUMNS} VALUES {values}"
    if answer is None:
        return events_sql, params
    if not rows:
        return _INSERT_ANSWER, list(answer)
    # A data-modifying WITH runs whether or not it is referenced; both inserts
    # succeed or the statement fails as a whole.
    return f"WITH stored AS ({events_sql}) {_INSERT_ANSWER}", params + list(answer)


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The text SQLAlchemy's DateTime writes on SQLite, so its range queries match."""
    branch, seq, ts, type_, payload, actor = row
    return branch, seq, ts.strftime("%Y-%m-%d %H:%M:%S.%f"), type_, payload, actor


def _utc(ts: datetime) -> datetime:
    """Times are stored in UTC so ranges compare the same on every database."""
    return ts.astimezone(UTC)


def _decode(payload: str) -> Event:
    ev = parse_event(json.loads(payload))
    if ev is None:  # stored events were all known types when written
        raise ValueError(f"stored event of unknown type: {payload[:80]}")
    return ev
