"""The manager's and tellers' figures for one business day, from its events.

Pure: the day's events are folded with the same `BranchState` as everything
else, so a counter's timeline and every wait follow the core's own rules. The
"staffed but not calling" alert lives here too: a counter that is open and
free (or paused) while a service it serves has had someone waiting for more
than N minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .config import BranchConfig
from .errors import BranchError
from .events import Event, format_ts
from .state import BranchState, CounterStatus, TicketStatus

WITHIN = timedelta(minutes=10)  # "served within 10 minutes": called within 10 min of taking the number
WINDOW = timedelta(hours=1)  # ... over the last hour
IDLE_GRACE = timedelta(minutes=1)  # a free counter between two customers is not an alert


@dataclass
class _Counter:
    segments: list[dict[str, Any]] = field(default_factory=list)
    served: int = 0
    no_shows: int = 0
    service_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)


def day_events(events: Iterable[Event], state: BranchState) -> list[Event]:
    """The events of the current business day (the state's `day`)."""
    return [ev for ev in events if state.day is not None and state.business_day(ev.ts) == state.day]


def figures(config: BranchConfig, events: Iterable[Event], now: datetime, alert_after_min: float = 10.0) -> dict[str, Any]:
    """Waiting, longest wait, share called within 10 min in the last hour, counter
    timelines and per-counter figures, and the alerts — all for the day of `events`."""
    st = BranchState(config)
    counters = {c.id: _Counter() for c in config.counters}
    calls: list[tuple[datetime, float, str]] = []  # (called at, wait s, service)
    started: dict[str, datetime] = {}
    day_start: datetime | None = None
    for ev in events:
        before = {cid: c.status for cid, c in st.counters.items()}
        waited_since = _queued_since(st, ev)
        try:
            st.apply(ev)
        except BranchError:
            continue  # history that does not fit (a day cut in the middle): skip it, keep the rest
        if day_start is None:
            day_start = ev.ts
        kind = ev.type
        if kind == "called" and waited_since is not None:
            wait = (ev.ts - waited_since).total_seconds()
            calls.append((ev.ts, wait, st.tickets[ev.ticket].service))
            counters.setdefault(ev.counter, _Counter()).wait_s.append(wait)
        elif kind == "service_started":
            started[ev.ticket] = ev.ts
        elif kind == "service_finished" and ev.ticket in started:
            fig = counters.setdefault(ev.counter, _Counter())
            fig.served += 1
            fig.service_s.append((ev.ts - started.pop(ev.ticket)).total_seconds())
        elif kind == "no_show":
            counters.setdefault(ev.counter, _Counter()).no_shows += 1
        for cid, c in st.counters.items():
            if before.get(cid) is not c.status:
                _segment(counters.setdefault(cid, _Counter()).segments, c.status.value, ev.ts)

    recent = [(w, s) for ts, w, s in calls if now - ts <= WINDOW]
    within = sum(1 for w, _ in recent if w <= WITHIN.total_seconds())
    services: list[dict[str, Any]] = []
    for s in config.services:
        waiting = st.waiting(s.id)
        longest = max((t.waited(now) for t in waiting), default=None)
        mine = [w for w, svc in recent if svc == s.id]
        services.append({
            "id": s.id, "name": s.name, "name_en": s.name_en or s.name, "prefix": s.prefix,
            "priority": s.priority, "waiting": len(waiting), "longest_wait_s": _round(longest),
            "called_last_hour": len(mine),
            "within_10_min_share": _share(sum(1 for w in mine if w <= WITHIN.total_seconds()), len(mine)),
        })
    longest_all = max((s["longest_wait_s"] for s in services if s["longest_wait_s"] is not None), default=None)
    return {
        "at": format_ts(now),
        "day_start": format_ts(day_start) if day_start else None,
        "waiting": sum(s["waiting"] for s in services),
        "longest_wait_s": longest_all,
        "called_last_hour": len(recent),
        "within_10_min_share": _share(within, len(recent)),
        "services": services,
        "counters": [_counter_figures(cid, fig, st, now) for cid, fig in counters.items()],
        "alerts": staffed_not_calling(config, st, now, alert_after_min),
        "alert_after_min": alert_after_min,
    }


def staffed_not_calling(config: BranchConfig, st: BranchState, now: datetime, after_min: float) -> list[dict[str, Any]]:
    """Counters open and free, or paused, while someone for their services waits > `after_min`."""
    limit = timedelta(minutes=after_min)
    alerts = []
    for cfg in config.counters:
        c = st.counters.get(cfg.id)
        if c is None or c.status not in (CounterStatus.FREE, CounterStatus.PAUSED):
            continue
        idle = now - c.since if c.since else timedelta(0)
        if c.status is CounterStatus.FREE and idle < IDLE_GRACE:
            continue
        overdue = [t for s in (c.services or cfg.services) for t in st.waiting(s)
                   if t.status is TicketStatus.WAITING and now - (t.queued_at or t.issued_at) > limit]
        if not overdue:
            continue
        oldest = min(overdue, key=lambda t: t.queued_at or t.issued_at)
        alerts.append({
            "counter": cfg.id, "name": cfg.name, "name_en": cfg.name_en or cfg.name, "status": c.status.value,
            "idle_s": round(idle.total_seconds()), "waiting_over": len(overdue), "oldest_ticket": oldest.number,
            "oldest_wait_s": round(oldest.waited(now)),
            "pause_reason": c.pause_reason,
        })
    return alerts


def _queued_since(st: BranchState, ev: Event) -> datetime | None:
    """When a ticket about to be called joined its queue (a transfer starts a second wait)."""
    if ev.type != "called":
        return None
    t = st.tickets.get(ev.data.get("ticket", ""))
    return (t.queued_at or t.issued_at) if t is not None and t.status is TicketStatus.WAITING else None


def _segment(segments: list[dict[str, Any]], status: str, ts: datetime) -> None:
    if segments:
        segments[-1]["to"] = format_ts(ts)
    segments.append({"status": status, "from": format_ts(ts), "to": None})


def _counter_figures(cid: str, fig: _Counter, st: BranchState, now: datetime) -> dict[str, Any]:
    c = st.counters.get(cid)
    return {
        "id": cid,
        "status": c.status.value if c else CounterStatus.CLOSED.value,
        "served": fig.served,
        "no_shows": fig.no_shows,
        "mean_service_s": _round(sum(fig.service_s) / len(fig.service_s)) if fig.service_s else None,
        "mean_wait_s": _round(sum(fig.wait_s) / len(fig.wait_s)) if fig.wait_s else None,
        "timeline": fig.segments,
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _round(x: float | None) -> float | None:
    return round(x, 1) if x is not None else None
