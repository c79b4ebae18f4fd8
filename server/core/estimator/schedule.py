"""Counters' habits by time of day: when a window usually closes or goes on a long break, and when it is back.

A branch's set-up repeats from day to day (a window closed over lunch reopens
at 13:00; a part-time window closes at 12:00), but the log only says what
happened, not the plan. From earlier days (never today's future) we learn,
per counter, the times of day it closed and whether and when it opened again
the same day, and answer two questions for the forward simulation: when will
this closed counter reopen, and will this open counter close soon? Long
pauses are habits too: tellers who take turns at lunch pause each day at
about the same time, so the line that will still be there at 11:40 is
served by fewer windows than are open at 11:00.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from ..events import Event
from ..state import BranchState

NEAR_S = 1800.0  # closures within half an hour of each other's time of day are "the same" habit
LONG_PAUSE_S = 900.0  # a pause this long is a break (lunch), not a phone call
MEMORY_DAYS = 28  # habits change: only the last four weeks count (and the lookup stays cheap)


@dataclass
class CounterSchedule:
    """Per counter and day, the (time of day, 'open'|'close') changes seen."""

    days: dict[str, dict[date, list[tuple[float, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    _cache: dict[tuple[str, date], list[list[tuple[float, str]]]] = field(default_factory=dict)
    # per counter and day, the pauses taken: (start, end) times of day
    breaks: dict[str, dict[date, list[tuple[float, float]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    _paused: dict[str, tuple[date, float]] = field(default_factory=dict)
    _break_cache: dict[tuple[str, date], list[list[tuple[float, float]]]] = field(default_factory=dict)

    def observe(self, ev: Event, state: BranchState) -> None:
        if state.day is None:
            return
        if ev.type == "counter_paused":
            self._paused[ev.counter] = (state.day, tod(ev.ts, state))
        elif ev.type == "counter_resumed" and ev.counter in self._paused:
            day, start = self._paused.pop(ev.counter)
            if day == state.day:
                self.breaks[ev.counter][day].append((start, tod(ev.ts, state)))
        if ev.type not in ("counter_opened", "counter_closed"):
            return
        self._paused.pop(ev.counter, None)
        if ev.get("reason") == "end_of_day":
            return
        self.days[ev.counter][state.day].append((tod(ev.ts, state), "open" if ev.type == "counter_opened" else "close"))

    def _earlier(self, counter: str, today: date) -> list[list[tuple[float, str]]]:
        """Earlier days' changes (fixed for the rest of today, so computed once a day)."""
        key = (counter, today)
        found = self._cache.get(key)
        if found is None:
            days = sorted(d for d in self.days.get(counter, {}) if d < today)[-MEMORY_DAYS:]
            found = self._cache[key] = [self.days[counter][d] for d in days]
            if len(self._cache) > 1000:
                self._cache.clear()
        return found

    def reopens(self, counter: str, closed_tod: float, today: date) -> float | None:
        """Time of day this counter, closed at `closed_tod`, usually opens again today; None if it usually does not."""
        reopen, seen = [], 0
        for changes in self._earlier(counter, today):
            for i, (t, kind) in enumerate(changes):
                if kind == "close" and abs(t - closed_tod) <= NEAR_S:
                    seen += 1
                    later = next((t2 for t2, k2 in changes[i + 1:] if k2 == "open"), None)
                    if later is not None:
                        reopen.append(later)
                    break
        if seen == 0 or len(reopen) * 2 < seen:
            return None
        return sorted(reopen)[len(reopen) // 2]

    def next_close(self, counter: str, now_tod: float, today: date) -> float | None:
        """Time of day this open counter usually closes next (on most earlier days), or None."""
        earlier = self._earlier(counter, today)
        closes = []
        for changes in earlier:
            nxt = next((t for t, k in changes if k == "close" and t > now_tod), None)
            if nxt is not None:
                closes.append(nxt)
        if not earlier or len(closes) * 2 <= len(earlier):
            return None
        return sorted(closes)[len(closes) // 2]


    def next_break(self, counter: str, now_tod: float, today: date) -> tuple[float, float] | None:
        """(start, end) time of day of the long break this counter usually takes later today, or None.

        A habit: on most earlier days the counter's first long pause after this
        time of day started within NEAR_S of the same time. Not expected if it
        already took (or is taking) a long pause near that time today.
        """
        earlier = self._earlier_breaks(counter, today)
        if not earlier:
            return None
        found = [next(((a, b) for a, b in day if a > now_tod and b - a >= LONG_PAUSE_S), None) for day in earlier]
        starts = sorted(a for a, _ in (f for f in found if f is not None))
        if not starts:
            return None
        typical = starts[len(starts) // 2]
        near = [(a, b) for f in found if f is not None for a, b in [f] if abs(a - typical) <= NEAR_S]
        if not near or len(near) * 2 <= len(earlier):
            return None
        today_breaks = self.breaks.get(counter, {}).get(today, [])
        ongoing = self._paused.get(counter)
        taken = [a for a, b in today_breaks if b - a >= LONG_PAUSE_S]
        if ongoing is not None and ongoing[0] == today:
            taken.append(ongoing[1])
        if any(abs(a - typical) <= NEAR_S for a in taken):
            return None
        lengths = sorted(b - a for a, b in near)
        return typical, typical + lengths[len(lengths) // 2]

    def _earlier_breaks(self, counter: str, today: date) -> list[list[tuple[float, float]]]:
        """Earlier days' pauses, on every earlier day the counter was seen (fixed for the rest of today)."""
        key = (counter, today)
        found = self._break_cache.get(key)
        if found is None:
            known = self.breaks.get(counter, {})
            days = sorted({d for d in known if d < today} | {d for d in self.days.get(counter, {}) if d < today})
            found = self._break_cache[key] = [known.get(d, []) for d in days[-MEMORY_DAYS:]]
            if len(self._break_cache) > 1000:
                self._break_cache.clear()
        return found


def tod(ts: datetime, state: BranchState) -> float:
    """Seconds since local midnight."""
    local = ts.astimezone(state.config.tz) if state.config is not None else ts
    return local.hour * 3600.0 + local.minute * 60.0 + local.second + local.microsecond / 1e6
