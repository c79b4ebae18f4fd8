"""What people read: friendly minute buckets, with hysteresis so screens do not flicker.

A range is shown on a 5-minute grid up to half an hour and a 10-minute grid up
to an hour ("约需15–20分钟"); "即将叫号" for a minute or two; "约需1小时以上"
beyond an hour. Each end of the range keeps its bucket until the estimate has
moved a clear margin past it, so an estimate hovering at an edge does not
make the text jump back and forth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SOON_ENTER_S = 150.0  # high end within 2.5 min: "即将叫号"
SOON_LEAVE_S = 300.0  # ... and it stays until the high end passes 5 min
MARGIN_MIN = 1.0  # minutes an estimate must pass an edge before the text changes
HOUR = 60


@dataclass(frozen=True)
class Shown:
    """The text last shown for something, and the bucket ends behind it."""

    lo: int  # minutes; -1 = "即将叫号"
    hi: int
    zh: str
    en: str


def _step(minutes: float) -> int:
    return 5 if minutes < 30 else 10


def _floor(m: float) -> int:
    s = _step(m)
    return int(math.floor(m / s) * s)


def _ceil(m: float) -> int:
    c = int(math.ceil(m / 5) * 5) if m <= 30 else int(math.ceil(m / 10) * 10)
    return max(c, 5)


def _keep_lo(prev: int, m: float) -> bool:
    return prev - MARGIN_MIN <= m < prev + _step(prev) + MARGIN_MIN


def _keep_hi(prev: int, m: float) -> bool:
    below = prev - (5 if prev <= 30 else 10)
    return below - MARGIN_MIN < m <= prev + MARGIN_MIN


def wait_text(low_s: float, high_s: float, prev: Shown | None = None) -> Shown:
    """The bucketed range for a wait of [low_s, high_s] seconds, sticky to `prev`."""
    lo_m, hi_m = low_s / 60.0, high_s / 60.0
    if prev is not None and prev.lo == -1 and high_s <= SOON_LEAVE_S:
        return prev
    if high_s <= SOON_ENTER_S:
        return Shown(-1, 0, "即将叫号", "Very soon")
    lo = prev.lo if prev is not None and prev.lo >= 0 and _keep_lo(prev.lo, lo_m) else _floor(lo_m)
    hi = prev.hi if prev is not None and prev.lo >= 0 and _keep_hi(prev.hi, hi_m) else _ceil(hi_m)
    lo = min(lo, HOUR)
    if lo >= HOUR:
        return Shown(HOUR, HOUR, "约需1小时以上", "Over 1 hour")
    if hi <= lo:
        hi = lo + _step(lo)
    if hi > HOUR:
        return Shown(lo, HOUR + 1, f"约需{lo}分钟以上", f"{lo}+ min")
    if lo == 0:
        return Shown(0, hi, f"约需{hi}分钟以内", f"Under {hi} min")
    return Shown(lo, hi, f"约需{lo}–{hi}分钟", f"About {lo}–{hi} min")


UNAVAILABLE = Shown(-2, -2, "暂无窗口办理此业务", "No counter is serving this now")


def service_text(low_total_s: float, high_total_s: float) -> tuple[str, str]:
    """A transaction's whole duration: "该客户办理时长大约为X–Y分钟"."""
    lo = max(int(low_total_s // 60), 1)
    hi = max(int(math.ceil(high_total_s / 60)), lo + 1)
    if high_total_s <= 60:
        return "该客户办理时长大约为1分钟以内", "This customer: under 1 min"
    return f"该客户办理时长大约为{lo}–{hi}分钟", f"This customer: about {lo}–{hi} min"


def wrapup_text(remaining_s: float) -> tuple[str, str]:
    m = max(int(math.ceil(remaining_s / 60)), 1)
    return f"上笔业务还未办结,仍需{m}分钟", f"Finishing the last customer's paperwork: {m} more min"


def pause_text(hhmm: str | None) -> tuple[str, str]:
    if hhmm is None:
        return "暂停服务", "Paused"
    return f"预计{hhmm}恢复", f"Back at about {hhmm}"


def why_text(ahead: int, windows: int, notes: list[tuple[str, str]]) -> tuple[str, str]:
    """'前面还有3人,1个窗口办理;贵宾客户正在办理' -- why the range is what it is."""
    zh = f"前面还有{ahead}人,{windows}个窗口办理" if windows else f"前面还有{ahead}人,暂无窗口办理"
    people = "person" if ahead == 1 else "people"
    en = f"{ahead} {people} ahead for {windows} window{'s' if windows != 1 else ''}" if windows \
        else f"{ahead} {people} ahead, no window open for this service"
    for z, e in notes:
        zh += ";" + z
        en += "; " + e
    return zh, en
