"""What other systems' exports leave out, put back before `evaluate` folds an event in.

Real exports rarely hold every event of the spec: an old ticket machine keeps
issue and call times only, a switch keeps answer and hang-up times, a day may
end without close-outs. Folded strictly, a counter calling its next customer
while it "still holds" the last one contradicts the history and is skipped,
and the whole log with it. Here each gap is filled with what it most likely
was; a time the log does not give is marked `not_recorded`, so nothing is
learned from it (`Event.measured`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..events import Event, event
from ..state import BranchState, Ticket, TicketStatus

BUSY_UNTIL_CALL_S = 10.0  # the one called had waited this long: its teller was busy (not idle) until the call


@dataclass
class ExportRepairs:
    """Learns from the log how complete it is and plans the events that make each event fit."""

    warnings: Counter[str]
    starts_logged: bool = False  # the log has recorded a service start
    calls_only: bool = False  # ... or, before any, showed that its calls are its starts

    def plan(self, ev: Event, state: BranchState) -> tuple[list[Event], Event | None, list[Event]]:
        """(events to fold before `ev`, `ev` or what stands for it (None: nothing), events to fold after)."""
        t = state.tickets.get(ev.data.get("ticket", "")) if "ticket" in ev.data else None
        if ev.type == "service_started":
            self.starts_logged = True
            if t is not None and t.status is TicketStatus.WAITING:
                return [event(ev.ts, "called", ticket=t.number, counter=ev.counter)], ev, []
        elif ev.type == "ticket_issued" and t is not None and not t.final:
            # its number issued again while it is open (a log without close-outs): when it ended is not known
            closed = t.closing(ev.ts, "not_recorded")
            return [closed] if closed is not None else [], ev, []
        elif ev.type == "called" and t is not None:
            before = self._release(ev, state)
            if not self.calls_only:
                return before, ev, []
            return before, ev, [event(ev.ts, "service_started", ticket=t.number, counter=ev.counter)]  # from the call on
        elif ev.type == "service_finished" and t is not None and t.status is TicketStatus.CALLED \
                and not self.starts_logged and t.counter == ev.data.get("counter"):
            # finished without a start, in a log with none so far: its calls are the starts (an export
            # of answer and hang-up times); from now on each starts at its call, this one untimed
            self.calls_only = True
            return ([event(ev.ts, "service_started", ticket=t.number, counter=ev.counter)],
                    event(ev.ts, "service_finished", **{**ev.data, "reason": "not_recorded"}), [])
        elif ev.type in ("counter_paused", "counter_closed") and "counter" in ev.data:
            return self._finish_assumed(ev, state), ev, []
        elif ev.type in ("recalled", "no_show") and t is not None and self._assumed_start(t):
            return [], self._after_assumed_start(ev, t), []
        return [], ev, []

    def _release(self, ev: Event, state: BranchState) -> list[Event]:
        """A counter calls while it still holds a ticket: what the log left out about that one.

        A ticket being served was finished when its teller called the next (timed
        only if the one called had been waiting, so the teller was busy until now).
        A called ticket that never started: where the log records starts, a no-show;
        where it has none so far, the first sign that every call is a service, which
        from then on starts at its call and ends at the teller's next call.
        """
        held = _holding(state, ev.counter)
        if held is None or held.number == ev.ticket:
            return []
        if held.status is TicketStatus.SERVING:
            timed = held.started_at is not None and state.business_day(held.started_at) == state.business_day(ev.ts) \
                and state.tickets[ev.ticket].waited(ev.ts) >= BUSY_UNTIL_CALL_S
            return [event(ev.ts, "service_finished", ticket=held.number, counter=ev.counter,
                          reason=None if timed else "not_recorded")]
        if self.starts_logged:
            return [event(ev.ts, "no_show", ticket=held.number, counter=ev.counter)]
        self.calls_only = True
        return [event(ev.ts, "service_started", ticket=held.number, counter=ev.counter),
                event(ev.ts, "service_finished", ticket=held.number, counter=ev.counter, reason="not_recorded")]

    def _finish_assumed(self, ev: Event, state: BranchState) -> list[Event]:
        """A pause or closing at a counter still holding a ticket started at its call: the teller had
        finished, when is not recorded."""
        held = _holding(state, ev.counter)
        if held is None or not self._assumed_start(held):
            return []
        return [event(ev.ts, "service_finished", ticket=held.number, counter=ev.counter, reason="not_recorded")]

    def _after_assumed_start(self, ev: Event, t: Ticket) -> Event | None:
        """The start assumed at the call did not happen: a recall changes nothing kept; a no-show ends
        the ticket there, at a time that is no duration."""
        self.warnings[f"{ev.type} after a start assumed at the call: "
                      f"{'ignored' if ev.type == 'recalled' else 'ended as not recorded'}"] += 1
        if ev.type == "recalled":
            return None
        return event(ev.ts, "service_finished", ticket=t.number, counter=ev.counter, reason="not_recorded")

    def _assumed_start(self, t: Ticket) -> bool:
        return self.calls_only and t.status is TicketStatus.SERVING and t.started_at == t.called_at


def _holding(state: BranchState, counter: str) -> Ticket | None:
    """The ticket a counter holds (called or being served), if any."""
    c = state.counters.get(counter)
    return state.tickets.get(c.ticket) if c is not None and c.ticket is not None else None
