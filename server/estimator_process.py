"""The estimator in a process of its own, so a forward simulation never holds up the event loop.

A full estimate of a busy branch costs 20-30 ms of CPU (server/core/estimator).
Run on the event loop, it held up every action, read and screen message that
arrived meanwhile: bench/server.py measured ticket p99 at one connection
8.7 ms with the estimator on the loop and 3.3 ms without it.

The child keeps, per branch, its own fold of the stored log (the same
BranchState code as everywhere) and its own estimator, fed with events once
they are stored, in seq order. The server asks for estimates and awaits the
answer; its loop stays free while the child computes. Requests that pile up
while the child is busy are answered together by one computation.

Messages to the child, pickled over one pipe and handled in order:
  ("open", branch, config, events)   (re)start a branch from its whole stored log
  ("events", branch, first, events)  stored events with seqs first, first+1, ...
  ("estimate", id, branch, now)      estimates for the branch as folded so far
  ("close", branch)                  forget a branch
Answers: (id, seq, estimates or None, needs_open). needs_open: the child does
not know the branch (it was restarted) or missed events -- the server sends
"open" again with the log from the store.

If the child dies, it is started again; every branch then reopens. The server
speaks to it from the event loop with asyncio streams, so no extra thread in
the server process wakes for every stored event and contends with the loop
for the GIL. The child
is `python -m server.estimator_process` on one end of a socket pair, not a
multiprocessing "spawn": that re-imports the parent's __main__, which is
whatever script started the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from server.core.config import BranchConfig
from server.core.estimates import Estimates, EstimatorLike
from server.core.events import Event
from server.core.state import BranchState

log = logging.getLogger("branchq")
Factory = Callable[[BranchConfig], EstimatorLike | None]
FEED_BATCH = 32  # under a rush, events go before the ask in messages of this many: no long pickling burst
RESTART_PAUSE_S = (1.0, 60.0)  # a child that keeps dying is restarted after 1 s, 2 s, 4 s ... at most 60 s
CHILD_NICENESS = 10  # on a small box the server's own work (actions, screens) comes first; 10 still leaves it ~10 % of a busy core


@dataclass(frozen=True)
class Answer:
    seq: int  # the branch's seq the estimates were made at (-1: none)
    estimates: Estimates | None
    needs_open: bool = False
    version: int = 0  # the child's count of estimates sent for the branch
    changes: Changes | None = None  # instead of `estimates`: what differs from version - 1


@dataclass(frozen=True)
class Changes:
    """Estimates as the difference from the previous ones sent for the branch.

    Most tickets' ranges do not change from one estimate to the next (a long
    line for a class nobody serves; everyone behind a newcomer), and the server
    unpickles answers on its event loop: 2,000 waiting tickets took 3.5 ms
    sent whole. Only changed and dropped tickets travel.
    """

    at: datetime
    waits: dict[str, Any]
    gone: list[str]
    join: dict[str, Any]
    counters: dict[str, Any]

    def applied_to(self, base: Estimates) -> Estimates:
        waits = {number: w for number, w in base.waits.items() if number not in self.gone}
        waits.update(self.waits)
        return Estimates(at=self.at, waits=waits, join=self.join, counters=self.counters)


# ---------------------------------------------------------------- the child
@dataclass
class _Branch:
    """One branch in the child: its state folded from the log and the estimator fed along."""

    estimator: EstimatorLike
    config: BranchConfig  # the set-up the estimator was made for
    state: BranchState = field(default_factory=BranchState)
    broken: bool = False  # missed events: answer needs_open until reopened
    sent: Estimates | None = None  # the last estimates sent (the next answer sends what changed)
    version: int = 0

    def take(self, first: int, events: list[Event]) -> None:
        """Fold stored events with seqs first, first+1, ... (those it has already are skipped)."""
        if self.broken:
            return
        if first > self.state.seq + 1:  # a gap: folding on would be a lie
            self.broken = True
            return
        for ev in events[self.state.seq + 1 - first:]:
            self.fold(ev)
            if ev.type == "branch_config" and self.state.config != self.config:
                # A new set-up (the admin API): the estimator is made for a
                # configuration, so it is rebuilt from the whole log.
                self.broken = True
                return

    def fold(self, ev: Event) -> None:
        self.state.apply(ev)
        self.estimator.observe(ev, self.state)


def serve(conn: Connection, factory: Factory) -> None:
    """The child's loop: fold what arrives, answer estimate requests, until the pipe closes."""
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    branches: dict[str, _Branch] = {}
    while True:
        try:
            batch = [conn.recv()]
            while conn.poll():
                batch.append(conn.recv())
        except (EOFError, OSError):
            return
        asks: dict[str, list[tuple[int, datetime]]] = {}
        for msg in batch:
            if msg is None:
                return
            _handle(msg, branches, factory, asks)
        for branch, reqs in asks.items():
            answer = _estimate(branches.get(branch), max(now for _, now in reqs))
            for req_id, _ in reqs:
                conn.send((req_id, answer))


def _handle(msg: tuple[Any, ...], branches: dict[str, _Branch], factory: Factory,
            asks: dict[str, list[tuple[int, datetime]]]) -> None:
    kind = msg[0]
    if kind == "open":
        _, branch, config, events = msg
        estimator = factory(config)
        if estimator is None:
            branches.pop(branch, None)
            return
        b = branches[branch] = _Branch(estimator, config)
        for ev in events:  # set-up changes inside this log are the history the estimator was made for
            b.fold(ev)
    elif kind == "events":
        _, branch, first, events = msg
        if branch in branches:
            branches[branch].take(first, events)
    elif kind == "estimate":
        _, req_id, branch, now = msg
        asks.setdefault(branch, []).append((req_id, now))
    elif kind == "resend":  # the server lost track: the next answer sends the estimates whole
        if msg[1] in branches:
            branches[msg[1]].sent = None
    elif kind == "close":
        branches.pop(msg[1], None)


def _estimate(b: _Branch | None, now: datetime) -> Answer:
    if b is None or b.broken:
        return Answer(-1, None, needs_open=True)
    try:
        est = _shared(b.estimator.estimate(b.state, now))
    except Exception:  # a wrong wait text must never cost a ticket or a screen
        log.exception("the estimator failed at seq %s; showing no estimates", b.state.seq)
        return Answer(b.state.seq, None)
    base, b.sent = b.sent, est
    b.version += 1
    if base is None:
        return Answer(b.state.seq, est, version=b.version)
    changed = {number: w for number, w in est.waits.items() if base.waits.get(number) != w}
    gone = [number for number in base.waits if number not in est.waits]
    return Answer(b.state.seq, None, version=b.version,
                  changes=Changes(est.at, changed, gone, est.join, est.counters))


def _shared(est: Estimates) -> Estimates:
    """Equal ranges made one object, so the pickle sends each once: the server unpickles on its loop.

    Many tickets often carry the same range (a class no open counter serves:
    "暂无窗口办理此业务" for all of them); 3,000 such tickets took 5.5 ms to
    unpickle as separate objects.
    """
    seen: dict[Any, Any] = {}
    waits = {number: seen.setdefault(w, w) for number, w in est.waits.items()}
    return Estimates(at=est.at, waits=waits, join=est.join, counters=est.counters)


# ---------------------------------------------------------------- the server's side
class EstimatorProcess:
    """The child process, spoken to from the event loop (asyncio streams: no threads to fight for the GIL).

    The wire format is multiprocessing.Connection's (a 4-byte big-endian
    length, then the pickle), which the child reads and writes with a plain
    Connection. Writes are buffered by the loop and never block it.
    """

    def __init__(self, factory: str = "server.core.estimator:make_estimator") -> None:
        self.factory = factory  # "module:function" the child imports: BranchConfig -> estimator or None
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._ids = itertools.count()
        self._closed = False
        self.restarts = 0
        self._restarting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the child (call on the loop that will use it)."""
        ours, theirs = socket.socketpair()
        # -c, not -m: the child's Answer must pickle as server.estimator_process.Answer, not __main__.Answer
        self._proc = subprocess.Popen([sys.executable, "-c", "from server.estimator_process import main; main()",
                                       "--fd", str(theirs.fileno()), "--factory", self.factory],
                                      pass_fds=[theirs.fileno()], env=_child_env())
        theirs.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        self._receiving = asyncio.create_task(self._receive(self._proc, self._reader))

    def branch(self, branch: str) -> RemoteEstimator:
        return RemoteEstimator(self, branch)

    def send(self, msg: tuple[Any, ...] | None) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        if not self._writer.is_closing():  # a dead child: its successor will ask for an "open" anyway
            self._writer.write(struct.pack("!i", len(data)) + data)

    async def ask(self, branch: str, now: datetime) -> Answer:
        if self._writer.is_closing():  # the child died and a new one is not up yet: nobody would answer
            return Answer(-1, None, needs_open=True)
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        req_id = next(self._ids)
        self._waiting[req_id] = fut
        self.send(("estimate", req_id, branch, now))
        return await fut

    async def close(self) -> None:
        self._closed = True
        self.send(None)
        with contextlib.suppress(Exception):
            await self._writer.drain()
        self._writer.close()
        self._receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._receiving
        try:
            await asyncio.to_thread(self._proc.wait, 2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            await asyncio.to_thread(self._proc.wait)

    async def _receive(self, proc: subprocess.Popen[bytes], reader: asyncio.StreamReader) -> None:
        while True:
            try:
                (size,) = struct.unpack("!i", await reader.readexactly(4))
                req_id, answer = pickle.loads(await reader.readexactly(size))
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                break
            except Exception:  # an answer that does not unpickle: that request waits for its next ask
                log.exception("unreadable answer from the estimator process")
                continue
            fut = self._waiting.pop(req_id, None)
            if fut is not None and not fut.done():
                fut.set_result(answer)
        if not self._closed:  # (kept: the loop holds tasks only weakly)
            self._restarting = asyncio.get_running_loop().create_task(self._restart(proc))

    async def _restart(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 1)
        pause = min(RESTART_PAUSE_S[0] * 2 ** self.restarts, RESTART_PAUSE_S[1])
        log.error("the estimator process stopped (exit code %s); starting it again in %.0f s",
                  proc.returncode, pause)
        self._writer.close()
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():  # what was asked of the dead child is answered "reopen"
            if not fut.done():
                fut.set_result(Answer(-1, None, needs_open=True))
        await asyncio.sleep(pause)
        if not self._closed:
            self.restarts += 1
            await self.start()


@dataclass
class RemoteEstimator:
    """One branch's handle on the estimator process."""

    process: EstimatorProcess
    branch: str
    _last: tuple[int, Estimates | None] = (0, None)  # the child's version and the estimates it stands for
    # Stored events not yet sent (seqs _first, _first+1, ...): they go in one
    # message with the next ask. A message per action was measured to cost
    # the fan-out: bench/load.py (b), two processes and their children on two
    # cores, delivery p99 263-272 ms (2.8-3.0x the bare fan-out) sending each
    # action's events at once, 153 ms (1.53x) sending them with the ask. (Making
    # the child read them less often did not help: 260 ms.)
    _first: int = 0
    _unsent: list[Event] = field(default_factory=list)

    def open(self, config: BranchConfig, events: Iterable[Event]) -> None:
        self._last = (0, None)
        self._unsent = []  # every event stored so far is in `events`
        self.process.send(("open", self.branch, config, list(events)))

    def feed(self, first: int, events: list[Event]) -> None:
        if self._unsent and first != self._first + len(self._unsent):  # not contiguous: send what came before
            self._flush()
        if not self._unsent:
            self._first = first
        self._unsent.extend(events)
        if len(self._unsent) >= FEED_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._unsent:
            self.process.send(("events", self.branch, self._first, self._unsent))
            self._unsent = []

    async def estimate(self, now: datetime) -> Answer:
        """The child's answer with whole estimates (changes applied to the last ones here)."""
        self._flush()
        answer = await self.process.ask(self.branch, now)
        version, last = self._last
        if answer.changes is None:
            if answer.estimates is not None:
                self._last = (answer.version, answer.estimates)
            return answer
        if answer.version == version:  # one computation answered several asks: applied already
            return Answer(answer.seq, last, version=version)
        if answer.version != version + 1 or last is None:  # out of step (a restart): ask for whole ones
            self.process.send(("resend", self.branch))
            return Answer(answer.seq, None)
        est = answer.changes.applied_to(last)
        self._last = (answer.version, est)
        return Answer(answer.seq, est, version=answer.version)

    def close(self) -> None:
        self.process.send(("close", self.branch))


def _child_env() -> dict[str, str]:
    """The child finds this very `server` package, even when it was imported from a source checkout."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _load_factory(spec: str) -> Factory:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description="branchq's estimator process (started by the server)")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--factory", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="branchq-estimator: %(levelname)s %(message)s")
    # Ctrl+C in a terminal, or a service manager stopping the whole group, reaches the child too: the
    # server stops it (or its socket closes), so it outlives the server's shutdown instead of being
    # restarted in the middle of it ("the estimator process stopped", logged as an error).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(Connection(args.fd), _load_factory(args.factory))

