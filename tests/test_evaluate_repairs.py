"""evaluate on exports that leave things out: calls only, a missing finish, a day never closed out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from server.core.estimator import Estimator
from server.core.estimator.evaluate import OURS, replay_lines, report
from server.core.events import event
from server.core.state import CounterStatus, TicketStatus

from .test_estimator_eval import MMC, PRIORITY, branch_log

TZ = timezone(timedelta(hours=8))
CONFIG = {"branch": "g", "services": [{"id": "A", "name": "A", "prefix": "A", "priority": 1}],
          "counters": [{"id": "1", "name": "1", "services": ["A"]}]}


def at(minutes: float, day: int = 1) -> datetime:
    return datetime(2026, 12, day, 9, 0, tzinfo=TZ) + timedelta(minutes=minutes)


def replay(events):  # type: ignore[no-untyped-def]
    return replay_lines([e.to_json() for e in events], Estimator(rng=np.random.default_rng(1), replications=16,
                                                                  joins=False))


def test_a_log_of_issues_and_calls_only_is_scored_whole_and_learns_call_to_call_durations() -> None:
    """An old machine's export (issued, called): every call is a service from the call to the teller's
    next; nothing is skipped, every called ticket is scored, and the estimator still beats the naive rule."""
    lines = [line for line in branch_log(hours=8, seed=5, **PRIORITY)
             if '"service_started"' not in line and '"service_finished"' not in line]
    rp = replay_lines(lines, Estimator(rng=np.random.default_rng(1), joins=False))
    rep = report(rp)
    assert not [w for w in rp.warnings if "skipped" in w], rp.warnings
    assert rep["scored"] == sum('"called"' in line for line in lines) > 100
    # every call after the first sign that the log has no starts (a counter calling while holding one)
    assert rep["scored"] - 4 <= rp.warnings["repaired: service_started inserted after called"] < rep["scored"]
    durations = [s[2] for s in rp.services]
    assert len(durations) > 0.5 * rep["scored"] and all(0 < d < 4 * 3600 for d in durations)
    assert rep["wait"][OURS]["MAE"] < rep["wait"]["naive"]["MAE"]


def test_calls_only_keeps_the_counters_pauses_and_the_no_shows() -> None:
    """With counter events but no service events, a pause still pauses; a no-show ends the ticket."""
    rp = replay([event(at(0), "branch_config", **CONFIG), event(at(0), "counter_opened", counter="1"),
                 *[event(at(i), "ticket_issued", ticket=f"A00{i}", service="A") for i in range(1, 5)],
                 event(at(5), "called", ticket="A001", counter="1"),
                 event(at(9), "called", ticket="A002", counter="1"),  # A001 never started: calls only
                 event(at(13), "called", ticket="A003", counter="1"),
                 event(at(13.5), "recalled", ticket="A003", counter="1"),
                 event(at(14.5), "no_show", ticket="A003", counter="1"),
                 event(at(15), "called", ticket="A004", counter="1"),
                 event(at(20), "counter_paused", counter="1", reason="lunch")])
    st = rp.state
    assert st.counters["1"].status is CounterStatus.PAUSED and st.counters["1"].ticket is None
    assert [st.tickets[n].status for n in ("A001", "A002", "A003", "A004")] == [TicketStatus.DONE] * 4
    assert [round(s[2]) for s in rp.services] == [240]  # A002, 9 -> 13 min; A004 until the pause is not timed
    assert not [w for w in rp.warnings if "skipped" in w], rp.warnings


def test_a_missing_finish_or_start_is_closed_by_the_next_call() -> None:
    """Where the log records starts: a serving ticket ends at its teller's next call, and a called one
    that never started was a no-show."""
    rp = replay([event(at(0), "branch_config", **CONFIG), event(at(0), "counter_opened", counter="1"),
                 *[event(at(i), "ticket_issued", ticket=f"A00{i}", service="A") for i in range(1, 4)],
                 event(at(5), "called", ticket="A001", counter="1"),
                 event(at(5.5), "service_started", ticket="A001", counter="1"),
                 event(at(10), "called", ticket="A002", counter="1"),  # A001's finish is missing
                 event(at(14), "called", ticket="A003", counter="1")])  # A002 never started
    st = rp.state
    assert st.tickets["A001"].status is TicketStatus.DONE and st.tickets["A002"].status is TicketStatus.NO_SHOW
    assert [round(s[2]) for s in rp.services] == [270]
    assert not [w for w in rp.warnings if "skipped" in w], rp.warnings


def test_a_day_never_closed_out_does_not_teach_an_overnight_duration() -> None:
    """Yesterday's ticket still at the counter when its number comes again: closed, not learned from."""
    lines = [line for line in branch_log(hours=3, seed=2, **MMC) if '"service_finished"' not in line]
    tomorrow = [event(at(0, day=2), "ticket_issued", ticket="A001", service="A"),
                event(at(1, day=2), "called", ticket="A001", counter="1")]
    rp = replay_lines(lines + [e.to_json() for e in tomorrow], Estimator(rng=np.random.default_rng(1), joins=False))
    assert rp.state.tickets["A001"].issued_at == at(0, day=2)
    assert not [w for w in rp.warnings if "skipped" in w], rp.warnings
    assert max(s[2] for s in rp.services) < 3 * 3600


def test_finishes_without_starts_make_the_calls_the_starts() -> None:
    """An export of answer and hang-up times (called, service_finished): each service is timed from its call."""
    rp = replay([event(at(0), "branch_config", **CONFIG), event(at(0), "counter_opened", counter="1"),
                 *[event(at(i), "ticket_issued", ticket=f"A00{i}", service="A") for i in range(1, 4)],
                 event(at(5), "called", ticket="A001", counter="1"),
                 event(at(8), "service_finished", ticket="A001", counter="1"),  # the first: the sign, untimed
                 event(at(8), "called", ticket="A002", counter="1"),
                 event(at(12), "service_finished", ticket="A002", counter="1"),
                 event(at(12.5), "called", ticket="A003", counter="1"),
                 event(at(14), "service_finished", ticket="A003", counter="1")])
    assert [round(s[2]) for s in rp.services] == [240, 90]
    assert all(rp.state.tickets[f"A00{i}"].status is TicketStatus.DONE for i in range(1, 4))
    assert not [w for w in rp.warnings if "skipped" in w], rp.warnings
