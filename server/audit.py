"""The audit trail: every stored event with who caused it, as JSON Lines or CSV.

Each event row's `actor` says who: "user:alice", "device:kiosk-1",
"public:mobile" (a phone's ticket), "server" (the day's close-out), or the
importer's name for an imported log. In JSON Lines the actor rides on the
event's own line as an extra field: the spec (v1.1) has readers ignore unknown
fields, so an export still imports and replays as before.

The routes (export, audit) are in api.py; none edits or deletes an event: the log only grows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime

from server.core.errors import InvalidInput
from server.store import Store

CSV_COLUMNS = ["seq", "ts", "type", "actor", "ticket", "counter", "service"]


def with_actor(payload: str, actor: str | None) -> str:
    """The event's JSON line with `"actor"` added as its last field (unchanged without one)."""
    if actor is None or not payload.endswith("}"):
        return payload
    return f'{payload[:-1]},"actor":{json.dumps(actor, ensure_ascii=False)}}}'


def event_lines(store: Store, branch: str, start: datetime | None, end: datetime | None) -> list[str]:
    """The branch's log as JSON lines, each with its actor."""
    return [with_actor(payload, actor) for _, actor, payload in store.audit(branch, start, end)]


def check_range(start: datetime | None, end: datetime | None) -> None:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"'{name}' needs a UTC offset, e.g. 2026-12-01T09:00:00+08:00.")


def audit_csv(rows: Iterable[tuple[int, str | None, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for seq, actor, payload in rows:
        ev = json.loads(payload)
        writer.writerow([seq, ev.get("ts"), ev.get("type"), actor or "", ev.get("ticket") or "",
                         ev.get("counter") or "", ev.get("service") or ""])
    return out.getvalue()
