"""The system clock through the API: the business-day boundary and clock jumps never corrupt numbering.

The core's own traces (tests/test_core_branch.py) cover a step back over
midnight; here the same faults go through the server: the stored log, the
close-out that turns the day, a restart with a clock behind the log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import SHANGHAI
from tests.serverkit import API, client, stored_events

pytestmark = pytest.mark.usefixtures("engine")  # runs on SQLite and on PostgreSQL


def _ticket(c, service: str = "A") -> str:
    r = c.post(f"{API}/tickets", json={"service": service})
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


def _log(c) -> list[dict]:
    return [json.loads(line) for line in stored_events(c)]


def _in_order(log: list[dict]) -> bool:
    times = [datetime.fromisoformat(ev["ts"]) for ev in log]
    return times == sorted(times)


def test_the_boundary_instant_starts_the_new_day(tmp_path, clock):
    """One millisecond before the day starts numbering goes on; at the start it restarts with a close-out."""
    with client(tmp_path, clock) as c:
        clock.set(datetime(2026, 12, 1, 23, 59, 59, 999000, tzinfo=SHANGHAI))
        assert [_ticket(c), _ticket(c)] == ["A001", "A002"]
        clock.set(datetime(2026, 12, 2, 0, 0, tzinfo=SHANGHAI))
        assert _ticket(c) == "A001"
        types = [ev["type"] for ev in _log(c)]
        assert types == ["branch_config", "ticket_issued", "ticket_issued",
                         "abandoned", "abandoned", "branch_config", "ticket_issued"]


def test_a_clock_in_utc_still_turns_the_day_at_the_branchs_midnight(tmp_path):
    """A host clock that reports UTC is read in the branch's timezone: the day turns at 16:00 UTC (00:00 +08)."""
    from server.core.clock import ManualClock

    clock = ManualClock(datetime(2026, 12, 1, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    with client(tmp_path, clock) as c:
        assert _ticket(c) == "A001"
        clock.advance(minutes=30)  # 00:29 in Shanghai, still 1 December in UTC
        assert _ticket(c) == "A001"
        types = [ev["type"] for ev in _log(c)]
        assert types == ["branch_config", "ticket_issued", "abandoned", "branch_config", "ticket_issued"]


def test_forward_jump_within_the_day_keeps_numbering(tmp_path, clock):
    """A clock jumping hours ahead on the same day continues the numbers and closes nothing."""
    with client(tmp_path, clock) as c:
        assert _ticket(c) == "A001"
        clock.advance(hours=8)
        assert _ticket(c) == "A002"
        assert [ev["type"] for ev in _log(c)] == ["branch_config", "ticket_issued", "ticket_issued"]


def test_backward_step_over_midnight_through_the_api_and_a_restart(tmp_path, clock):
    """After the day turned, a clock stepped back to yesterday neither restarts numbers nor reorders the log,
    also after a restart with the clock still behind."""
    clock.set(datetime(2026, 12, 1, 23, 55, tzinfo=SHANGHAI))
    with client(tmp_path, clock) as c:
        assert _ticket(c) == "A001"
        clock.set(datetime(2026, 12, 2, 0, 5, tzinfo=SHANGHAI))
        assert _ticket(c) == "A001"  # a new business day
        clock.set(datetime(2026, 12, 1, 23, 50, tzinfo=SHANGHAI))  # NTP steps back over midnight
        assert _ticket(c) == "A002"
    with client(tmp_path, clock) as c:  # restarted, the clock still 15 minutes behind the log
        assert _ticket(c) == "A003"
        log = _log(c)
        assert _in_order(log)
        issued = [ev["ticket"] for ev in log if ev["type"] == "ticket_issued"]
        assert issued == ["A001", "A001", "A002", "A003"]
        assert len([ev for ev in log if ev["type"] == "branch_config"]) == 2  # the day turned once


def test_forward_jump_over_the_boundary_then_back(tmp_path, clock):
    """A clock that jumps a day ahead turns the day (once); stepping back does not turn it back or reuse numbers."""
    with client(tmp_path, clock) as c:
        assert [_ticket(c), _ticket(c, "B")] == ["A001", "B001"]
        clock.advance(days=1)
        assert _ticket(c) == "A001"  # the log says a new day began: numbers restart, yesterday closed out
        clock.advance(days=-1, minutes=1)  # corrected back to real time
        assert [_ticket(c), _ticket(c, "B")] == ["A002", "B001"]
        log = _log(c)
        assert _in_order(log)
        last_day = datetime.fromisoformat(log[-1]["ts"]).date()
        assert last_day == (clock.now() + timedelta(days=1)).date()  # stamped no earlier than the last event
        assert [ev["type"] for ev in log].count("branch_config") == 2


def test_idle_day_turn_happens_once_even_if_the_clock_steps_back(tmp_path, clock):
    """The server closes out an idle day when it turns; a later step back does not close or open it again."""
    with client(tmp_path, clock) as c:
        svc = c.app.state.services["demo"]
        _ticket(c)
        c.post(f"{API}/counters/1/open")
        assert c.portal.call(svc.close_day_if_due) is False  # same day: nothing to do
        clock.set(datetime(2026, 12, 2, 0, 1, tzinfo=SHANGHAI))
        assert c.portal.call(svc.close_day_if_due) is True
        clock.set(datetime(2026, 12, 1, 23, 59, tzinfo=SHANGHAI))
        assert c.portal.call(svc.close_day_if_due) is False
        clock.set(datetime(2026, 12, 2, 0, 2, tzinfo=SHANGHAI))
        assert c.portal.call(svc.close_day_if_due) is False
        types = [ev["type"] for ev in _log(c)]
        assert types == ["branch_config", "ticket_issued", "counter_opened",
                         "abandoned", "counter_closed", "branch_config"]
        assert _ticket(c) == "A001"
