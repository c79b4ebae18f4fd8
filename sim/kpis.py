"""KPIs of simulated days, and their 95 % confidence intervals across days.

Definitions (the same as the event-log spec's): wait = first call − ticket time,
for customers who were called (served or no-show; a silent leaver who is called
and does not come counts as abandoned, since the simulator knows the truth).
Service level = share of arrivals called within T minutes; those who gave up
count as missed. Per interval = by the interval of the ticket time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .model import ABANDONED, NO_SHOW, SERVED, SILENT, SWEPT, DayResult
from .scenario import Scenario, fmt_hhmm

METRICS = ("arrivals", "wait_mean", "wait_p50", "wait_p90", "service_level", "abandon", "wait_gt15")
SCALARS = ("customers", "wait_mean", "service_level", "abandon", "utilisation", "counter_hours",
           "idle_while_waiting_min", "max_queue")


@dataclass
class DayKpis:
    """One day: `table[metric]` has shape (classes + 1, intervals + 1); the last
    row is all classes, the last column the whole day. `queue` is the number
    waiting on a 5-minute grid; `open` the counters open on the same grid."""

    table: dict[str, np.ndarray]
    scalars: dict[str, float]
    queue: np.ndarray
    open: np.ndarray


def grid(scn: Scenario) -> np.ndarray:
    return np.arange(scn.doors_open - 30, scn.doors_close + 60, 5.0)


def day_kpis(scn: Scenario, res: DayResult, target: float | None = None) -> DayKpis:
    T = scn.service_level_minutes if target is None else target
    c = res.cust
    n_cls, n_int = len(scn.config.services), scn.n_intervals
    interval = np.clip(((c.t - scn.doors_open) // scn.interval).astype(int), 0, n_int - 1)
    wait = res.call - c.t
    called = (res.outcome == SERVED) | (res.outcome == NO_SHOW)
    gave_up = (res.outcome == ABANDONED) | (res.outcome == SILENT) | (res.outcome == SWEPT)
    table = {m: np.full((n_cls + 1, n_int + 1), np.nan) for m in METRICS}
    for ci in range(n_cls + 1):
        in_c = np.ones(len(c.t), bool) if ci == n_cls else c.cls == ci
        for j in range(n_int + 1):
            sel = in_c if j == n_int else in_c & (interval == j)
            n = int(sel.sum())
            table["arrivals"][ci, j] = n
            if n == 0:
                continue
            w = wait[sel & called]
            table["abandon"][ci, j] = gave_up[sel].mean()
            table["service_level"][ci, j] = (w <= T).sum() / n
            if len(w):
                table["wait_mean"][ci, j] = w.mean()
                table["wait_p50"][ci, j], table["wait_p90"][ci, j] = np.percentile(w, [50, 90])
                table["wait_gt15"][ci, j] = (w > 15).mean()
    g = grid(scn)
    queue = _queue_on_grid(res, g)
    opened = np.zeros(len(g))
    for _, a, b in res.counter_open:
        opened += (g >= a) & (g < b)
    for _, a, b in res.counter_pause:
        opened -= (g >= a) & (g < b)
    open_min = sum(b - a for _, a, b in res.counter_open)
    pause_min = sum(b - a for _, a, b in res.counter_pause)
    busy_min = sum(b - a for _, a, b in res.counter_busy)
    scalars = {
        "customers": float(len(c.t)),
        "wait_mean": table["wait_mean"][n_cls, n_int],
        "service_level": table["service_level"][n_cls, n_int],
        "abandon": table["abandon"][n_cls, n_int],
        "utilisation": busy_min / max(open_min - pause_min, 1e-9),
        "counter_hours": open_min / 60.0,
        "idle_while_waiting_min": _idle_while_waiting(scn, res),
        "max_queue": float(queue.max()) if len(queue) else 0.0,
    }
    return DayKpis(table, scalars, queue, opened)


def _queue_on_grid(res: DayResult, g: np.ndarray) -> np.ndarray:
    if not res.waits:
        return np.zeros(len(g))
    w = np.asarray(res.waits)
    starts, ends = np.sort(w[:, 1]), np.sort(w[:, 2])
    return (np.searchsorted(starts, g, "right") - np.searchsorted(ends, g, "right")).astype(float)


def _idle_while_waiting(scn: Scenario, res: DayResult) -> float:
    """Minutes counters spent paused while someone waited for a service they serve."""
    if not res.counter_pause or not res.waits:
        return 0.0
    w = np.asarray(res.waits)
    ids = [s.id for s in scn.config.services]
    total = 0.0
    for k, a, b in res.counter_pause:
        serves = [ids.index(s) for s in scn.config.counters[k].services]
        sel = np.isin(w[:, 0], serves) & (w[:, 2] > a) & (w[:, 1] < b)
        if not sel.any():
            continue
        iv = np.clip(w[sel][:, 1:], a, b)
        iv = iv[np.argsort(iv[:, 0])]
        end = a  # length of the union of the waiting spells inside the pause
        for s, e in iv:
            if e > end:
                total += e - max(s, end)
                end = e
    return total


# ----------------------------------------------------------------- across days
@dataclass
class Summary:
    """Mean and 95 % CI half-width across replications for every KPI."""

    mean: dict[str, np.ndarray]
    half: dict[str, np.ndarray]
    scalars: dict[str, tuple[float, float]]
    queue: np.ndarray  # mean over days, per grid point
    open: np.ndarray
    n: int


def ci(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Student-t 95 % half-width, ignoring NaNs (days without data)."""
    v = np.asarray(values, dtype=float)
    n = np.sum(~np.isnan(v), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.nanmean(v, axis=axis) if v.size else np.nan
        sd = np.nanstd(v, axis=axis, ddof=1)
        h = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
    return m, np.where(n >= 2, h, np.nan)


def summarise(days: list[DayKpis]) -> Summary:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: intervals nobody arrived in
        mean, half = {}, {}
        for m in METRICS:
            mean[m], half[m] = ci(np.stack([d.table[m] for d in days]))
        scalars = {}
        for s in SCALARS:
            mm, hh = ci(np.array([d.scalars[s] for d in days]))
            scalars[s] = (float(mm), float(hh))
    return Summary(mean, half, scalars, np.mean([d.queue for d in days], axis=0),
                   np.mean([d.open for d in days], axis=0), len(days))


def fmt_ci(m: float, h: float, pct: bool = False, digits: int = 1) -> str:
    if np.isnan(m):
        return "–"
    if pct:
        m, h = 100 * m, 100 * h
    s = f"{m:.{digits}f}"
    if not np.isnan(h):
        s += f" ±{h:.{digits}f}"
    return s + ("%" if pct else "")


def format_summary(scn: Scenario, s: Summary, by_class: bool = False) -> str:
    """The text table `sim run` prints (with `by_class`, one interval table per service too)."""
    T = scn.service_level_minutes
    lines = [f"{scn.name}: {s.n} day(s), 95% CI across days"]
    sc = s.scalars
    lines.append(
        f"  customers/day {fmt_ci(*sc['customers'], digits=0)}   mean wait {fmt_ci(*sc['wait_mean'])} min   "
        f"within {T:g} min {fmt_ci(*sc['service_level'], pct=True)}   abandoned {fmt_ci(*sc['abandon'], pct=True)}"
    )
    lines.append(
        f"  utilisation {fmt_ci(*sc['utilisation'], pct=True)}   counter-hours {fmt_ci(*sc['counter_hours'])}   "
        f"paused while people waited {fmt_ci(*sc['idle_while_waiting_min'], digits=0)} min   "
        f"longest queue {fmt_ci(*sc['max_queue'], digits=0)}"
    )
    ids = [x.id for x in scn.config.services] + ["all"]
    lines.append("  by service:  " + "  ".join(
        f"{sid}: wait {fmt_ci(s.mean['wait_mean'][i, -1], s.half['wait_mean'][i, -1])} "
        f"p90 {fmt_ci(s.mean['wait_p90'][i, -1], np.nan)} SL {fmt_ci(s.mean['service_level'][i, -1], s.half['service_level'][i, -1], pct=True, digits=0)}"
        for i, sid in enumerate(ids)))
    rows = [(-1, "all services")]
    if by_class:
        rows += list(enumerate(x.id for x in scn.config.services))
    for ci_, title in rows:
        lines.append(f"  {title}:")
        lines.append(f"  {'interval':>8} {'arrivals':>8} {'mean wait':>13} {'p50':>5} {'p90':>5} "
                     f"{'within ' + format(T, 'g') + ' min':>15} {'abandoned':>9}")
        a, h = s.mean, s.half
        for j, t0 in enumerate(scn.interval_starts()):
            lines.append(
                f"  {fmt_hhmm(t0):>8} {a['arrivals'][ci_, j]:8.1f} {fmt_ci(a['wait_mean'][ci_, j], h['wait_mean'][ci_, j]):>13} "
                f"{fmt_ci(a['wait_p50'][ci_, j], np.nan):>5} {fmt_ci(a['wait_p90'][ci_, j], np.nan):>5} "
                f"{fmt_ci(a['service_level'][ci_, j], h['service_level'][ci_, j], pct=True, digits=0):>15} "
                f"{fmt_ci(a['abandon'][ci_, j], np.nan, pct=True, digits=0):>9}"
            )
    return "\n".join(lines)
