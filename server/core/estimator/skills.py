"""What a counter serves, and in which order, when the branch's set-up does not say: learned from its calls.

An export without the counters' set-up (or without any `branch_config`) leaves
every counter serving every class at equal priority, so a window that only
ever takes cash customers is counted on for VIPs too, and the lines look
shorter than they are. Its calls say better: the classes it has called are the
ones it serves, and which class it called while another it serves was waiting
orders them (a VIP window calls V before A; so does a higher priority).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..events import Event
from ..state import BranchState

MIN_CALLS = 20  # before this many calls a counter may serve anything: a handful says little about what it won't


@dataclass
class CounterSkills:
    """Per counter not described by the set-up: calls by class, and how often one class went before another."""

    calls: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    before: dict[str, Counter[tuple[str, str]]] = field(default_factory=lambda: defaultdict(Counter))
    _order: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def observe(self, ev: Event, state: BranchState) -> None:
        """After `ev` is folded in: a call teaches what its counter serves before what."""
        if ev.type != "called" or described(state, ev.counter):
            return
        t = state.tickets.get(ev.ticket)
        if t is None:
            return
        self.calls[ev.counter][t.service] += 1
        for other in state.queues:
            if other != t.service and state.waiting_count(other) > 0:
                self.before[ev.counter][(t.service, other)] += 1
        self._order.pop(ev.counter, None)

    def services(self, counter: str) -> tuple[str, ...]:
        """The classes this counter has called, the one it goes to first first; () until it has called enough."""
        order = self._order.get(counter)
        if order is None:
            calls = self.calls.get(counter)
            if not calls or sum(calls.values()) < MIN_CALLS:
                return ()
            before = self.before[counter]
            # net times called while the other waited, then how often: a class it drops everything for first
            order = tuple(sorted(calls, key=lambda s: (-sum(before[(s, o)] - before[(o, s)] for o in calls),
                                                      -calls[s], s)))
            self._order[counter] = order
        return order


def described(state: BranchState, counter: str) -> bool:
    """Whether the branch's set-up names this counter (and so what it serves)."""
    return state.config is not None and state.config.has_counter(counter)
