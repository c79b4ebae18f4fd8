"""Fan-out of branch messages to screens: one bounded queue per subscriber.

A slow or dead screen only fills its own queue; when it overflows, its queue
is emptied and replaced by a single RESYNC marker, so the screen gets a fresh
snapshot instead of a backlog (and never holds up anyone else). Each branch
keeps a ring of its recent events so a reconnecting screen (`?since=SEQ`)
gets exactly what it missed.

Live messages are JSON text, serialised once per publish, not once per screen
(and not at all when nobody watches). The ring keeps the events themselves,
which are cheap; the view for a resume is rendered when it is asked for.
The interface (record / publish / reset / subscribe / replay) is what a
Redis-backed hub would implement for several processes (issue 4): both would
go through Redis and each process's listener would feed its local screens.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RESYNC = "__resync__"  # in a queue: "you missed messages; take a new snapshot"

# A queued message: (seq or None for a refresh, JSON text). The seq lets a
# screen that just took a snapshot skip messages the snapshot already holds.
Message = tuple[int | None, str]


@dataclass(eq=False)
class Subscription:
    branch: str
    queue: asyncio.Queue[Message]
    dropped: int = 0  # times this subscriber overflowed and was resynced

    async def get(self) -> Message:
        return await self.queue.get()


@dataclass
class _Branch:
    ring: deque[tuple[int, dict[str, Any]]]  # (seq, event as in the log)
    subscribers: set[Subscription] = field(default_factory=set)


class Hub:
    """In-process fan-out per branch. Call from the event loop only."""

    def __init__(self, queue_size: int = 256, history: int = 1024) -> None:
        self.queue_size = queue_size
        self.history = history
        self._branches: dict[str, _Branch] = {}
        # Tells the other server processes what a branch stored: (branch, first seq, events).
        # Set by server/relay.py when REDIS_URL is set; None: this process is alone.
        self.announce: Callable[[str, int, list[Any]], None] | None = None

    def _branch(self, branch: str) -> _Branch:
        b = self._branches.get(branch)
        if b is None:
            b = self._branches[branch] = _Branch(deque(maxlen=self.history))
        return b

    def record(self, branch: str, seq: int, event: dict[str, Any]) -> None:
        """Keep an event for resumes; seqs must come in order without gaps."""
        ring = self._branch(branch).ring
        if ring and ring[-1][0] != seq - 1:
            ring.clear()  # a gap (should not happen): resumes across it get a snapshot
        ring.append((seq, event))

    def publish(self, branch: str, seq: int | None, text: str) -> None:
        """Deliver one message to every current subscriber (seq None: a refresh, not an event)."""
        for sub in self._branch(branch).subscribers:
            _offer(sub, (seq, text))

    def reset(self, branch: str) -> None:
        """History changed wholesale (an import, another writer): forget the ring, resync everyone."""
        b = self._branch(branch)
        b.ring.clear()
        for sub in b.subscribers:
            _force_resync(sub)

    def replay(self, branch: str, since: int, current: int) -> list[tuple[int, dict[str, Any]]] | None:
        """Events after `since` up to `current`, or None if the ring no longer has them all."""
        if since >= current:
            return [] if since == current else None  # a seq from the future: the screen needs a snapshot
        ring = self._branch(branch).ring
        if not ring or ring[0][0] > since + 1 or ring[-1][0] < current:
            return None
        return [(seq, ev) for seq, ev in ring if seq > since]

    def subscribe(self, branch: str) -> Subscription:
        sub = Subscription(branch, asyncio.Queue(self.queue_size))
        self._branch(branch).subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        b = self._branches.get(sub.branch)
        if b is not None:
            b.subscribers.discard(sub)

    def subscriber_count(self, branch: str) -> int:
        b = self._branches.get(branch)
        return len(b.subscribers) if b else 0


def _offer(sub: Subscription, msg: Message) -> None:
    try:
        sub.queue.put_nowait(msg)
    except asyncio.QueueFull:
        _force_resync(sub)


def _force_resync(sub: Subscription) -> None:
    sub.dropped += 1
    while not sub.queue.empty():
        sub.queue.get_nowait()
    sub.queue.put_nowait((None, RESYNC))
