"""One branch at run time: decide, persist, apply, publish -- in that order.

`BranchService` wires the pure core (Branch, BranchState, the estimator) to
the store and the hub. Every action of a branch runs under one asyncio lock:
the core decides against the current state, the events are applied, the answer
is computed, and the events plus the Idempotency-Key's answer are committed in
one transaction on the writer thread. Only then are they published and the
answer returned. Reads take the same lock, so nobody ever sees an action that
is not yet stored; if the commit fails, the unstored events are rolled back.

Several processes may serve one branch from a shared store (PostgreSQL).
Each keeps its own state and catches up on what the others stored: before
every decision and every read (one indexed query), and after losing a race
for a seq (see `_execute`). So a read in process B shows every action any
process acknowledged before the read arrived; its own acknowledged actions
are always there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import logging
import pickle
import sqlite3
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from server.core.branch import ACTIONS, Branch, Decision
from server.core.config import BranchConfig
from server.core.errors import BranchError, IllegalAction, InvalidInput, LogError, NotFound
from server.core.estimates import Estimates, EstimatorLike
from server.core.events import Event, LogReader, format_ts
from server.core.state import BranchState
from server.core.view import branch_view, counter_view, service_view, shown_texts, ticket_view
from server.estimator_process import RemoteEstimator
from server.hub import Hub
from server.store import KeyTaken, Remembered, SeqConflict, Store

T = TypeVar("T")
log = logging.getLogger("branchq")
MAX_KEY_LENGTH = 128
REMEMBERED_IN_MEMORY = 1000  # recent Idempotency-Keys answered without a database read
IMPORT_CLOCK_SLACK = timedelta(minutes=5)  # a log from a machine whose clock runs a little fast is not refused
ESTIMATES_MAX_AGE_S = 5.0  # without events, wait texts are recomputed at most this often
CHECKPOINT_EVERY = 500  # stored events between state copies that a rollback starts from (at least; see _stored)
MAX_ATTEMPTS = 50  # an action lost to other writers this often is answered 503 ...
RETRY_BUDGET_S = 3.0  # ... or once it has been retried this long


class StorageUnavailable(Exception):
    """The database refused a write or a read; nothing of the action was applied (HTTP 503)."""

    def __init__(self, message: str = "Storage unavailable, retrying: nothing was changed; "
                                      "please try again in a moment.") -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = "存储暂不可用,正在重试: 本次操作未生效,请稍后再试。"


def _storage_errors() -> tuple[type[Exception], ...]:
    """What the database drivers raise when the database is down, locked, read-only or gone."""
    errors: list[type[Exception]] = [sqlite3.Error, SQLAlchemyError]
    try:
        import psycopg  # only with the postgres extra
    except ImportError:
        pass
    else:
        errors.append(psycopg.Error)
    return tuple(errors)


STORAGE_ERRORS = _storage_errors()


class SystemClock:
    """The wall clock, in the branch's timezone (the core is handed it, never reads it)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


def make_estimator(config: BranchConfig) -> EstimatorLike | None:
    """THE place the estimator plugs in: `server.core.estimator.make_estimator(config)`.

    Until that module exists the screens get no wait texts (estimates are None).
    """
    try:
        from server.core.estimator import make_estimator as make  # type: ignore[attr-defined]
    except ImportError:
        return None
    return make(config)  # type: ignore[no-any-return]


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False  # a repeat of an Idempotency-Key: the stored answer, nothing changed


@dataclass
class BranchService:
    config: BranchConfig
    store: Store
    hub: Hub | None
    clock: Any  # server.core.clock.Clock
    writer: Executor | None = None  # None: write on the calling thread (bench compares both)
    estimator: EstimatorLike | None = None  # in this process: observed and run on the event loop
    estimate_delay: float = 0.3  # after a change, screens get fresh estimates this much later
    remote: RemoteEstimator | None = None  # or in its own process (server/estimator_process.py), as served
    state: BranchState = field(init=False)
    branch: Branch = field(init=False)

    def __post_init__(self) -> None:
        self.id = self.config.branch
        self.lock = asyncio.Lock()
        self._remembered: OrderedDict[str, Remembered] = OrderedDict()
        self._view: tuple[int, Estimates | None, dict[str, Any]] | None = None
        self._estimates: tuple[int, datetime, Estimates | None] | None = None  # (seq made at, when, figures)
        self._refresh: asyncio.TimerHandle | asyncio.Task[None] | None = None  # pending estimate refresh
        self.conflicts = 0  # appends lost to another writer and decided again (GET /health shows them)
        self._synced_at = float("-inf")  # monotonic time of the latest read of the store's head
        self._shown: tuple[Any, ...] | None = None  # shown_texts of the latest view sent to screens
        self._set_state(BranchState())
        self._checkpoint(self.state)

    # ------------------------------------------------------------ loading
    @property
    def estimating(self) -> bool:
        return self.estimator is not None or self.remote is not None

    def load(self) -> None:
        """Fold the branch's whole stored log (live, replay and import share this fold)."""
        state = BranchState()
        log_so_far: list[Event] = []
        for seq, ev in self.store.events(self.id):
            state.apply(ev)
            if state.seq != seq:
                raise RuntimeError(f"branch {self.id}: stored seq {seq} but {state.seq} events folded")
            self._observe(ev, state)
            if self.remote is not None:
                log_so_far.append(ev)
        if self.remote is not None:
            self.remote.open(self.config, log_so_far)
        self._set_state(state)
        self._checkpoint(state)
        self._remembered.clear()
        for key, r in self.store.recent_keys(self.id, REMEMBERED_IN_MEMORY):
            self._remember(key, r)

    def _observe(self, ev: Event, state: BranchState) -> None:
        """Feed the estimator one applied event; its failure is logged, never the branch's."""
        if self.estimator is None:
            return
        try:
            self.estimator.observe(ev, state)
        except Exception:
            log.exception("branch %s: the estimator failed to observe %s", self.id, ev.type)

    def _set_state(self, state: BranchState) -> None:
        self.state = state
        self.branch = Branch(self.config, self.clock, state)
        self._view = None
        if self._estimates is not None:  # still shown until fresh ones come, but no longer counted as current
            self._estimates = (-1, *self._estimates[1:])

    # ------------------------------------------------------------ stored history
    def _checkpoint(self, state: BranchState) -> None:
        """Remember `state` (all of it stored) as the point a rollback starts from."""
        self._base = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        self._since_base: list[Event] = []  # stored events applied after the copy

    def _stored(self, events: list[Event]) -> None:
        """`events`, applied to the state, are now stored: a rollback keeps them, the estimator process learns them."""
        self._since_base.extend(events)
        if self.remote is not None:
            self.remote.feed(self.state.seq - len(events) + 1, events)
        # The copy costs in proportion to the day's tickets (~5 ms for a busy
        # day's state; 20-48 ms with thousands waiting, in bench/server.py's
        # ticket phase, where once per 500 events it was 2.4% of the loop's
        # time), so it is taken once per that many events: a constant cost per
        # event, and a rollback (rare: a failed commit, a race lost to another
        # process) replays at most about as many events as the copy holds.
        if len(self._since_base) >= max(CHECKPOINT_EVERY, len(self.state.tickets)):
            self._checkpoint(self.state)

    def _roll_back(self) -> None:
        """Drop applied events that were not stored (a lost race, a failed commit): no database read.

        The estimator is not told (its online update is statistical and shrugs
        off having seen an action that was then decided again).
        """
        state: BranchState = pickle.loads(self._base)
        for ev in self._since_base:
            state.apply(ev)
        self._set_state(state)

    async def _sync(self) -> None:
        """Fold in what other processes stored after our seq (lock held), and show it to our screens."""
        self._synced_at = time.monotonic()
        newer = await self._run(self.store.events, self.id, self.state.seq)
        if newer:
            self._take_on(self.state.seq + 1, [ev for _, ev in newer])

    def _take_on(self, first: int, events: list[Event]) -> None:
        """Apply events another process stored as seqs first, first+1, ... (lock held); show them to our screens."""
        try:
            self._apply(events)
            if self.state.seq != first + len(events) - 1:
                raise RuntimeError(f"branch {self.id}: stored seq {first + len(events) - 1} "
                                   f"but {self.state.seq} events folded")
        except BaseException:
            self._roll_back()
            raise
        self._stored(events)
        if self.state.config is not None and self.state.config != self.config:
            # Another process recorded a newer set-up (an admin's change): it
            # is in force now; writing ours back would undo it.
            self.config = self.state.config
            self._set_state(self.state)
        self._publish(first, events)

    async def _sync_for_read(self, asked: float) -> None:
        """Catch up before answering a read, unless the store was read after the reader asked (lock held).

        A read that fails to reach the store answers from what this process
        knows (its own acknowledged actions included) rather than not at all.
        """
        if not self.store.shared or self._synced_at >= asked:
            return
        try:
            await self._sync()
        except Exception:
            log.warning("branch %s: could not read newer events from the store; answering from memory",
                        self.id, exc_info=True)

    # ------------------------------------------------------------ other processes
    async def follow(self, first: int, last: int, events: list[Event] | None) -> None:
        """Another process stored seqs first..last (`events`, or None when not attached): take them on.

        They are applied and passed to screens in seq order when they come
        right after ours; after a gap (an announcement lost or overtaken) the
        store is read first, so screens never see a hole. Old news (we caught
        up meanwhile, e.g. after a seq conflict) is ignored.
        """
        async with self.lock:
            if last <= self.state.seq:
                return
            if events is not None and first == self.state.seq + 1:
                self._take_on(first, events)
            else:
                await self._sync()
        self._estimate_soon()

    async def catch_up(self, resync: bool = False) -> None:
        """Fold in events other processes stored (e.g. after a Redis outage); resync: screens take a new snapshot."""
        async with self.lock:
            await self._sync()
            if resync and self.hub is not None:
                self.hub.reset(self.id)
        self._estimate_soon()

    # ------------------------------------------------------------ reads
    async def view(self) -> dict[str, Any]:
        async with self._reading():
            return self.current_view(fresh=False)

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """A read: catch up with the store, bring the estimates up to date without the lock, then hold it."""
        asked = time.monotonic()
        async with self.lock:
            await self._sync_for_read(asked)
        await self.refresh_estimates()
        async with self.lock:
            yield

    def current_view(self, fresh: bool = True) -> dict[str, Any]:
        """The branch view at the current seq (rebuilt on the next event or fresher estimates).

        fresh=False takes the latest estimates as they are, even from an earlier
        seq: actions never wait for the estimator (see _estimate_soon).
        """
        est = self.estimates(fresh)
        if self._view is None or self._view[0] != self.state.seq or self._view[1] is not est:
            self._view = (self.state.seq, est, branch_view(self.config, self.state, self.branch.now(), est))
        return self._view[2]

    def estimates(self, fresh: bool = True) -> Estimates | None:
        """The estimator's figures, made at most once per seq (and every few seconds without events).

        A forward simulation is by far the costliest thing the server runs, so
        actions use the latest figures (fresh=False) and never run it; readers
        (fresh=True) run it once for a new seq and share the result.
        """
        if self.estimator is None:  # none, or in its own process: the latest that came back
            return self._estimates[2] if self._estimates is not None else None
        now = self.branch.now()
        cached = self._estimates
        if not fresh:
            return cached[2] if cached is not None else None
        if self._estimates_current(now):
            return cached[2] if cached is not None else None
        try:
            est: Estimates | None = self.estimator.estimate(self.state, now)
        except Exception:  # a wrong wait text must never cost a ticket or a screen
            log.exception("branch %s: the estimator failed at seq %s; showing no estimates", self.id, self.state.seq)
            est = None
        self._estimates = (self.state.seq, now, est)
        return est

    async def refresh_estimates(self, force: bool = False) -> None:
        """Bring the estimates up to the current seq (at most every ESTIMATES_MAX_AGE_S without events).

        In this process: computed here. In the estimator process: asked for
        and awaited without the lock, so actions go on meanwhile; if the
        child does not know the branch (restarted) or missed events, it is
        sent the whole log from the store and asked again.
        """
        if self.remote is None:
            if force:
                self._estimates = None
            self.estimates()
            return
        now = self.branch.now()
        if not force and self._estimates_current(now):
            return
        answer = await self.remote.estimate(now)
        if answer.needs_open:
            await self._reopen_remote()
            answer = await self.remote.estimate(now)
        if answer.estimates is not None and (self._estimates is None or answer.seq >= self._estimates[0]):
            self._estimates = (answer.seq, now, answer.estimates)

    def _estimates_current(self, now: datetime) -> bool:
        """Made at the current seq, and recently enough (waits age even without events)."""
        cached = self._estimates
        return (cached is not None and cached[0] == self.state.seq
                and (now - cached[1]).total_seconds() < ESTIMATES_MAX_AGE_S)

    async def _reopen_remote(self) -> None:
        """Give the estimator process the branch's whole stored log (lock held: no event slips between)."""
        assert self.remote is not None
        async with self.lock:
            stored = await self._run(lambda: [ev for _, ev in self.store.events(self.id)])
            self.remote.open(self.config, stored)

    async def services(self) -> list[dict[str, Any]]:
        async with self._reading():
            est = self.estimates(fresh=False)
            return [service_view(self.config, self.state, s.id, est) for s in self.config.services]

    async def ticket(self, number: str) -> dict[str, Any]:
        async with self._reading():
            if number not in self.state.tickets:
                raise NotFound(f"Ticket {number} was not issued today.", f"今天没有{number}号。")
            return ticket_view(self.config, self.state, number, self.estimates(fresh=False))

    # ------------------------------------------------------------ actions
    async def issue_ticket(self, service: str, channel: str, key: str | None = None,
                           actor: str | None = None) -> Answer:
        _as_input(self.config.service, service)  # an unknown service in a body is invalid input (422)

        def respond(d: Decision, first: int) -> tuple[int, dict[str, Any]]:
            assert d.ticket is not None
            # Its wait: the service's "if you take a number now", made just before;
            # only when there is none yet (first ticket of a day) is the estimator run here.
            est = self.estimates(fresh=False)
            if est is None or service not in est.join:
                est = self.estimates()
            body = ticket_view(self.config, self.state, d.ticket, est)
            return 201, {**body, "seq": self.state.seq}

        return await self._execute(lambda b: b.issue_ticket(service, channel), respond, key, f"POST tickets {service}",
                                   actor)

    async def act(self, counter: str, action: str, params: dict[str, Any], key: str | None = None,
                  actor: str | None = None) -> Answer:
        self.config.counter(counter)  # unknown counter: 404
        kwargs = _action_params(action, params)
        for s in [kwargs.get("service"), *(kwargs.get("services") or [])]:
            if s is not None:
                _as_input(self.config.service, s)

        def respond(d: Decision, first: int) -> tuple[int, dict[str, Any]]:
            return 200, {
                "counter": counter_view(self.config, self.state, counter, None),
                "ticket": d.ticket,
                "seq": self.state.seq,
                "events": [ev.to_dict() for ev in d.events],
            }

        return await self._execute(lambda b: b.act(counter, action, **kwargs), respond, key,
                                   f"POST counters/{counter}/{action}", actor)

    async def _execute(self, decide: Callable[[Branch], Decision],
                       respond: Callable[[Decision, int], tuple[int, dict[str, Any]]],
                       key: str | None, request: str, actor: str | None = None) -> Answer:
        if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
            # (a control character would be stored as it is: PostgreSQL refuses a NUL, which read as "storage unavailable")
            raise InvalidInput(f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters, "
                               "such as a UUID; no control characters.")
        async with self.lock:
            if key is not None and key in self._remembered:
                return self._replay(self._remembered[key], request)
            # Optimistic concurrency across processes: decide on our state and
            # store at seq = ours + 1; UNIQUE(branch, seq) lets exactly one
            # writer have each seq, so a decision is only ever stored if it was
            # made on the whole history. The loser (SeqConflict) rolls back,
            # catches up and decides again -- a conflict always means someone
            # else made progress, so there is no livelock, only a bounded wait
            # while other processes drain their own queues. Chosen over row
            # locks (SELECT ... FOR UPDATE on a branch row) because no lock is
            # held across a decision and the network: a process stalled or
            # killed mid-action never blocks the branch, and an uncontended
            # action costs one statement. SKIP LOCKED does not fit: "the next
            # ticket" is set by the calling policy, so skipping a locked ticket
            # would call out of order, and issuing numbers or a counter's state
            # are not rows to skip. Reading the store's head first (shared
            # stores only) makes a conflict the exception, not the rule.
            started = time.monotonic()
            for attempt in range(1, MAX_ATTEMPTS + 1):
                decision = await self._decide_on_latest(decide, read_first=self.store.shared or attempt > 1)
                first = self.state.seq + 1
                try:
                    self._apply(decision.events)
                    status, body = respond(decision, first)
                except BaseException:  # a bug past this point must not leave unstored events applied
                    self._roll_back()
                    raise
                remember = (key, Remembered(request, status, body)) if key is not None else None
                appending = time.monotonic()
                try:
                    await self._run(self.store.append, self.id, first, decision.events, actor, remember)
                except SeqConflict:
                    self._roll_back()
                    self.conflicts += 1
                    if time.monotonic() - started > RETRY_BUDGET_S:
                        break
                    continue
                except KeyTaken:
                    # A key too old for memory: the store's unique key caught it
                    # (no read per request on the common path).
                    self._roll_back()
                    stored = await self._run(self.store.recall, self.id, key)
                    assert stored is not None and key is not None
                    self._remember(key, stored)
                    return self._replay(stored, request)
                except Exception as exc:
                    self._roll_back()
                    raise StorageUnavailable() from exc
                self._stored(decision.events)
                self._synced_at = appending  # seq `first` was free: nobody had stored anything newer
                if remember is not None:
                    self._remember(*remember)
                self._publish(first, decision.events)
                self._announce(first, decision.events)
                self._estimate_soon()
                return Answer(status, body)
            log.warning("branch %s: %s gave up after %d lost races in %.1f s", self.id, request, attempt,
                        time.monotonic() - started)
            raise StorageUnavailable("The branch is busy with other servers; nothing was changed. Please try again.")

    async def _decide_on_latest(self, decide: Callable[[Branch], Decision], read_first: bool) -> Decision:
        """The core's decision, made on everything stored (lock held).

        An unshared store (one server on SQLite) is read only when the core
        refuses: a refusal is never stored, so the seq check cannot catch one
        made on a state another process (an import) has moved past.
        """
        if read_first:
            await self._sync_or_refuse()
        try:
            return decide(self.branch)
        except BranchError:
            if read_first or not await self._sync_or_refuse():
                raise  # nothing new in the store: the refusal stands
            return decide(self.branch)

    async def _sync_or_refuse(self) -> bool:
        """Catch up before deciding; True if anything new was stored. A store out of reach is a 503."""
        seq = self.state.seq
        try:
            await self._sync()
        except Exception as exc:
            raise StorageUnavailable() from exc
        return self.state.seq != seq

    def _apply(self, events: list[Event]) -> None:
        for ev in events:
            self.state.apply(ev)
            # Observed before the commit: on the rare failed commit the state
            # is rebuilt, and the estimator has seen one extra event (its
            # online update is statistical and shrugs that off).
            self._observe(ev, self.state)

    def _publish(self, first: int, events: list[Event]) -> None:
        """One message per event, gap-free seqs; the last one carries the full view after the action."""
        if self.hub is None:
            return
        dicts = [ev.to_dict() for ev in events]
        for i, ev in enumerate(dicts):
            self.hub.record(self.id, first + i, ev)
        if self.hub.subscriber_count(self.id):  # the view is rendered only for someone watching
            for seq, text in self.event_messages(list(enumerate(dicts, start=first))):
                self.hub.publish(self.id, seq, text)
            # What every screen now shows (not set by event_messages: a single
            # screen's resume renders fresher estimates the others have not seen).
            self._shown = shown_texts(self.current_view(fresh=False))

    def _announce(self, first: int, events: list[Event]) -> None:
        """Tell the other server processes (server/relay.py) what was just stored."""
        if self.hub is not None and self.hub.announce is not None:
            self.hub.announce(self.id, first, events)

    def _estimate_soon(self) -> None:
        """Fresh estimates for the screens shortly after a change, once per burst of changes.

        The event message carries the view with the previous estimates; a
        `refresh` follows within `estimate_delay` (and the kiosk's next answer
        uses it, screens or not). Under a rush the estimator runs a few times a
        second, not once per action.
        """
        if not self.estimating or self._refresh is not None:
            return
        self._refresh = asyncio.get_running_loop().call_later(self.estimate_delay, self._start_refresh)

    def _start_refresh(self) -> None:
        self._refresh = asyncio.get_running_loop().create_task(self.publish_refresh())  # kept: tasks are weak

    async def stop(self) -> None:
        """Drop a pending estimate refresh: on shutdown it would run after the writer and store are gone."""
        pending, self._refresh = self._refresh, None
        if isinstance(pending, asyncio.Task):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        elif pending is not None:
            pending.cancel()

    async def publish_refresh(self, force: bool = False) -> None:
        """Send screens the view with up-to-date estimates, if any text they show changed.

        force: estimate again even for an unchanged seq (waits age without
        events). Figures that moved without changing a text are not sent: no
        flicker, and no message to every screen for nothing.
        """
        try:
            await self.refresh_estimates(force)  # (the kiosk's next answer uses them, screens or not)
            if self.hub is None or not self.hub.subscriber_count(self.id):
                return  # the view is rendered only for someone watching
            async with self.lock:
                view = self.current_view(fresh=False)
                shown = shown_texts(view)
                if shown == self._shown:
                    return
                self._shown = shown
            self.hub.publish(self.id, None, json.dumps({"type": "refresh", **view}, ensure_ascii=False))
        finally:
            self._refresh = None

    def event_messages(self, events: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, str]]:
        """(seq, text) for events up to the current seq: the view rides on the one at the current seq."""
        out = []
        for seq, ev in events:
            view = self.current_view(fresh=False) if seq == self.state.seq else None
            msg = {"type": "event", "seq": seq, "event": ev, "view": view}
            out.append((seq, json.dumps(msg, ensure_ascii=False)))
        return out

    async def reconfigure(self, config: BranchConfig) -> Answer:
        """Put a new set-up in force now: its `branch_config` event is stored before anything else happens."""
        async with self.lock:
            self.config = config
            self._set_state(self.state)
        # close_day decides nothing but its preamble: the day's close-out if due, then the changed set-up.
        # (Should storing fail, the set-up is still in force and recorded before the next action.)
        return await self._execute(lambda b: b.close_day(), lambda d, first: (200, {"seq": self.state.seq}),
                                   None, "reconfigure", actor="admin")

    async def close_day_if_due(self) -> bool:
        """If the business day has turned since the last event, record the close-out now."""
        if self.state.day is None or self.state.business_day(self.branch.now()) <= self.state.day:
            return False
        answer = await self._execute(lambda b: b.close_day(), lambda d, first: (200, {}), None, "close day",
                                     actor="server")
        return answer.status == 200

    # ------------------------------------------------------------ idempotency
    @staticmethod
    def _replay(r: Remembered, request: str) -> Answer:
        """The stored answer to a repeated key, or an error if the key was used for something else."""
        if r.request != request:
            raise InvalidInput(f"This Idempotency-Key was already used for another request ({r.request}); "
                               "use a new key for each action.")
        return Answer(r.status, r.response, replayed=True)

    def _remember(self, key: str, r: Remembered) -> None:
        self._remembered[key] = r
        if len(self._remembered) > REMEMBERED_IN_MEMORY:
            self._remembered.popitem(last=False)

    # ------------------------------------------------------------ import
    async def import_log(self, lines: Iterable[bytes | str], actor: str = "import") -> dict[str, Any]:
        """Append a JSONL log after the stored history: all of it or nothing (LogError names the line)."""
        reader = LogReader()
        parsed = list(reader.read(lines))
        if not parsed:
            raise InvalidInput("The log holds no events.")
        async with self.lock:
            try:
                await self._sync()  # the log goes after everything stored, whoever stored it
            except Exception as exc:
                raise StorageUnavailable() from exc
            probe = _fold_onto(self.state, parsed, self.branch.now())
            first = self.state.seq + 1
            try:
                await self._run(self.store.append, self.id, first, [ev for _, ev in parsed], actor, None)
            except SeqConflict:
                with contextlib.suppress(Exception):  # the next action catches up anyway
                    await self._sync()
                raise IllegalAction("The branch changed during the import; nothing was imported. Try again.",
                                    "导入期间网点数据有变化,未导入任何事件,请重试。") from None
            except Exception as exc:
                raise StorageUnavailable() from exc
            if self.remote is not None:
                self.remote.feed(first, [ev for _, ev in parsed])
            if self.estimator is not None:  # feed it the imported events now that they are stored
                probe = copy.deepcopy(self.state)
                for _, ev in parsed:
                    probe.apply(ev)
                    self._observe(ev, probe)
            self._set_state(probe)
            self._checkpoint(probe)
            if self.hub is not None:
                self.hub.reset(self.id)
            self._announce(first, [ev for _, ev in parsed])
            return {"imported": len(parsed), "seq": probe.seq, "warnings": reader.warnings}

    # ------------------------------------------------------------ plumbing
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking storage work on the writer thread, keeping the event loop free."""
        if self.writer is None:
            try:
                return fn(*args)
            except STORAGE_ERRORS as exc:
                raise StorageUnavailable() from exc
        done = asyncio.get_running_loop().run_in_executor(self.writer, partial(fn, *args))
        try:
            return await asyncio.shield(done)
        except STORAGE_ERRORS as exc:  # a database down or locked is a 503 wherever it is met
            raise StorageUnavailable() from exc
        except asyncio.CancelledError:
            # The commit goes on in its thread regardless: let it finish so the
            # state we applied and the store agree, then stop. (Its event is not
            # published; the hub's ring sees the gap and screens resync.)
            await asyncio.wait([done])
            raise


def _fold_onto(state: BranchState, parsed: list[tuple[int, Event]], now: datetime) -> BranchState:
    """A copy of `state` with the log folded in, or LogError naming the first line that does not fit.

    An event dated after `now` is refused: live actions would then be written
    before it in time but after it in the log, and the business day could not
    turn until the clock caught up with the file.
    """
    probe = copy.deepcopy(state)
    latest = now + IMPORT_CLOCK_SLACK
    number, first = parsed[0]
    if probe.last_ts is not None and first.ts < probe.last_ts:
        raise LogError(number, f"events out of order: {first.to_dict()['ts']} is before the branch's last "
                               "stored event; import only history that comes after it")
    for number, ev in parsed:
        if ev.ts > latest:
            raise LogError(number, f"{ev.to_dict()['ts']} is in the future (the branch's clock says "
                                   f"{format_ts(now)}); import only events that have happened")
        probe.apply_line(number, ev)
    return probe


def _action_params(action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a counter action's body against the parameters the core's method takes."""
    method = getattr(Branch, action.replace("-", "_"), None) if action in ACTIONS else None
    if method is None:
        raise InvalidInput(f"Unknown action '{action}'; allowed: {', '.join(ACTIONS)}.")
    accepted = {n: p for n, p in inspect.signature(method).parameters.items() if n not in ("self", "counter")}
    extra = sorted(set(params) - set(accepted))
    if extra:
        allowed = ", ".join(accepted) or "none"
        raise InvalidInput(f"'{action}' does not take {', '.join(extra)}; its parameters: {allowed}.")
    missing = [n for n, p in accepted.items() if p.default is inspect.Parameter.empty and n not in params]
    if missing:
        raise InvalidInput(f"'{action}' needs {', '.join(missing)}.")
    return params


def _as_input(lookup: Callable[[str], Any], value: str) -> None:
    """A name in a request body that does not exist is invalid input (422), not a missing page."""
    try:
        lookup(value)
    except NotFound as exc:
        raise InvalidInput(exc.message, exc.message_zh) from None
