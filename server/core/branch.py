"""The teller's and the kiosk's actions: check the rules, emit the events.

`Branch` decides; `BranchState.apply` folds. A command never mutates state
itself: it returns the events that would record it, so the caller can persist
them first and apply them only once they are stored (nothing acknowledged is
lost, nothing unstored is shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .clock import Clock
from .config import BranchConfig
from .errors import IllegalAction, InvalidInput
from .events import CHANNELS, Event, event
from .policy import service_to_call
from .state import BranchState, CounterState, CounterStatus, Ticket, TicketStatus

ACTIONS = (
    "open", "close", "pause", "resume", "call-next", "recall", "start", "finish",
    "wrapup-start", "wrapup-done", "no-show", "transfer",
)


@dataclass(frozen=True)
class Decision:
    """The events an action produces and the ticket it concerns (if any)."""

    events: list[Event]
    ticket: str | None = None


class Branch:
    """Decides actions against a BranchState, with an injected clock."""

    def __init__(self, config: BranchConfig, clock: Clock, state: BranchState | None = None) -> None:
        self.config = config
        self.clock = clock
        self.state = state if state is not None else BranchState()
        # The state's set-up last found equal to ours: comparing two whole
        # set-ups field by field on every action was 4% of the server's loop
        # time in bench/server.py (40 counters); the same object is not compared again.
        self._agreed: BranchConfig | None = None

    # ------------------------------------------------------------ time & days
    def now(self) -> datetime:
        """The time stamped on new events: never earlier than the last one.

        A system clock stepped backwards must not put events out of order, nor
        take the business day back (which would restart ticket numbers).
        """
        now = self.clock.now()
        last = self.state.last_ts
        return last if last is not None and now < last else now

    def _preamble(self, now: datetime) -> list[Event]:
        """Events that must precede any action at `now`: config, day close-out."""
        st = self.state
        if st.config is None:
            return [event(now, "branch_config", **self.config.event_fields())]
        if st.day is not None and st.business_day(now) <= st.day:
            # Same day. A history whose set-up differs from ours (an imported
            # log, an edited config file) is brought in line first, so every
            # event is judged against the config it was decided with.
            if st.config is self._agreed or st.config == self.config:
                self._agreed = st.config
                return []
            return [event(now, "branch_config", **self.config.event_fields())]
        out: list[Event] = []
        # Close yesterday properly so every ticket ends in a final state.
        out += [e for t in st.tickets.values() if (e := t.closing(now, "end_of_day")) is not None]
        for c in st.counters.values():
            if c.status is not CounterStatus.CLOSED:
                out.append(event(now, "counter_closed", counter=c.id, reason="end_of_day"))
        out.append(event(now, "branch_config", **self.config.event_fields()))
        return out

    def _decide(self, build) -> Decision:  # type: ignore[no-untyped-def]
        now = self.now()
        pre = self._preamble(now)
        if pre:  # decide against the state as it will be after the preamble
            probe = _copy_state(self.state, pre)
            decision = Branch(self.config, self.clock, probe)._build(build, now)
            return Decision(pre + decision.events, decision.ticket)
        return self._build(build, now)

    def _build(self, build, now: datetime) -> Decision:  # type: ignore[no-untyped-def]
        return build(self, now)

    # --------------------------------------------------------------- tickets
    def issue_ticket(self, service: str, channel: str = "kiosk") -> Decision:
        """A customer takes a number for `service`."""
        self.config.service(service)  # NotFound names the allowed services
        if channel not in CHANNELS:
            raise InvalidInput(f"Unknown channel '{channel}'; allowed: {', '.join(CHANNELS)}.")

        def build(b: Branch, now: datetime) -> Decision:
            svc = b.config.service(service)
            number = f"{svc.prefix}{b.state.last_number.get(svc.prefix, 0) + 1:03d}"
            return Decision([event(now, "ticket_issued", ticket=number, service=service,
                                   channel=channel)], number)

        return self._decide(build)

    def close_day(self) -> Decision:
        """Only what a new business day requires: yesterday's close-out and the day's set-up.

        No events on the same day. The server calls it when the day turns, so
        the screens do not show yesterday's queue until the first action.
        """
        return self._decide(lambda b, now: Decision([]))

    def abandon(self, number: str) -> Decision:
        """Staff record that a waiting customer left."""

        def build(b: Branch, now: datetime) -> Decision:
            t = b._ticket(number)
            if t.status is not TicketStatus.WAITING:
                raise IllegalAction(f"Ticket {number} is {t.status.value}; only a waiting ticket can be abandoned.")
            return Decision([event(now, "abandoned", ticket=number)], number)

        return self._decide(build)

    # -------------------------------------------------------------- counters
    def act(self, counter: str, action: str, **params) -> Decision:  # type: ignore[no-untyped-def]
        """Run a counter action by its API name (see ACTIONS)."""
        self.config.counter(counter)
        method = getattr(self, action.replace("-", "_"), None) if action in ACTIONS else None
        if method is None:
            raise InvalidInput(f"Unknown action '{action}'; allowed: {', '.join(ACTIONS)}.")
        return method(counter, **params)

    def open(self, counter: str, services: list[str] | None = None) -> Decision:
        if services is not None:
            if not services:
                raise InvalidInput("services, when given, must name at least one service.")
            for s in services:
                self.config.service(s)

        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            if c.is_open and services is None:
                raise IllegalAction(f"{b._name(counter)} is already open.", f"{b._name_zh(counter)}已在服务中。")
            if c.status is CounterStatus.PAUSED:
                raise IllegalAction(f"{b._name(counter)} is paused; resume it instead of opening it.",
                                    f"{b._name_zh(counter)}暂停中,请点“恢复”。")
            return Decision([event(now, "counter_opened", counter=counter, services=services)])

        return self._decide(build)

    def close(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            if c.status is CounterStatus.CLOSED:
                raise IllegalAction(f"{b._name(counter)} is already closed.", f"{b._name_zh(counter)}已关闭。")
            b._must_be_idle(c, "closing it")
            return Decision([event(now, "counter_closed", counter=counter)])

        return self._decide(build)

    def pause(self, counter: str, reason: str | None = None, expected_return: datetime | None = None) -> Decision:
        if reason is not None and len(reason) > 100:
            raise InvalidInput("The pause reason is at most 100 characters.")

        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            if c.status is CounterStatus.CLOSED:
                raise IllegalAction(f"{b._name(counter)} is closed; open it before pausing it.",
                                    f"{b._name_zh(counter)}已关闭,无需暂停。")
            if c.status is CounterStatus.PAUSED:
                raise IllegalAction(f"{b._name(counter)} is already paused.", f"{b._name_zh(counter)}已暂停。")
            b._must_be_idle(c, "pausing it")
            if expected_return is not None and expected_return.tzinfo is None:
                raise InvalidInput("expected_return needs a UTC offset, e.g. 2026-11-28T10:40:00+08:00.")
            if expected_return is not None and expected_return <= now:
                raise InvalidInput("expected_return must be later than now.")
            ret = expected_return.astimezone(b.config.tz).isoformat(timespec="seconds") if expected_return else None
            return Decision([event(now, "counter_paused", counter=counter, reason=reason, expected_return=ret)])

        return self._decide(build)

    def resume(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            if c.status is not CounterStatus.PAUSED:
                raise IllegalAction(f"{b._name(counter)} is not paused.", f"{b._name_zh(counter)}未暂停。")
            return Decision([event(now, "counter_resumed", counter=counter)])

        return self._decide(build)

    def call_next(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            b._must_be_free(c, "calling the next ticket")
            st = b.state
            service = service_to_call(c.services, b.config.priority(), lambda s: st.waiting_count(s) > 0)
            if service is None:
                names = ", ".join(b.config.service(s).prefix for s in c.services)
                raise IllegalAction(f"Nobody is waiting for {b._name(counter)}'s services ({names}).",
                                    f"{b._name_zh(counter)}所办业务({names})暂无人等候。")
            head = st.head(service)
            assert head is not None
            return Decision([event(now, "called", ticket=head.number, counter=counter)], head.number)

        return self._decide(build)

    def recall(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            t = b._held(counter, TicketStatus.CALLED, "recall")
            return Decision([event(now, "recalled", ticket=t.number, counter=counter)], t.number)

        return self._decide(build)

    def start(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            t = b._held(counter, TicketStatus.CALLED, "start serving")
            return Decision([event(now, "service_started", ticket=t.number, counter=counter)], t.number)

        return self._decide(build)

    def finish(self, counter: str, wrapup: bool = False, transaction: str | None = None) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            t = b._held(counter, TicketStatus.SERVING, "finish")
            return Decision([event(now, "service_finished", ticket=t.number, counter=counter,
                                   transaction=transaction, wrapup=True if wrapup else None)], t.number)

        return self._decide(build)

    def no_show(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            t = b._held(counter, TicketStatus.CALLED, "mark a no-show")
            return Decision([event(now, "no_show", ticket=t.number, counter=counter)], t.number)

        return self._decide(build)

    def transfer(self, counter: str, service: str) -> Decision:
        """The customer at the window needs another service: re-queue them.

        They keep their place in line (their original issue order), since they
        have already waited once.
        """
        self.config.service(service)

        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            if c.ticket is None:
                raise IllegalAction(f"{b._name(counter)} has no customer to transfer.",
                                    f"{b._name_zh(counter)}当前没有客户可转办。")
            t = b.state.tickets[c.ticket]
            if t.service == service:
                raise InvalidInput(f"Ticket {t.number} is already for service {service}; pick another service.")
            evs = []
            if t.status is TicketStatus.SERVING:  # close the part done here, so durations stay true
                evs.append(event(now, "service_finished", ticket=t.number, counter=counter))
            evs.append(event(now, "transferred", ticket=t.number, service=service, counter=counter))
            return Decision(evs, t.number)

        return self._decide(build)

    def wrapup_start(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            b._must_be_free(c, "starting back-office work")
            return Decision([event(now, "wrapup_started", counter=counter)])

        return self._decide(build)

    def wrapup_done(self, counter: str) -> Decision:
        def build(b: Branch, now: datetime) -> Decision:
            c = b._counter(counter)
            if c.status is not CounterStatus.WRAPUP:
                raise IllegalAction(f"{b._name(counter)} is not doing back-office work.",
                                    f"{b._name_zh(counter)}没有未办结的后台工作。")
            return Decision([event(now, "wrapup_finished", counter=counter)])

        return self._decide(build)

    # --------------------------------------------------------------- helpers
    def _name(self, counter: str) -> str:
        c = self.config.counter(counter)
        return c.name_en or f"Counter {c.id}"

    def _name_zh(self, counter: str) -> str:
        return self.config.counter(counter).name

    def _counter(self, counter: str) -> CounterState:
        self.config.counter(counter)
        c = self.state.counters.get(counter)
        if c is None:
            c = self.state.counters[counter] = CounterState(counter, services=self.config.counter(counter).services)
        return c

    def _ticket(self, number: str) -> Ticket:
        t = self.state.tickets.get(number)
        if t is None:
            from .errors import NotFound

            raise NotFound(f"Ticket {number} was not issued today.", f"今天没有{number}号。")
        return t

    def _must_be_free(self, c: CounterState, doing: str) -> None:
        n, z = self._name(c.id), self._name_zh(c.id)
        blocked = {
            CounterStatus.CLOSED: (f"{n} is closed; open it before {doing}.", f"{z}已关闭,请先开窗。"),
            CounterStatus.PAUSED: (f"{n} is paused; resume it before {doing}.", f"{z}暂停中,请先恢复。"),
            CounterStatus.WRAPUP: (f"{n} is finishing back-office work; mark it done before {doing}.",
                                   f"{z}后台工作未办结,请先点“办结”。"),
            CounterStatus.CALLING: (f"{n} has called {c.ticket}; start, recall or mark a no-show before {doing}.",
                                    f"{z}已叫{c.ticket}号,请先开始办理、重呼或过号。"),
            CounterStatus.SERVING: (f"{n} is serving {c.ticket}; finish it before {doing}.",
                                    f"{z}正在办理{c.ticket}号,请先办结。"),
        }
        if c.status in blocked:
            raise IllegalAction(*blocked[c.status])

    def _must_be_idle(self, c: CounterState, doing: str) -> None:
        if c.ticket is not None:
            raise IllegalAction(
                f"{self._name(c.id)} has ticket {c.ticket} at the window; finish it or mark a no-show before {doing}.",
                f"{self._name_zh(c.id)}还有{c.ticket}号未办结,请先办结或过号。",
            )

    def _held(self, counter: str, status: TicketStatus, doing: str) -> Ticket:
        c = self._counter(counter)
        t = self.state.tickets.get(c.ticket) if c.ticket else None
        if t is None:
            raise IllegalAction(f"{self._name(counter)} has no called ticket to {doing}; call the next ticket first.",
                                f"{self._name_zh(counter)}当前没有叫号,请先叫号。")
        if t.status is not status:
            what = {TicketStatus.CALLED: "called but not started", TicketStatus.SERVING: "being served"}
            raise IllegalAction(
                f"Ticket {t.number} at {self._name(counter)} is {what.get(t.status, t.status.value)}; cannot {doing}.",
                f"{self._name_zh(counter)}的{t.number}号当前状态不能执行此操作。",
            )
        return t


def _copy_state(state: BranchState, extra: list[Event]) -> BranchState:
    """A throw-away state = `state` plus `extra` events (for day rollover)."""
    import copy

    probe = copy.deepcopy(state)
    probe.apply_all(extra)
    return probe
