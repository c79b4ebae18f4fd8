"""Which screens are connected to which branch, and when each last spoke.

The manager page (issue 6) shows this list: a lobby display that stopped
sending heartbeats is a screen someone should look at.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.core.events import format_ts


@dataclass
class Screen:
    conn: int
    branch: str
    address: str
    connected_at: datetime
    last_seen: datetime
    kind: str = "unknown"  # lobby | counter | kiosk | teller | manager | ticket ...
    id: str | None = None
    seq: int = 0  # last seq sent to it

    def to_dict(self) -> dict[str, Any]:
        return {"conn": self.conn, "screen": self.kind, "id": self.id, "address": self.address,
                "connected_at": format_ts(self.connected_at), "last_seen": format_ts(self.last_seen),
                "seq": self.seq}


class ScreenRegistry:
    def __init__(self) -> None:
        self._screens: dict[int, Screen] = {}
        self._ids = itertools.count(1)

    def add(self, branch: str, address: str, now: datetime) -> Screen:
        s = Screen(next(self._ids), branch, address, now, now)
        self._screens[s.conn] = s
        return s

    def remove(self, screen: Screen) -> None:
        self._screens.pop(screen.conn, None)

    def list(self, branch: str) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._screens.values() if s.branch == branch]
