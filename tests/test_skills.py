"""Counters the set-up does not describe: what they serve, and in which order, learned from their calls."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from server.core.estimator import Estimator
from server.core.estimator.evaluate import OURS, replay_lines, report
from server.core.estimator.skills import MIN_CALLS, CounterSkills
from server.core.events import event
from server.core.state import BranchState

from .test_estimator_eval import PRIORITY, branch_log

TZ = timezone(timedelta(hours=8))


def _calls(state: BranchState, skills: CounterSkills, counter: str, service: str, n: int, start: int,
           waiting: str | None = None) -> int:
    """`n` calls of `service` at `counter`, each while one `waiting` ticket (if any) waits; returns the next minute."""
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
    if waiting is not None:
        state.apply(event(t0 + timedelta(minutes=start), "ticket_issued", ticket=f"{waiting}{start:04d}", service=waiting))
    for i in range(start, start + n):
        at = t0 + timedelta(minutes=i)
        number = f"{service}{i:04d}"
        for e in (event(at, "ticket_issued", ticket=number, service=service), event(at, "called", ticket=number, counter=counter)):
            state.apply(e)
            skills.observe(e, state)
        for e in (event(at, "service_started", ticket=number, counter=counter),
                  event(at + timedelta(seconds=30), "service_finished", ticket=number, counter=counter)):
            state.apply(e)
    return start + n


def test_a_counter_serves_what_it_has_called_first_what_it_calls_while_others_wait() -> None:
    state, skills = BranchState(), CounterSkills()
    nxt = _calls(state, skills, "1", "A", MIN_CALLS - 1, 0)
    assert skills.services("1") == ()  # too few calls to rule anything out
    nxt = _calls(state, skills, "1", "A", 1, nxt)
    assert skills.services("1") == ("A",)
    nxt = _calls(state, skills, "7", "A", 12, nxt)
    nxt = _calls(state, skills, "7", "V", 10, nxt, waiting="A")  # V called while an A ticket waits
    assert skills.services("7") == ("V", "A")


def test_without_the_set_up_the_estimator_learns_the_windows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A log with no branch_config (a VIP class, an express window): the calls teach each counter's classes
    in its order, and the waits come out far closer than with every counter serving everything."""
    lines = [line for line in branch_log(hours=16, seed=11, **PRIORITY) if '"branch_config"' not in line]
    est = Estimator(rng=np.random.default_rng(1), joins=False)
    learned = report(replay_lines(lines, est))["wait"][OURS]["MAE"]
    assert {c: est.skills.services(c) for c in "1234"} == {"1": ("V", "A"), "2": ("V", "A"), "3": ("E",), "4": ("A", "E")}
    monkeypatch.setattr(CounterSkills, "services", lambda self, counter: ())
    unlearned = report(replay_lines(lines, Estimator(rng=np.random.default_rng(1), joins=False)))["wait"][OURS]["MAE"]
    assert learned < 0.6 * unlearned
