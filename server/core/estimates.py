"""What the estimator tells the screens: the shapes, not the method.

The estimator (`server.core.estimator`) produces an `Estimates` for a state at
a time; the view and the screens read only these shapes. Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from .events import Event
from .state import BranchState


@dataclass(frozen=True)
class Range:
    """A predictive interval and its point, plus the texts shown to people."""

    expected_s: float | None  # None (all three): no counter serves it, so there is no number to give
    low_s: float | None
    high_s: float | None
    text_zh: str  # e.g. "约需15–20分钟", "即将叫号", "暂无窗口办理此业务"
    text_en: str  # e.g. "About 15–20 min"
    available: bool = True  # False: no open counter serves it (no number is made up)


@dataclass(frozen=True)
class WaitEstimate(Range):
    """A waiting ticket's time until called (or, for `join`, a ticket taken now)."""

    why_zh: str = ""  # "前面还有3人,1个窗口办理;贵宾客户正在办理"
    why_en: str = ""
    p_soon: float = 0.0  # chance of being called within the next few minutes


@dataclass(frozen=True)
class CounterEstimate(Range):
    """A busy counter: remaining service time, wrap-up time or pause return."""

    kind: str = "service"  # "service" | "wrapup" | "pause"


@dataclass(frozen=True)
class Estimates:
    at: datetime
    waits: dict[str, WaitEstimate] = field(default_factory=dict)  # ticket -> estimate
    join: dict[str, WaitEstimate] = field(default_factory=dict)  # service -> if you take a number now
    counters: dict[str, CounterEstimate] = field(default_factory=dict)  # counter -> estimate


class EstimatorLike(Protocol):
    """What the server needs of an estimator."""

    def observe(self, event: Event, state: BranchState) -> None:
        """Learn from an event just applied to `state` (online update)."""

    def estimate(self, state: BranchState, now: datetime) -> Estimates:
        """Estimates for every waiting ticket, service and busy counter."""
