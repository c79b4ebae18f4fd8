"""The garbage-collector policy that keeps full collections from pausing the server (server/collector.py)."""

from __future__ import annotations

import gc
import weakref

import pytest

from server.collector import Collector


class Node:
    """An object that can be part of a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector():  # type: ignore[no-untyped-def]
    c = Collector()
    c.install()
    yield c
    c.uninstall()


@pytest.mark.parametrize("generation", [1, 2])
def test_survivors_of_older_collections_are_frozen(collector: Collector, generation: int) -> None:
    """What a generation-1 or full collection leaves alive is moved out of the next full collection's way."""
    kept = [Node() for _ in range(1000)]
    before = gc.get_freeze_count()
    gc.collect(generation)
    assert gc.get_freeze_count() >= before + len(kept)
    assert gc.get_count()[2] == 0  # the oldest generation is empty: nothing left for the next one to walk


def test_young_collections_do_not_freeze(collector: Collector) -> None:
    """Collections of generation 0 leave the frozen set alone (a request's objects die soon)."""
    before = gc.get_freeze_count()
    _kept = [Node() for _ in range(1000)]
    gc.collect(0)
    assert gc.get_freeze_count() == before


def test_the_sweep_collects_cycles_that_died_frozen(collector: Collector) -> None:
    """A reference cycle frozen while alive is freed by the daily sweep, not leaked for ever."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(2)  # alive: frozen with the rest
    watch = weakref.ref(a)
    del a, b
    gc.collect(2)
    assert watch() is not None  # frozen: the ordinary collections do not see it
    collector.sweep()
    assert watch() is None


def test_uninstall_returns_everything_to_the_collector() -> None:
    """When the last app stops, nothing stays frozen and no callback is left behind."""
    c = Collector()
    c.install()
    c.install()  # a second app in the same process
    c.uninstall()
    assert c._after_collection in gc.callbacks
    c.uninstall()
    assert c._after_collection not in gc.callbacks
    assert gc.get_freeze_count() == 0
