"""Traces of the branch core with explicit times: whole event sequences asserted."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from server.core.branch import Branch
from server.core.errors import IllegalAction, InvalidInput, NotFound
from server.core.state import CounterStatus, TicketStatus

from .conftest import SHANGHAI


def run(b: Branch, decision):
    b.state.apply_all(decision.events)
    return decision


def trace(decisions) -> list[tuple]:
    out = []
    for d in decisions:
        for e in d.events:
            fields = tuple(e.data.get(k) for k in ("ticket", "counter", "service") if k in e.data)
            out.append((e.ts.strftime("%H:%M:%S"), e.type, *fields))
    return out


@pytest.fixture
def branch(demo_config, clock) -> Branch:
    return Branch(demo_config, clock)


def test_first_action_of_the_day_writes_the_config_first(branch, clock):
    """The first event a branch writes is its branch_config, as the spec asks."""
    d = run(branch, branch.act("2", "open"))
    assert [e.type for e in d.events] == ["branch_config", "counter_opened"]
    assert d.events[0].data["branch"] == "demo"


def test_a_customer_day_at_one_counter(branch, clock):
    """Issue, call, start, finish with wrap-up, wrap-up done: the exact trace."""
    ds = [run(branch, branch.act("2", "open"))]
    clock.advance(60)
    ds.append(run(branch, branch.issue_ticket("B")))
    clock.advance(5)
    ds.append(run(branch, branch.act("2", "call-next")))
    clock.advance(20)
    ds.append(run(branch, branch.act("2", "start")))
    clock.advance(300)
    ds.append(run(branch, branch.act("2", "finish", wrapup=True)))
    clock.advance(45)
    ds.append(run(branch, branch.act("2", "wrapup-done")))
    assert trace(ds)[1:] == [
        ("09:00:00", "counter_opened", "2"),
        ("09:01:00", "ticket_issued", "B001", "B"),
        ("09:01:05", "called", "B001", "2"),
        ("09:01:25", "service_started", "B001", "2"),
        ("09:06:25", "service_finished", "B001", "2"),
        ("09:07:10", "wrapup_finished", "2"),
    ]
    assert branch.state.tickets["B001"].status is TicketStatus.DONE
    assert branch.state.counters["2"].status is CounterStatus.FREE


def test_priority_then_preference_then_first_issued(branch, clock):
    """A counter calls VIP first (higher priority), then its preferred service, then FIFO."""
    run(branch, branch.act("4", "open"))  # prefers V, B, A
    for s in ["A", "B", "A", "B", "V"]:
        clock.advance(10)
        run(branch, branch.issue_ticket(s))
    called = []
    for _ in range(5):
        clock.advance(10)
        d = run(branch, branch.act("4", "call-next"))
        called.append(d.ticket)
        run(branch, branch.act("4", "start"))
        run(branch, branch.act("4", "finish"))
    assert called == ["V001", "B001", "B002", "A001", "A002"]


def test_ticket_numbers_are_per_service_and_restart_each_business_day(branch, clock):
    """Numbers count per prefix and restart at the business day's start, never mid-day."""
    numbers = [run(branch, branch.issue_ticket(s)).ticket for s in ["A", "A", "B"]]
    clock.set(datetime(2026, 12, 1, 23, 59, tzinfo=SHANGHAI))
    numbers.append(run(branch, branch.issue_ticket("A")).ticket)
    clock.set(datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI))
    d = run(branch, branch.issue_ticket("A"))
    numbers.append(d.ticket)
    assert numbers == ["A001", "A002", "B001", "A003", "A001"]
    # yesterday's leftovers were closed out before the new day's config
    assert [e.type for e in d.events] == ["abandoned"] * 4 + ["branch_config", "ticket_issued"]


def test_clock_stepped_back_keeps_order_and_numbering(branch, clock):
    """A system clock jumping backwards neither reorders events nor restarts numbers."""
    clock.set(datetime(2026, 12, 2, 0, 5, tzinfo=SHANGHAI))
    first = run(branch, branch.issue_ticket("A"))
    clock.set(datetime(2026, 12, 1, 23, 50, tzinfo=SHANGHAI))  # NTP step back over midnight
    second = run(branch, branch.issue_ticket("A"))
    assert (first.ticket, second.ticket) == ("A001", "A002")
    assert second.events[-1].ts == first.events[-1].ts


def test_paused_counter_refuses_to_call_with_a_sentence(branch, clock):
    """Calling at a paused counter is refused with what to do about it."""
    run(branch, branch.act("3", "open"))
    run(branch, branch.act("3", "pause", reason="lunch", expected_return=clock.now() + timedelta(minutes=40)))
    run(branch, branch.issue_ticket("B"))
    with pytest.raises(IllegalAction, match="Counter 3 is paused; resume it before calling the next ticket"):
        branch.act("3", "call-next")
    c = branch.state.counters["3"]
    assert (c.status, c.pause_reason) == (CounterStatus.PAUSED, "lunch")
    assert c.expected_return == datetime(2026, 12, 1, 9, 40, tzinfo=SHANGHAI)


def test_closed_counter_and_busy_counter_errors(branch, clock):
    """A closed counter cannot call; a serving counter cannot pause or call again."""
    run(branch, branch.issue_ticket("A"))
    with pytest.raises(IllegalAction, match="closed; open it"):
        branch.act("1", "call-next")
    run(branch, branch.act("1", "open"))
    run(branch, branch.act("1", "call-next"))
    run(branch, branch.act("1", "start"))
    with pytest.raises(IllegalAction, match="is serving A001; finish it"):
        branch.act("1", "call-next")
    with pytest.raises(IllegalAction, match="finish it or mark a no-show before pausing"):
        branch.act("1", "pause")


def test_nobody_waiting_is_a_clear_conflict(branch):
    """Call-next with an empty queue says nobody waits for that counter's services."""
    run(branch, branch.act("5", "open"))
    run(branch, branch.issue_ticket("A"))
    with pytest.raises(IllegalAction, match=r"Nobody is waiting for Counter 5's services \(C\)"):
        branch.act("5", "call-next")


def test_unknown_names_list_what_is_allowed(branch):
    """Unknown service, counter, action or channel: the error lists the allowed values."""
    with pytest.raises(NotFound, match="this branch offers: A, B, C, V"):
        branch.issue_ticket("Z")
    with pytest.raises(NotFound, match="counters: 1, 2, 3, 4, 5"):
        branch.act("9", "open")
    with pytest.raises(InvalidInput, match="allowed: open, close"):
        branch.act("1", "dance")
    with pytest.raises(InvalidInput, match="allowed: kiosk, mobile"):
        branch.issue_ticket("A", channel="fax")


def test_transfer_keeps_the_place_in_line(branch, clock):
    """A transferred customer re-queues ahead of those who took a number after them."""
    run(branch, branch.act("2", "open"))
    run(branch, branch.issue_ticket("A"))  # A001 first
    clock.advance(60)
    run(branch, branch.issue_ticket("B"))  # B001 later
    run(branch, branch.act("2", "call-next"))  # A001
    run(branch, branch.act("2", "start"))
    clock.advance(120)
    d = run(branch, branch.act("2", "transfer", service="B"))
    assert [e.type for e in d.events] == ["service_finished", "transferred"]
    assert [t.number for t in branch.state.waiting("B")] == ["A001", "B001"]
    assert branch.state.counters["2"].status is CounterStatus.FREE


def test_no_show_recall_and_wrapup_start(branch, clock):
    """Recall keeps the ticket at the window; no-show frees it; wrap-up starts at a free counter."""
    run(branch, branch.act("1", "open"))
    run(branch, branch.issue_ticket("A"))
    run(branch, branch.act("1", "call-next"))
    clock.advance(30)
    d = run(branch, branch.act("1", "recall"))
    assert (d.events[0].type, d.ticket) == ("recalled", "A001")
    assert [c.recall for c in branch.state.recent_calls] == [False, True]
    run(branch, branch.act("1", "no-show"))
    assert branch.state.tickets["A001"].status is TicketStatus.NO_SHOW
    run(branch, branch.act("1", "wrapup-start"))
    assert branch.state.counters["1"].status is CounterStatus.WRAPUP
    with pytest.raises(IllegalAction, match="back-office work; mark it done"):
        branch.act("1", "call-next")


def test_decisions_do_not_change_state_until_applied(branch):
    """Deciding an action leaves the state untouched: persist first, then apply."""
    before = branch.state.seq
    d = branch.issue_ticket("A")
    assert branch.state.seq == before and not branch.state.tickets
    branch.state.apply_all(d.events)
    assert branch.state.tickets["A001"].status is TicketStatus.WAITING
