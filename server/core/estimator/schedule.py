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

import bisect
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
    _break_cache: dict[tuple[str, date], tuple[list[list[tuple[float, float]]], list[float]]] = field(
        default_factory=dict)
    _usual_cache: dict[tuple[str, date, int], tuple[float, float] | None] = field(default_factory=dict)

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
        usual = self._usual_break(counter, now_tod, today)
        if usual is None:
            return None
        taken = [a for a, b in self.breaks.get(counter, {}).get(today, []) if b - a >= LONG_PAUSE_S]
        ongoing = self._paused.get(counter)
        if ongoing is not None and ongoing[0] == today:
            taken.append(ongoing[1])
        return None if any(abs(a - usual[0]) <= NEAR_S for a in taken) else usual

    def _usual_break(self, counter: str, now_tod: float, today: date) -> tuple[float, float] | None:
        """The habit from earlier days alone. It changes only when `now_tod` passes one of their long
        pauses' starts, so it is kept per (counter, day, how many of those starts have passed): it is
        asked for every counter at every estimate."""
        earlier, starts = self._earlier_breaks(counter, today)
        if not earlier:
            return None
        key = (counter, today, bisect.bisect_right(starts, now_tod))
        if key in self._usual_cache:
            return self._usual_cache[key]
        found = [next(((a, b) for a, b in day if a > now_tod and b - a >= LONG_PAUSE_S), None) for day in earlier]
        after = sorted(a for a, _ in (f for f in found if f is not None))
        usual = None
        if after:
            typical = after[len(after) // 2]
            near = [(a, b) for f in found if f is not None for a, b in [f] if abs(a - typical) <= NEAR_S]
            if near and len(near) * 2 > len(earlier):
                lengths = sorted(b - a for a, b in near)
                usual = (typical, typical + lengths[len(lengths) // 2])
        if len(self._usual_cache) > 5000:
            self._usual_cache.clear()
        self._usual_cache[key] = usual
        return usual

    def _earlier_breaks(self, counter: str, today: date) -> tuple[list[list[tuple[float, float]]], list[float]]:
        """Earlier days' pauses, on every earlier day the counter was seen, and the sorted starts of the
        long ones (fixed for the rest of today)."""
        key = (counter, today)
        found = self._break_cache.get(key)
        if found is None:
            known = self.breaks.get(counter, {})
            days = sorted({d for d in known if d < today} | {d for d in self.days.get(counter, {}) if d < today})
            earlier = [known.get(d, []) for d in days[-MEMORY_DAYS:]]
            starts = sorted(a for day in earlier for a, b in day if b - a >= LONG_PAUSE_S)
            found = self._break_cache[key] = (earlier, starts)
            if len(self._break_cache) > 1000:
                self._break_cache.clear()
        return found


def tod(ts: datetime, state: BranchState) -> float:
    """Seconds since local midnight."""
    local = ts.astimezone(state.config.tz) if state.config is not None else ts
    return local.hour * 3600.0 + local.minute * 60.0 + local.second + local.microsecond / 1e6
