"""What the screens see: a JSON-ready view of a branch (docs/api.md shows the shapes).

Pure: built from the config, the folded state and, when the estimator has
spoken, its Estimates. The lobby, counter, kiosk, teller and manager pages all
read this one shape, over REST (`GET state`) and the WebSocket.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict
from datetime import datetime
from typing import Any

from .config import BranchConfig
from .estimates import Estimates, Range
from .events import format_ts
from .state import BranchState, CounterState, Ticket, TicketStatus


def branch_view(config: BranchConfig, state: BranchState, now: datetime,
                estimates: Estimates | None = None) -> dict[str, Any]:
    """The whole branch as the screens show it."""
    return {
        "branch": config.branch,
        "name": config.name,
        "timezone": config.timezone,
        "seq": state.seq,
        "at": format_ts(now.astimezone(config.tz)),
        "day": state.day.isoformat() if state.day else None,
        "counters": [counter_view(config, state, c.id, estimates) for c in config.counters],
        "services": [service_view(config, state, s.id, estimates) for s in config.services],
        "recent_calls": recent_calls(state),
        "estimates_at": format_ts(estimates.at) if estimates else None,
    }


def counter_view(config: BranchConfig, state: BranchState, counter_id: str,
                 estimates: Estimates | None = None) -> dict[str, Any]:
    cfg = config.counter(counter_id)
    c = state.counters.get(counter_id) or CounterState(counter_id, services=cfg.services)
    est = estimates.counters.get(counter_id) if estimates else None
    return {
        "id": cfg.id,
        "name": cfg.name,
        "name_en": cfg.name_en or cfg.name,
        "status": c.status.value,
        "ticket": c.ticket,
        "since": _ts(c.since),
        "pause_reason": c.pause_reason,
        "expected_return": _ts(c.expected_return),
        "services": list(c.services or cfg.services),
        "served_today": c.served_today,
        "estimate": estimate_dict(est),
    }


def service_view(config: BranchConfig, state: BranchState, service_id: str,
                 estimates: Estimates | None = None) -> dict[str, Any]:
    s = config.service(service_id)
    waiting = state.waiting(service_id)  # in calling order: issue order, transfers keep their place
    return {
        "id": s.id,
        "name": s.name,
        "name_en": s.name_en or s.name,
        "prefix": s.prefix,
        "priority": s.priority,
        "waiting": len(waiting),
        "tickets": [waiting_ticket(t, estimates) for t in waiting],
        "join": estimate_dict(estimates.join.get(service_id)) if estimates else None,
    }


def waiting_ticket(t: Ticket, estimates: Estimates | None) -> dict[str, Any]:
    return {
        "ticket": t.number,
        "issued_at": _ts(t.issued_at),
        "transferred": t.transfers > 0,
        "wait": estimate_dict(estimates.waits.get(t.number)) if estimates else None,
    }


def ticket_view(config: BranchConfig, state: BranchState, number: str,
                estimates: Estimates | None = None) -> dict[str, Any]:
    """One ticket, as a customer's phone (/t/{branch}/{ticket}) shows it.

    A waiting ticket newer than the estimates shows its service's "if you take
    a number now" estimate, which was made for exactly this customer.
    """
    t = state.tickets[number]
    wait = None
    if estimates is not None:
        wait = estimates.waits.get(number)
        if wait is None and t.status is TicketStatus.WAITING and t.issued_at >= estimates.at:
            wait = estimates.join.get(t.service)
    return {
        "ticket": t.number,
        "service": t.service,
        "status": t.status.value,
        "channel": t.channel,
        "issued_at": _ts(t.issued_at),
        "people_ahead": people_ahead(state, t),
        "counter": t.counter,
        "called_at": _ts(t.called_at),
        "calls": t.calls,
        "transfers": t.transfers,
        "wait": estimate_dict(wait),
    }


def ticket_page_view(config: BranchConfig, ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket's view with the names its status page shows: all a phone gets, nothing of other tickets."""
    service = config.service(ticket["service"])
    counter = config.counter(ticket["counter"]) if ticket["counter"] is not None else None
    return {**ticket, "branch_name": config.name,
            "service_name": service.name, "service_name_en": service.name_en or service.name,
            "counter_name": counter.name if counter else None,
            "counter_name_en": (counter.name_en or counter.name) if counter else None}


def people_ahead(state: BranchState, t: Ticket) -> int | None:
    """Tickets of the same service before this one in line (None once it has left the line).

    Higher-priority services can still be called first at shared counters;
    the estimator's wait, not this count, accounts for that.
    """
    if t.status is not TicketStatus.WAITING:
        return None
    queue = state.queues.get(t.service, [])
    i = bisect.bisect_left(queue, (t.order, t.number))  # the queue is kept sorted by place in line
    return i if i < len(queue) and queue[i][1] == t.number else None


def recent_calls(state: BranchState) -> list[dict[str, Any]]:
    """Newest first, as the lobby's call list reads."""
    return [
        {"ts": _ts(c.ts), "ticket": c.ticket, "counter": c.counter, "recall": c.recall}
        for c in reversed(state.recent_calls)
    ]


def shown_texts(view: dict[str, Any]) -> tuple[Any, ...]:
    """What the screens show of a view's estimates: the texts, not the seconds behind them.

    Two views with the same shown texts look the same on every screen, so a
    refresh that changes only the figures is not worth a message to each of
    hundreds of screens (and would make the texts flicker for nothing).
    """
    def texts(e: dict[str, Any] | None) -> tuple[Any, ...] | None:
        if e is None:
            return None
        return (e["text_zh"], e["text_en"], e.get("why_zh"), e.get("why_en"), e.get("kind"), e["available"])

    return (view["seq"],
            tuple(texts(c["estimate"]) for c in view["counters"]),
            tuple((texts(s["join"]), tuple(texts(t["wait"]) for t in s["tickets"])) for s in view["services"]))


def estimate_dict(e: Range | None) -> dict[str, Any] | None:
    if e is None:
        return None
    d = asdict(e)
    for k in ("expected_s", "low_s", "high_s"):
        # NaN/inf (e.g. "no counter serves it") is not JSON: a browser's JSON.parse rejects
        # the whole message, and the screen would silently stop updating.
        d[k] = round(d[k], 1) if d[k] is not None and math.isfinite(d[k]) else None
    if not math.isfinite(d.get("p_soon", 0.0)):
        d["p_soon"] = 0.0
    return d


def _ts(ts: datetime | None) -> str | None:
    return format_ts(ts) if ts is not None else None
