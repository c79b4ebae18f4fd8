"""A day's (or a log's) figures, gathered while its events are folded.

Definitions follow the spec: a wait runs from issue (or from a transfer) to
the next `called`; abandoned and no-show tickets have no wait and are counted
on their own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from .events import Event
from .state import BranchState, TicketStatus


@dataclass
class ServiceFigures:
    issued: int = 0
    served: int = 0
    abandoned: int = 0
    no_shows: int = 0
    transferred_in: int = 0
    waits_s: list[float] = field(default_factory=list)
    service_s: list[float] = field(default_factory=list)

    @property
    def mean_wait_s(self) -> float | None:
        return sum(self.waits_s) / len(self.waits_s) if self.waits_s else None

    @property
    def mean_service_s(self) -> float | None:
        return sum(self.service_s) / len(self.service_s) if self.service_s else None


@dataclass
class Summary:
    events: int = 0
    days: int = 0
    by_service: dict[str, ServiceFigures] = field(default_factory=lambda: defaultdict(ServiceFigures))
    _queued: dict[str, tuple[str, datetime]] = field(default_factory=dict, repr=False)  # ticket -> (service, since)

    def observe(self, ev: Event, state: BranchState) -> None:
        """Count one event that was just applied to `state`."""
        self.events += 1
        kind = ev.type
        if kind == "branch_config":
            self.days += 1
            return
        if kind not in ("ticket_issued", "called", "service_finished", "abandoned", "no_show", "transferred"):
            return
        t = state.tickets[ev.ticket]
        fig = self.by_service[t.service]
        if kind == "ticket_issued":
            fig.issued += 1
            self._queued[ev.ticket] = (t.service, ev.ts)
        elif kind == "called" and ev.ticket in self._queued:
            service, since = self._queued.pop(ev.ticket)
            self.by_service[service].waits_s.append((ev.ts - since).total_seconds())
        elif kind == "service_finished" and t.started_at is not None:
            fig.served += 1
            fig.service_s.append((ev.ts - t.started_at).total_seconds())
        elif kind == "abandoned":
            fig.abandoned += 1
            self._queued.pop(ev.ticket, None)
        elif kind == "no_show":
            fig.no_shows += 1
        elif kind == "transferred":
            fig.transferred_in += 1
            self._queued[ev.ticket] = (t.service, ev.ts)  # the next call ends a second wait

    @property
    def tickets(self) -> int:
        return sum(f.issued for f in self.by_service.values())

    def table(self) -> str:
        rows = [f"{'service':<12}{'issued':>8}{'served':>8}{'abandoned':>10}{'no-shows':>9}{'mean wait':>11}"]
        for sid, f in sorted(self.by_service.items()):
            wait = f"{f.mean_wait_s / 60:.1f} min" if f.mean_wait_s is not None else "-"
            rows.append(f"{sid:<12}{f.issued:>8}{f.served:>8}{f.abandoned:>10}{f.no_shows:>9}{wait:>11}")
        return "\n".join(rows)


def unfinished(state: BranchState) -> list[str]:
    """Tickets of the current day not in a final state."""
    return sorted(n for n, t in state.tickets.items() if t.status is not TicketStatus.DONE and not t.final)
