"""`sim optimize`: the fewest counter-hours that meet a service target in every interval.

The classic answer is SIPP: staff each interval by Erlang C for that interval's
arrivals, as if it were a steady state of its own. It misses just after a peak,
when the backlog of the peak is still in the lobby and the arrival rate has
dropped. The optimizer simulates instead: starting from SIPP, it adds a counter
where an interval misses (earliest first), then removes counter-intervals where
the target still holds, keeping every shift at least `min_shift` long. All
candidate schedules are simulated on the same customers (common random numbers),
so a comparison between two schedules is not noise.

"Meets" means: across replications, the mean share called within T minus one
standard error is at least the target (about 84 % one-sided confidence), and the
day's abandonment stays under the cap.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from .kpis import Summary, fmt_ci, summarise
from .runner import default_jobs, run_days
from .scenario import CounterPlan, Scenario, fmt_hhmm
from .theory import mmc_agents

OPEN_EARLY = 5.0  # counters open a few minutes before the interval they serve


@dataclass
class Evaluation:
    schedule: np.ndarray  # bool, (counters in rank order, intervals)
    summary: Summary
    sl_low: np.ndarray  # mean − 1 se of the service level per interval
    ok: np.ndarray  # per interval
    abandon_ok: bool

    @property
    def meets(self) -> bool:
        return bool(self.ok.all() and self.abandon_ok)

    @property
    def counter_hours(self) -> float:
        return self.summary.scalars["counter_hours"][0]


def parse_target(text: str) -> tuple[float, float]:
    """'80% within 10 min' → (0.8, 10.0)."""
    m = re.match(r"\s*([\d.]+)\s*%\s*(?:within|in|<=?)\s*([\d.]+)\s*(?:min|minutes|m)?\s*$", text)
    if not m:
        raise ValueError(f"target must look like '80% within 10 min', not '{text}'")
    return float(m.group(1)) / 100, float(m.group(2))


def parse_duration(text: str) -> float:
    """'2h', '90min', '1.5h' → minutes."""
    m = re.match(r"\s*([\d.]+)\s*(h|hours?|m|min|minutes?)?\s*$", text)
    if not m:
        raise ValueError(f"a duration looks like '2h' or '90min', not '{text}'")
    return float(m.group(1)) * (60 if (m.group(2) or "h").startswith("h") else 1)


def ranked_counters(scn: Scenario) -> list[str]:
    """Counters in the order they are opened: generalists first, so few counters still serve every class."""
    order = sorted(scn.config.counters, key=lambda c: -len(c.services))
    return [c.id for c in order]


def mean_service(scn: Scenario) -> np.ndarray:
    """Mean minutes a counter is taken per customer, per interval (by that interval's class mix)."""
    rates = scn.rate_matrix()
    per_class = []
    for s in scn.config.services:
        c = scn.classes[s.id]
        walk = scn.walk_seconds / 60
        per_class.append(c.time.mean + c.wrapup_share * c.wrapup.mean + walk)
    per_class = np.asarray(per_class)
    total = rates.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mix = np.where(total > 0, (per_class[:, None] * rates).sum(axis=0) / total, per_class.mean())
    return mix


def sipp(scn: Scenario, target: float, t: float, max_counters: int) -> np.ndarray:
    """Erlang C counters per interval for that interval's arrivals alone."""
    lam = scn.rate_matrix().sum(axis=0)
    es = mean_service(scn)
    return np.array([min(max_counters, max(1, mmc_agents(lam[j], 1 / es[j], t, target)))
                     for j in range(len(lam))])


def staffing_to_schedule(n: np.ndarray, k: int) -> np.ndarray:
    return np.arange(k)[:, None] < n[None, :]


def with_min_shift(sched: np.ndarray, min_len: int) -> np.ndarray:
    """Lengthen every run of open intervals shorter than min_len (forwards, else backwards)."""
    s = sched.copy()
    n = s.shape[1]
    for r in range(s.shape[0]):
        j = 0
        while j < n:
            if not s[r, j]:
                j += 1
                continue
            e = j
            while e < n and s[r, e]:
                e += 1
            if e - j < min_len:
                need = min_len - (e - j)
                fwd = min(need, n - e)
                s[r, e:e + fwd] = True
                s[r, max(0, j - (need - fwd)):j] = True
                e += fwd
            j = e
    return s


def _uncovered(scn: Scenario, sched: np.ndarray, ranked: list[str]):  # type: ignore[no-untyped-def]
    """(interval, service) pairs with arrivals but no open counter that serves them."""
    rates = scn.rate_matrix()
    serves = [scn.config.counter(cid).services for cid in ranked]
    for i, svc in enumerate(scn.config.services):
        for j in np.flatnonzero(rates[i] > 0):
            if not any(sched[r, j] and svc.id in serves[r] for r in range(len(sched))):
                yield j, svc.id


def covered(scn: Scenario, sched: np.ndarray, ranked: list[str]) -> bool:
    return next(_uncovered(scn, sched, ranked), None) is None


def with_coverage(scn: Scenario, sched: np.ndarray, ranked: list[str]) -> np.ndarray:
    """Open, in every interval, at least one counter for each service that has arrivals then
    (a dedicated window's customers cannot be served by the others)."""
    s = sched.copy()
    for j, sid in list(_uncovered(scn, s, ranked)):
        r = next((r for r, cid in enumerate(ranked[: len(s)]) if sid in scn.config.counter(cid).services), None)
        if r is not None:
            s[r, j] = True
    return s


def apply_schedule(scn: Scenario, sched: np.ndarray, ranked: list[str]) -> Scenario:
    """The scenario with each counter open over its runs of intervals (and closed elsewhere)."""
    starts = scn.interval_starts()
    counters = {}
    for r, cid in enumerate(ranked):
        plan = scn.counters[cid]
        shifts = []
        row = sched[r] if r < len(sched) else np.zeros(len(starts), bool)
        j = 0
        while j < len(row):
            if row[j]:
                e = j
                while e < len(row) and row[e]:
                    e += 1
                a = starts[j] - OPEN_EARLY
                b = scn.doors_close if e == len(row) else starts[e - 1] + scn.interval
                shifts.append((float(a), float(b)))
                j = e
            else:
                j += 1
        counters[cid] = CounterPlan(cid, plan.speed, tuple(shifts), plan.pauses)
    return scn.with_counters(counters)


def evaluate(scn: Scenario, sched: np.ndarray, ranked: list[str], target: float, t: float, reps: int,
             seed: int, max_abandon: float | None, jobs: int | None, pool=None) -> Evaluation:  # type: ignore[no-untyped-def]
    s2 = apply_schedule(scn, sched, ranked)
    from dataclasses import replace

    s2 = replace(s2, service_level_minutes=t)
    summary = summarise([o.kpis for o in run_days(s2, reps, seed, jobs, pool=pool)])
    sl = summary.mean["service_level"][-1, :-1]
    se = summary.half["service_level"][-1, :-1] / 2.0  # t(0.975, n≥10) ≈ 2: half-width / 2 ≈ 1 se
    low = np.where(np.isnan(se), sl, sl - se)
    ok = np.where(np.isnan(sl), True, low >= target)
    ab = summary.scalars["abandon"][0]
    return Evaluation(sched, summary, low, ok, max_abandon is None or ab <= max_abandon)


@dataclass
class Result:
    sipp: Evaluation
    best: Evaluation
    evaluations: int
    ranked: list[str]
    hopeless: list[int]  # intervals that miss the target even with every counter open


def optimize(scn: Scenario, target: float, t: float, max_abandon: float | None = None,
             max_counters: int | None = None, min_shift: float = 120.0, reps: int = 20, seed: int = 1,
             jobs: int | None = 1, budget: int = 80) -> Result:
    ranked = ranked_counters(scn)
    k = min(max_counters or len(ranked), len(ranked))
    min_len = max(1, math.ceil(min_shift / scn.interval))
    n_jobs = default_jobs() if jobs is None else max(1, jobs)
    pool = ProcessPoolExecutor(n_jobs) if n_jobs > 1 else None  # started once for every candidate
    try:
        return _search(scn, ranked, target, t, max_abandon, k, min_len, reps, seed, n_jobs, budget, pool)
    finally:
        if pool is not None:
            pool.shutdown()


def _search(scn: Scenario, ranked: list[str], target: float, t: float, max_abandon: float | None, k: int,
            min_len: int, reps: int, seed: int, jobs: int, budget: int, pool) -> Result:  # type: ignore[no-untyped-def]
    def ev(s: np.ndarray) -> Evaluation:
        return evaluate(scn, s, ranked, target, t, reps, seed, max_abandon, jobs, pool)

    def fix(s: np.ndarray) -> np.ndarray:
        return with_min_shift(with_coverage(scn, s, ranked), min_len)

    # SIPP as practised: each interval on its own, no shift constraint
    sipp_ev = ev(staffing_to_schedule(sipp(scn, target, t, k), k))
    cur, used = ev(fix(sipp_ev.schedule)), 2
    # Intervals that miss with every counter open: no schedule can meet the target
    # there. They keep every counter open, and the search goes on for the others.
    hopeless: set[int] = set()

    def fine(e: Evaluation) -> bool:
        return bool(e.abandon_ok and all(e.ok[j] or j in hopeless for j in range(len(e.ok)))
                    and all(e.schedule[:, j].all() for j in hopeless))

    # 1. add: open one more counter in the earliest interval that misses (or just before it, if full)
    while not fine(cur) and used < budget:
        s = _one_more(cur, hopeless)
        if s is None:
            break  # nowhere left to open a counter
        cur, used = ev(fix(s)), used + 1
    if not fine(cur):
        return Result(sipp_ev, cur, used, ranked, sorted(hopeless))
    # 2. remove whole shifts, then shave shift ends, where the slack is largest first;
    #    a pass that removes nothing ends the search
    for moves in (_whole_runs, _edges):
        improved = True
        while improved and used < budget:
            improved = False
            for s in moves(cur, target, min_len):
                if used >= budget:
                    break
                if not covered(scn, s, ranked) or any(not s[:, j].all() for j in hopeless):
                    continue
                trial = ev(s)
                used += 1
                if fine(trial):
                    cur, improved = trial, True
    return Result(sipp_ev, cur, used, ranked, sorted(hopeless))


def _one_more(cur: Evaluation, hopeless: set[int]) -> np.ndarray | None:
    """The schedule with one more counter-interval where it helps most; full missing intervals become hopeless."""
    bad = [int(j) for j in np.flatnonzero(~cur.ok) if j not in hopeless]
    if not bad:  # only the abandonment cap fails: help the worst intervals
        bad = [int(j) for j in np.argsort(cur.sl_low)]
    s = cur.schedule.copy()
    for j in bad:
        for x in (j, j - 1):
            free = np.flatnonzero(~s[:, x]) if x >= 0 else []
            if len(free):
                s[free[0], x] = True
                return s
        if not cur.ok[j]:
            hopeless.add(j)  # every counter is open here and just before, and it still misses
    return None


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    out, j = [], 0
    while j < len(row):
        if row[j]:
            e = j
            while e < len(row) and row[e]:
                e += 1
            out.append((j, e))
            j = e
        else:
            j += 1
    return out


def _whole_runs(cur: Evaluation, target: float, min_len: int):  # type: ignore[no-untyped-def]
    """Candidate schedules without one whole shift, the shift over the most slack first."""
    slack = cur.sl_low - target
    cands = []
    for r in range(cur.schedule.shape[0] - 1, -1, -1):
        for a, b in _runs(cur.schedule[r]):
            cands.append((-float(np.min(slack[a:b])), r, a, b))
    for _, r, a, b in sorted(cands):
        s = cur.schedule.copy()
        s[r, a:b] = False
        yield s


def _edges(cur: Evaluation, target: float, min_len: int):  # type: ignore[no-untyped-def]
    """Candidate schedules with one shift shortened by an interval at either end."""
    slack = cur.sl_low - target
    cands = []
    for r in range(cur.schedule.shape[0] - 1, -1, -1):
        for a, b in _runs(cur.schedule[r]):
            if b - a > min_len:
                cands.append((-float(slack[a]), r, a))
                cands.append((-float(slack[b - 1]), r, b - 1))
    for _, r, j in sorted(cands):
        s = cur.schedule.copy()
        s[r, j] = False
        yield s


def format_result(scn: Scenario, res: Result, target: float, t: float) -> str:
    lam = scn.rate_matrix().sum(axis=0) * 60
    lines = [
        f"target: {target:.0%} called within {t:g} min in every interval; {res.sipp.summary.n} days per schedule,"
        f" same customers; {res.evaluations} schedules simulated",
        f"{'interval':>8} {'arr/h':>6} {'SIPP':>5} {'SIPP within T':>15} {'optim.':>6} {'optim. within T':>16}",
    ]
    for j, t0 in enumerate(scn.interval_starts()):
        a, b = res.sipp, res.best
        fa = fmt_ci(a.summary.mean["service_level"][-1, j], a.summary.half["service_level"][-1, j], True, 0)
        fb = fmt_ci(b.summary.mean["service_level"][-1, j], b.summary.half["service_level"][-1, j], True, 0)
        lines.append(f"{fmt_hhmm(t0):>8} {lam[j]:6.1f} {int(a.schedule[:, j].sum()):5d} {fa + ('' if a.ok[j] else ' ✗'):>15}"
                     f" {int(b.schedule[:, j].sum()):6d} {fb + ('' if b.ok[j] else ' ✗'):>16}")
    for name, e in (("SIPP (Erlang C per interval)", res.sipp), ("optimized", res.best)):
        sc = e.summary.scalars
        lines.append(
            f"{name}: counter-hours {fmt_ci(*sc['counter_hours'])}, within {t:g} min {fmt_ci(*sc['service_level'], pct=True)},"
            f" mean wait {fmt_ci(*sc['wait_mean'])} min, abandoned {fmt_ci(*sc['abandon'], pct=True)}"
            f" — {_verdict(scn, e, res.hopeless if e is res.best else [])}"
        )
    lines.append("optimized shifts (paste into the scenario's [[counters]]):")
    opt = apply_schedule(scn, res.best.schedule, res.ranked)
    for cid in res.ranked:
        sh = ", ".join(f'"{fmt_hhmm(a)}-{fmt_hhmm(b)}"' for a, b in opt.counters[cid].shifts)
        lines.append(f"  counter {cid}: shifts = [{sh}]")
    return "\n".join(lines)


def _verdict(scn: Scenario, e: Evaluation, hopeless: list[int]) -> str:
    if e.meets:
        return "meets the target"
    if hopeless and e.abandon_ok and all(e.ok[j] or j in hopeless for j in range(len(e.ok))):
        starts = scn.interval_starts()
        at = ", ".join(fmt_hhmm(starts[j]) for j in hopeless)
        return (f"meets the target except at {at}, where even all {e.schedule.shape[0]} counters open miss it"
                " (more counters or shorter services are needed there)")
    return "MISSES the target"


def main_optimize(args) -> int:  # type: ignore[no-untyped-def]
    from .scenario import load_scenario

    scn = load_scenario(args.scenario)
    target, t = parse_target(args.target)
    cap = float(args.max_abandon.rstrip("%")) / 100 if args.max_abandon else None
    res = optimize(scn, target, t, cap, args.max_counters, parse_duration(args.min_shift), args.replications,
                   args.seed, args.jobs)
    print(format_result(scn, res, target, t))
    return 0 if res.best.meets else 1
