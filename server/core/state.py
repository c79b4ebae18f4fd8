"""Branch state as a fold over events.

`BranchState.apply` is the only code that changes state, for live operation,
replay, import, the estimator's evaluation and the simulator's logs alike. It
checks that each event fits the history before it; the rules about which
actions a teller may take live in `branch.py`, which emits the events.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from .config import BranchConfig, Counter, Service, config_from_mapping
from .errors import BranchError, InconsistentEvent, LogError
from .events import Event, event


class TicketStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    ABANDONED = "abandoned"


FINAL = frozenset({TicketStatus.DONE, TicketStatus.NO_SHOW, TicketStatus.ABANDONED})


class CounterStatus(StrEnum):
    CLOSED = "closed"
    FREE = "free"  # open, nobody at the window, ready to call
    CALLING = "calling"  # a number was called; the customer is on the way
    SERVING = "serving"
    WRAPUP = "wrapup"  # back-office work: busy, calls nobody
    PAUSED = "paused"


@dataclass(slots=True)
class Ticket:
    number: str
    service: str
    issued_at: datetime
    order: int  # place in line: issue order; a transfer keeps it (see README)
    channel: str | None = None
    status: TicketStatus = TicketStatus.WAITING
    queued_at: datetime | None = None  # when it (re)joined its current queue
    counter: str | None = None
    called_at: datetime | None = None  # latest call
    first_called_at: datetime | None = None
    calls: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    transfers: int = 0
    services_seen: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def waited(self, now: datetime) -> float:
        """Seconds in its current line at `now` (since it joined it: issued, or transferred)."""
        return (now - (self.queued_at or self.issued_at)).total_seconds()

    def closing(self, ts: datetime, reason: str) -> Event | None:
        """The event that ends this open ticket at `ts` without the customer (a day's close-out, a gap in a
        log): given up if waiting, a no-show if called, finished if served; None if already final."""
        if self.status is TicketStatus.WAITING:
            return event(ts, "abandoned", ticket=self.number, reason=reason)
        if self.status is TicketStatus.CALLED:
            return event(ts, "no_show", ticket=self.number, counter=self.counter, reason=reason)
        if self.status is TicketStatus.SERVING:
            return event(ts, "service_finished", ticket=self.number, counter=self.counter, reason=reason)
        return None


@dataclass(slots=True)
class CounterState:
    id: str
    status: CounterStatus = CounterStatus.CLOSED
    since: datetime | None = None  # when the status last changed
    ticket: str | None = None  # the ticket called to / served at this window
    services: tuple[str, ...] = ()  # services it serves now (config order unless overridden)
    pause_reason: str | None = None
    expected_return: datetime | None = None
    served_today: int = 0
    opened_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in (CounterStatus.CLOSED, CounterStatus.PAUSED)


@dataclass(frozen=True, slots=True)
class Call:
    ts: datetime
    ticket: str
    counter: str
    recall: bool


class BranchState:
    """Everything the branch knows now, rebuilt from its events."""

    def __init__(self, config: BranchConfig | None = None) -> None:
        self.config: BranchConfig | None = None
        self.seq = 0  # number of events applied
        self.last_ts: datetime | None = None
        self.day: date | None = None
        self.tickets: dict[str, Ticket] = {}
        self.counters: dict[str, CounterState] = {}
        self.queues: dict[str, list[tuple[int, str]]] = {}  # service -> [(order, number)]
        self.recent_calls: deque[Call] = deque(maxlen=12)
        self.last_number: dict[str, int] = {}  # prefix -> last number issued today
        self._issued = 0
        if config is not None:
            self._set_config(config, None)

    # ----------------------------------------------------------------- queries
    def waiting(self, service: str) -> list[Ticket]:
        return [self.tickets[n] for _, n in self.queues.get(service, ())]

    def waiting_count(self, service: str) -> int:
        return len(self.queues.get(service, ()))

    def head(self, service: str) -> Ticket | None:
        q = self.queues.get(service)
        return self.tickets[q[0][1]] if q else None

    def ticket(self, number: str) -> Ticket | None:
        return self.tickets.get(number)

    def business_day(self, ts: datetime) -> date:
        """The business day a time belongs to, in the branch's timezone."""
        if self.config is None:
            return ts.date()
        local = ts.astimezone(self.config.tz)
        start = self.config.day_starts_at
        return (local - timedelta(hours=start.hour, minutes=start.minute)).date()

    # ----------------------------------------------------------------- the fold
    def apply_all(self, events: Iterable[Event]) -> BranchState:
        for ev in events:
            self.apply(ev)
        return self

    def apply_line(self, number: int, ev: Event) -> None:
        """apply() for line `number` of a log file: whatever does not fit is a LogError naming the line.

        The reader checks the form of the fields the core relies on; a field of
        the wrong type it lets through (e.g. "services": 5) fails in a handler
        and is still the file's fault, so it never escapes as a traceback.
        """
        try:
            self.apply(ev)
        except BranchError as exc:
            raise LogError(number, exc.message) from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise LogError(number, f"'{ev.type}' has a field of the wrong type ({exc})") from None

    def apply(self, ev: Event) -> None:
        """Fold one event in, or raise InconsistentEvent and change nothing."""
        handler = _HANDLERS.get(ev.type)
        if handler is None:
            return
        if self.config is not None and ev.type != "branch_config":
            day = self.business_day(ev.ts)
            if self.day is None or day > self.day:
                self._new_day(day)
        handler(self, ev)
        self.seq += 1
        self.last_ts = ev.ts if self.last_ts is None else max(self.last_ts, ev.ts)

    # -- configuration and days
    def _on_branch_config(self, ev: Event) -> None:
        self._set_config(config_from_mapping(ev.data, strict=False), ev.ts)

    def _set_config(self, config: BranchConfig, ts: datetime | None) -> None:
        self.config = config
        if ts is not None:
            day = self.business_day(ts)
            if self.day is None or day > self.day:
                self._new_day(day)
        for c in config.counters:
            state = self.counters.setdefault(c.id, CounterState(c.id))
            if state.status is CounterStatus.CLOSED or not state.services:
                state.services = c.services
        for s in config.services:
            self.queues.setdefault(s.id, [])

    def _new_day(self, day: date) -> None:
        """A new business day: numbering restarts, yesterday's queue is gone."""
        self.day = day
        self.last_number.clear()
        self.tickets = {n: t for n, t in self.tickets.items() if not t.final}
        for q in self.queues.values():
            q.clear()
        for t in self.tickets.values():  # still-open tickets of a log without close-out
            if t.status is TicketStatus.WAITING:
                bisect.insort(self.queues.setdefault(t.service, []), (t.order, t.number))
        for c in self.counters.values():
            c.served_today = 0
        self.recent_calls.clear()

    # -- tickets
    def _on_ticket_issued(self, ev: Event) -> None:
        number, service = ev.ticket, ev.service
        old = self.tickets.get(number)
        if old is not None and not old.final:
            raise InconsistentEvent(f"ticket {number} was issued twice while the first is still open")
        self._service(service, number)
        self._issued += 1
        t = Ticket(number, service, ev.ts, self._issued, channel=ev.get("channel"), queued_at=ev.ts,
                   services_seen=(service,))
        self.tickets[number] = t
        self.queues.setdefault(service, []).append((t.order, number))
        prefix, digits = _split_number(number)
        if digits is not None:
            self.last_number[prefix] = max(self.last_number.get(prefix, 0), digits)

    def _on_called(self, ev: Event) -> None:
        t = self._ticket(ev, TicketStatus.WAITING)
        c = self._counter(ev.counter, ev.ts)
        if c.ticket is not None and c.ticket != t.number:
            raise InconsistentEvent(f"counter {c.id} already holds ticket {c.ticket}")
        self._dequeue(t)
        t.status, t.counter, t.called_at, t.calls = TicketStatus.CALLED, c.id, ev.ts, t.calls + 1
        if t.first_called_at is None:
            t.first_called_at = ev.ts
        self._set(c, CounterStatus.CALLING, ev.ts)
        c.ticket = t.number
        self.recent_calls.append(Call(ev.ts, t.number, c.id, False))

    def _on_recalled(self, ev: Event) -> None:
        t = self._ticket(ev, TicketStatus.CALLED)
        if t.counter != ev.counter:
            raise InconsistentEvent(f"ticket {t.number} was called to {t.counter}, not {ev.counter}")
        t.calls += 1
        self.recent_calls.append(Call(ev.ts, t.number, ev.counter, True))

    def _on_service_started(self, ev: Event) -> None:
        t = self._ticket(ev, TicketStatus.CALLED)
        self._at_counter(t, ev.counter)
        t.status, t.started_at = TicketStatus.SERVING, ev.ts
        self._set(self.counters[ev.counter], CounterStatus.SERVING, ev.ts)

    def _on_service_finished(self, ev: Event) -> None:
        t = self._ticket(ev, TicketStatus.SERVING)
        self._at_counter(t, ev.counter)
        t.status, t.finished_at = TicketStatus.DONE, ev.ts
        c = self.counters[ev.counter]
        c.ticket = None
        c.served_today += 1
        self._set(c, CounterStatus.WRAPUP if ev.get("wrapup") else CounterStatus.FREE, ev.ts)

    def _on_no_show(self, ev: Event) -> None:
        t = self._ticket(ev, TicketStatus.CALLED)
        self._at_counter(t, ev.counter)
        t.status, t.finished_at = TicketStatus.NO_SHOW, ev.ts
        c = self.counters[ev.counter]
        c.ticket = None
        self._set(c, CounterStatus.FREE, ev.ts)

    def _on_abandoned(self, ev: Event) -> None:
        t = self._ticket(ev, TicketStatus.WAITING)
        self._dequeue(t)
        t.status, t.finished_at = TicketStatus.ABANDONED, ev.ts

    def _on_transferred(self, ev: Event) -> None:
        t = self._known_ticket(ev.ticket)
        if t.status in (TicketStatus.NO_SHOW, TicketStatus.ABANDONED):
            raise InconsistentEvent(f"ticket {t.number} is {t.status.value}; it cannot be transferred")
        # A transfer usually follows service_finished at the first counter (the
        # customer is done there and re-queues): DONE may be transferred.
        self._service(ev.service, t.number)
        if t.status is TicketStatus.WAITING:
            self._dequeue(t)
        elif t.status is not TicketStatus.DONE and t.counter is not None:
            c = self.counters[t.counter]
            c.ticket = None
            self._set(c, CounterStatus.FREE, ev.ts)
        t.status, t.service, t.counter, t.queued_at = TicketStatus.WAITING, ev.service, None, ev.ts
        t.transfers += 1
        t.services_seen = (*t.services_seen, ev.service)
        bisect.insort(self.queues.setdefault(ev.service, []), (t.order, t.number))

    # -- counters
    def _on_counter_opened(self, ev: Event) -> None:
        c = self._counter(ev.counter, ev.ts, implicit_open=False)
        services = ev.get("services")
        if services:
            for s in services:
                self._service(s, None)
            c.services = tuple(services)
        if c.status in (CounterStatus.CLOSED, CounterStatus.PAUSED):
            c.pause_reason = c.expected_return = None
            c.opened_at = ev.ts
            self._set(c, CounterStatus.FREE, ev.ts)

    def _on_counter_paused(self, ev: Event) -> None:
        c = self._counter(ev.counter, ev.ts, implicit_open=False)
        self._idle(c, "paused")
        ret = ev.get("expected_return")
        c.pause_reason = ev.get("reason")
        c.expected_return = datetime.fromisoformat(ret) if ret else None
        self._set(c, CounterStatus.PAUSED, ev.ts)

    def _on_counter_resumed(self, ev: Event) -> None:
        c = self._counter(ev.counter, ev.ts, implicit_open=False)
        c.pause_reason = c.expected_return = None
        if c.status in (CounterStatus.PAUSED, CounterStatus.CLOSED):
            self._set(c, CounterStatus.FREE, ev.ts)

    def _on_counter_closed(self, ev: Event) -> None:
        c = self._counter(ev.counter, ev.ts, implicit_open=False)
        self._idle(c, "closed")
        c.pause_reason = c.expected_return = None
        self._set(c, CounterStatus.CLOSED, ev.ts)

    def _on_wrapup_started(self, ev: Event) -> None:
        c = self._counter(ev.counter, ev.ts)
        if c.ticket is not None:
            raise InconsistentEvent(f"counter {c.id} holds ticket {c.ticket}; wrap-up starts at a free counter")
        self._set(c, CounterStatus.WRAPUP, ev.ts)

    def _on_wrapup_finished(self, ev: Event) -> None:
        c = self._counter(ev.counter, ev.ts)
        if c.status is CounterStatus.WRAPUP:
            self._set(c, CounterStatus.FREE, ev.ts)
        # else: the wrap-up already ended with a pause or close; nothing to undo

    # ----------------------------------------------------------------- helpers
    def _known_ticket(self, number: str) -> Ticket:
        t = self.tickets.get(number)
        if t is None:
            raise InconsistentEvent(f"unknown ticket {number}: it was never issued")
        return t

    def _ticket(self, ev: Event, expected: TicketStatus) -> Ticket:
        t = self._known_ticket(ev.ticket)
        if t.status is not expected:
            raise InconsistentEvent(
                f"'{ev.type}' for ticket {t.number}, which is {t.status.value}, not {expected.value}"
            )
        return t

    def _at_counter(self, t: Ticket, counter: str) -> None:
        if t.counter != counter:
            raise InconsistentEvent(f"ticket {t.number} is at counter {t.counter}, not {counter}")

    def _counter(self, counter_id: str, ts: datetime, implicit_open: bool = True) -> CounterState:
        """The counter's state; a call at a counter a log never opened opens it."""
        c = self.counters.get(counter_id)
        if c is None:
            if self.config is not None and self.config.counters:
                raise InconsistentEvent(f"unknown counter {counter_id}: not in the branch config")
            c = self.counters[counter_id] = CounterState(counter_id, services=tuple(self.queues))
        if implicit_open and c.status is CounterStatus.CLOSED:
            c.opened_at = ts
            self._set(c, CounterStatus.FREE, ts)
        return c

    def _service(self, service: str, number: str | None) -> None:
        if self.config is not None and not self.config.has_service(service):
            whose = f"for ticket {number}" if number is not None else "for a counter"
            raise InconsistentEvent(f"unknown service '{service}' {whose}; known: {', '.join(s.id for s in self.config.services)}")
        if self.config is None and service not in self.queues:
            self.queues[service] = []

    def _idle(self, c: CounterState, what: str) -> None:
        if c.ticket is not None:
            raise InconsistentEvent(f"counter {c.id} cannot be {what} while it holds ticket {c.ticket}")

    def _dequeue(self, t: Ticket) -> None:
        q = self.queues.get(t.service, [])
        i = bisect.bisect_left(q, (t.order, t.number))
        if i < len(q) and q[i][1] == t.number:
            del q[i]

    @staticmethod
    def _set(c: CounterState, status: CounterStatus, ts: datetime) -> None:
        if c.status is not status:
            c.status, c.since = status, ts


def _split_number(number: str) -> tuple[str, int | None]:
    i = len(number)
    while i > 0 and number[i - 1].isdigit():
        i -= 1
    return number[:i], (int(number[i:]) if i < len(number) else None)


_HANDLERS = {
    name.removeprefix("_on_"): fn
    for name, fn in vars(BranchState).items()
    if name.startswith("_on_")
}

__all__ = [
    "BranchState", "Call", "Counter", "CounterState", "CounterStatus", "FINAL", "Service",
    "Ticket", "TicketStatus",
]
