"""Keeping Python's cyclic garbage collector from pausing the event loop.

A branch's state only grows during the day (every ticket stays in it until
the day closes), and so do the idempotency answers and the screens' replay
ring. CPython's full (generation 2) collection walks every tracked object,
so on a busy server it paused the loop for 13-20 ms several times a minute:
bench/server.py measured call-next p99 at one connection 5.7 ms with the
collector as it comes and 2.4 ms with it off.

What the collector is for is cyclic garbage, and the server makes almost
none: what survives two young collections is the state and its history. So
after every collection of generation 1 or 2 the survivors are frozen (moved
to the permanent generation the collector never walks), and the oldest
generation stays nearly empty: a full collection costs what a young one
does. Freezing after full collections only was measured too: its pauses
stayed at ~11 ms, since each full collection still walked everything that
survived since the one before. Reference counting still frees frozen
objects the moment nothing refers to them; only a reference cycle that dies
after being frozen lingers, and the daily sweep (`sweep`, run when a
branch's day closes) unfreezes everything and collects it once, at night.
bench/server.py counts what such a sweep finds after its run: 0 objects
(measured after ~10,000 actions).
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)


class Collector:
    """Freezes what older-generation collections leave behind. The collector is the process's: use COLLECTOR."""

    def __init__(self) -> None:
        self.users = 0  # apps running in this process (tests run several)

    def install(self) -> None:
        """Collect once, freeze the start-up objects, and freeze after every older-generation collection."""
        gc.collect()
        gc.freeze()
        if self.users == 0:
            gc.callbacks.append(self._after_collection)
        self.users += 1

    def uninstall(self) -> None:
        """The last app to stop gives every frozen object back to the collector."""
        self.users = max(self.users - 1, 0)
        if self.users == 0 and self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
            gc.unfreeze()

    def sweep(self) -> float:
        """Collect the whole heap once (frozen objects included) and freeze the survivors; seconds it took."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        took = time.perf_counter() - started
        log.info("garbage sweep: %d unreachable objects, %.1f ms, %d objects frozen",
                 found, took * 1000, gc.get_freeze_count())
        return took

    @staticmethod
    def _after_collection(phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collector, after it has finished ("stop"): freezing
        # only relinks the generations' lists, it allocates nothing. Young
        # (generation 0) collections are left alone: most of what they keep
        # is a request's objects, which die soon.
        if phase == "stop" and info["generation"] >= 1:
            gc.freeze()


COLLECTOR = Collector()
