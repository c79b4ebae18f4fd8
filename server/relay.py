"""Fan-out across server processes through Redis pub/sub (used when REDIS_URL is set).

Every process fans out to its own screens through its Hub, as a lone process
does. The relay adds the other processes' actions:

- announce: after a commit a service hands over the stored events; one task
  publishes them, in commit order, on the branch's channel
  (`{prefix}events:{branch}`) as `{"origin", "first", "last", "events"}`.
- follow: one task listens on every branch channel, drops its own echoes and
  queues the others' events per branch; the branch's service applies them in
  seq order, reading the store first if some are missing (gap-free).
- outage: if Redis goes away the process says so once, keeps serving its own
  screens, reads the store now and then, and reconnects with backoff; once
  back, every branch catches up from the store and its screens resync.

Redis is only the doorbell (with the events attached, to save a read): the
database stays the truth, so a lost message costs a read, never an event.
Messages carry log events only, the same as the screens' feed: no personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.core.events import Event, parse_event
from server.hub import Hub
from server.service import BranchService

log = logging.getLogger("branchq")
MAX_ATTACHED = 200  # events per message; a bigger batch (an import) is announced bare and read from the store
MAX_PENDING = 10_000  # announcements waiting for Redis; beyond that they are dropped (others read the store)
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between reconnection attempts; the last one repeats
FOLLOW_QUEUE = 1000  # messages of one branch waiting for its lock; beyond that: one catch-up instead

CATCH_UP, RESYNC = "catch-up", "resync"  # queued for a branch instead of a message


class Relay:
    """Announces this process's commits on Redis and feeds the other processes' to the local services."""

    def __init__(self, url: str, prefix: str, services: Mapping[str, BranchService], hub: Hub) -> None:
        # `services` is the app's live mapping: branches opened later (admin API) are followed too.
        self.url, self.prefix, self.services, self.hub = url, prefix, services, hub
        self.origin = uuid.uuid4().hex  # this process: its own echoes are skipped
        self.connected = False
        self._outgoing: asyncio.Queue[tuple[str, str]] = asyncio.Queue(MAX_PENDING)
        self._incoming: dict[str, asyncio.Queue[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_failed = False

    def channel(self, branch: str) -> str:
        return f"{self.prefix}events:{branch}"

    # ------------------------------------------------------------ life
    def start(self) -> None:
        self.hub.announce = self.announce
        self._tasks = [asyncio.create_task(self._publisher()), asyncio.create_task(self._listener())]

    async def stop(self) -> None:
        self.hub.announce = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _client(self) -> Redis:
        # No silent retries inside redis-py: a broken connection must surface
        # here, so that a reconnect is followed by a catch-up from the store.
        return Redis.from_url(self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2,
                              socket_timeout=None, health_check_interval=10)

    # ------------------------------------------------------------ out
    def announce(self, branch: str, first: int, events: list[Event]) -> None:
        """Queue a commit's events for the other processes (never blocks an action)."""
        if not events:
            return
        attached = [ev.to_dict() for ev in events] if len(events) <= MAX_ATTACHED else None
        message = json.dumps({"origin": self.origin, "first": first, "last": first + len(events) - 1,
                              "events": attached}, ensure_ascii=False)
        with contextlib.suppress(asyncio.QueueFull):  # Redis is stuck: the others will read the store
            self._outgoing.put_nowait((self.channel(branch), message))

    async def _publisher(self) -> None:
        client = self._client()
        try:
            while True:
                channel, message = await self._outgoing.get()
                try:
                    await client.publish(channel, message)
                except Exception as exc:  # Redis is down: the listener reconnects and everyone catches up
                    if not self._publish_failed:
                        log.warning("relay: cannot publish on Redis (%s); other processes will read the store", exc)
                    self._publish_failed = True
                    continue
                if self._publish_failed:
                    log.info("relay: publishing on Redis again")
                    self._publish_failed = False
        finally:
            await client.aclose()

    # ------------------------------------------------------------ in
    async def _listener(self) -> None:
        attempt = 0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # logged once per outage, not per attempt
                if self.connected or attempt == 0:
                    log.warning("relay: Redis at %s unreachable (%s); serving this process's screens only, "
                                "retrying", self.url.split("@")[-1], exc)
                if self.connected:
                    attempt = 0
                self.connected = False
            # Meanwhile the store still shows what the other processes did.
            self._queue_all(CATCH_UP)
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def _listen(self) -> None:
        client = self._client()
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe(_glob_escape(self.prefix) + "events:*")
            # Subscribed: from here nothing is missed. What came before (while
            # starting or while Redis was away) is in the store.
            if not self.connected:
                log.info("relay: following other processes through Redis at %s", self.url.split("@")[-1])
            self.connected = True
            self._queue_all(RESYNC)
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if msg is not None:
                    self._receive(msg["channel"], msg["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()

    def _receive(self, channel: bytes, data: bytes) -> None:
        branch = channel.decode().removeprefix(self.prefix + "events:")
        if branch not in self.services:
            return  # a branch another process runs and this one does not (yet)
        try:
            msg = json.loads(data)
            if msg["origin"] == self.origin:
                return
            events = msg["events"]
            item = (int(msg["first"]), int(msg["last"]),
                    [_event(e) for e in events] if events is not None else None)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("relay: ignoring a malformed message on %s (%s)", channel.decode(errors="replace"), exc)
            return
        self._queue(branch, item)

    def _queue_all(self, what: str) -> None:
        for branch in list(self.services):
            self._queue(branch, what)

    def _queue(self, branch: str, item: Any) -> None:
        queue = self._incoming.get(branch)
        if queue is None:  # the first message for this branch: it gets its own follower
            queue = self._incoming[branch] = asyncio.Queue(FOLLOW_QUEUE)
            self._tasks.append(asyncio.create_task(self._follower(branch)))
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:  # the branch is far behind: one read of the store covers it all
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(RESYNC)

    async def _follower(self, branch: str) -> None:
        """Feed one branch its messages in order (a slow branch holds up no other)."""
        svc, queue = self.services[branch], self._incoming[branch]
        failing = False
        while True:
            item = await queue.get()
            try:
                if item in (CATCH_UP, RESYNC):
                    await svc.catch_up(resync=item == RESYNC)
                else:
                    await svc.follow(*item)
                failing = False
            except Exception:  # e.g. the database is down too: the next message or catch-up retries
                if not failing:  # once per failure, not per message
                    log.exception("relay: branch %s could not take on other processes' events", branch)
                failing = True


def _event(obj: Any) -> Event:
    ev = parse_event(obj)
    if ev is None:
        raise ValueError(f"unknown event type {obj.get('type')!r}")
    return ev


def _glob_escape(text: str) -> str:
    """A Redis glob pattern matching `text` literally (the prefix is configurable)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
