"""The simulator's raw log → events of the spec (../shared/spec/event-log.md).

The model appends small tuples (cheap); only a run that writes a log pays for
datetimes and JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.core.events import Event, event

from .model import DayResult
from .scenario import Scenario


def day_events(scn: Scenario, res: DayResult, day: date) -> Iterator[Event]:
    """The day's events, starting with its `branch_config`."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(scn.config.timezone))

    def at(minutes: float) -> datetime:
        return midnight + timedelta(minutes=minutes)

    first = min([scn.doors_open] + [sh[0] for p in scn.counters.values() for sh in p.shifts[:1]])
    yield event(at(first - 5), "branch_config", **scn.config.event_fields())
    for rec in res.log:
        t, kind = rec[0], rec[1]
        ts = at(t)
        if kind == "ticket_issued":
            yield event(ts, kind, ticket=rec[2], service=rec[3], channel=rec[4])
        elif kind in ("called", "recalled", "service_started", "no_show"):
            yield event(ts, kind, ticket=rec[2], counter=rec[3])
        elif kind == "service_finished":
            yield event(ts, kind, ticket=rec[2], counter=rec[3], wrapup=True if rec[4] else None)
        elif kind == "transferred":
            yield event(ts, kind, ticket=rec[2], service=rec[3], counter=rec[4])
        elif kind == "abandoned":
            yield event(ts, kind, ticket=rec[2], reason=rec[3])
        elif kind == "counter_paused":
            ret = at(rec[4]).isoformat(timespec="seconds") if rec[4] is not None else None
            yield event(ts, kind, counter=rec[2], reason=rec[3], expected_return=ret)
        else:  # counter_opened / _resumed / _closed, wrapup_finished
            yield event(ts, kind, counter=rec[2])


def day_date(scn: Scenario, index: int) -> date:
    return scn.start_date + timedelta(days=index)
