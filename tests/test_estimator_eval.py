"""The estimator replayed on generated logs: no lookahead, calibrated intervals, better than the baselines."""

from __future__ import annotations

import heapq
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from server.core.estimator import Estimator
from server.core.estimator.evaluate import OURS, replay_lines, report
from server.core.events import Event, event
from server.core.policy import service_to_call

TZ = timezone(timedelta(hours=8))
BASELINES = ("naive", "QL", "QLm", "LES", "HOL", "RA20")


def branch_log(services, counters, hours: float, seed: int, cv: float | None = 1.0) -> list[str]:  # type: ignore[no-untyped-def]
    """A small event-log generator for tests: Poisson arrivals, the core's calling rule, lognormal or exponential service.

    services: [(id, priority, mean service s, arrivals per hour)]; counters: [(id, [services in preference order])].
    """
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
    config = {"branch": "g", "services": [{"id": s, "name": s, "prefix": s, "priority": p} for s, p, _, _ in services],
              "counters": [{"id": c, "name": c, "services": list(ss)} for c, ss in counters]}
    out: list[Event] = [event(t0, "branch_config", **config)] + [event(t0, "counter_opened", counter=c) for c, _ in counters]
    mean = {s: m for s, _, m, _ in services}
    priority = {s: p for s, p, _, _ in services}
    queues: dict[str, list[str]] = {s: [] for s, _, _, _ in services}
    free = {c: True for c, _ in counters}
    prefs = dict(counters)
    heap: list[tuple[float, int, str, str]] = []
    seq = 0
    for s, _, _, rate in services:
        t = 0.0
        while True:
            t += rng.exponential(3600.0 / rate)
            if t > hours * 3600:
                break
            heap.append((t, seq, "arrive", s))
            seq += 1
    heapq.heapify(heap)
    numbers = {s: 0 for s in queues}

    def at(t: float) -> datetime:
        return t0 + timedelta(seconds=t)

    def call(c: str, t: float) -> None:
        nonlocal seq
        s = service_to_call(prefs[c], priority, lambda x: bool(queues[x]))
        if s is None:
            free[c] = True
            return
        ticket = queues[s].pop(0)
        free[c] = False
        m = mean[s]
        d = rng.exponential(m) if cv is None else rng.lognormal(np.log(m) - np.log(1 + cv * cv) / 2,
                                                                 np.sqrt(np.log(1 + cv * cv)))
        out.extend([event(at(t), "called", ticket=ticket, counter=c), event(at(t), "service_started", ticket=ticket, counter=c)])
        heapq.heappush(heap, (t + d, seq, "finish", f"{c} {ticket}"))
        seq += 1

    while heap:
        t, _, kind, what = heapq.heappop(heap)
        if kind == "arrive":
            numbers[what] += 1
            ticket = f"{what}{numbers[what]:03d}"
            queues[what].append(ticket)
            out.append(event(at(t), "ticket_issued", ticket=ticket, service=what))
            for c, _ in counters:
                if free[c] and what in prefs[c]:
                    call(c, t)
                    break
        else:
            c, ticket = what.split()
            out.append(event(at(t), "service_finished", ticket=ticket, counter=c))
            call(c, t)
    return [ev.to_json() for ev in out]


PRIORITY = dict(  # a VIP class that jumps the line at shared counters, and a dedicated express window
    services=[("A", 1, 300.0, 24.0), ("V", 3, 480.0, 6.0), ("E", 1, 120.0, 12.0)],
    counters=[("1", ["V", "A"]), ("2", ["A", "V"]), ("3", ["E"]), ("4", ["A", "E"])],
)
MMC = dict(services=[("A", 1, 300.0, 40.0)], counters=[(str(i), ["A"]) for i in range(1, 5)])


def evaluate(lines: list[str], seed: int = 1) -> dict:  # type: ignore[type-arg]
    return report(replay_lines(lines, Estimator(rng=np.random.default_rng(seed), joins=False)))


@pytest.fixture(scope="module")
def priority_report():  # type: ignore[no-untyped-def]
    return evaluate(branch_log(hours=16, seed=11, **PRIORITY))


@pytest.mark.parametrize("staffing", [True, False])
def test_predictions_never_look_ahead(staffing: bool):
    """Predictions from a log cut at any point equal those of the full log up to that point (also without counter events, where the blend learns)."""
    lines = branch_log(hours=2.5 if staffing else 12, seed=3, **PRIORITY)  # 12 h: the blend has weights
    if not staffing:  # a switch's export: calls only
        lines = [line for line in lines if '"counter_' not in line and '"wrapup_' not in line]
    full: list[dict] = []  # type: ignore[type-arg]
    replay_lines(lines, Estimator(rng=np.random.default_rng(7), joins=False), full.append)
    for cut in (len(lines) // 3, len(lines) // 2, len(lines) - 5):
        part: list[dict] = []  # type: ignore[type-arg]
        replay_lines(lines[:cut], Estimator(rng=np.random.default_rng(7), joins=False), part.append)
        last_ts = json.loads(lines[cut - 1])["ts"]
        assert part == [p for p in full if p["ts"] <= last_ts][: len(part)]
        assert len(part) >= sum(1 for p in full if p["ts"] < last_ts)


def test_every_issued_ticket_is_predicted_and_counted(priority_report):
    """Each ticket gets a wait prediction at issue; outcomes add up to the tickets issued."""
    rep = priority_report
    assert sum(rep["outcomes"].values()) == rep["tickets"]
    assert rep["wait"][OURS]["n"] == rep["scored"] == rep["outcomes"]["called"]


def test_intervals_are_calibrated_and_rarely_late(priority_report):
    """The 80% intervals cover about 80% overall and in each people-ahead bucket; late misses (+2 min) stay rare."""
    m = priority_report["wait"][OURS]
    assert 0.74 <= m["coverage"] <= 0.90
    assert m["late2"] <= 0.05
    for bucket, g in priority_report["by_ahead"][OURS].items():
        if g["n"] >= 80:
            assert 0.72 <= g["coverage"] <= 0.88, bucket


def test_nobody_ahead_is_not_over_covered_by_the_tickets_called_at_once(priority_report):
    """Half the "0 ahead" tickets are called at once (always covered), yet the group covers 75-85% on a 16-hour log: the others' low end rose."""
    g = priority_report["by_ahead"][OURS]["0"]
    assert g["n"] >= 200 and 0.75 <= g["coverage"] <= 0.85


def test_beats_the_baselines_with_priorities_and_a_dedicated_window(priority_report):
    """With a VIP class and an express window, over four days the estimator's MAE and interval score beat every baseline's."""
    # Four days, not two: on two the interval score's ratio moved by +-0.01 with changes that moved nothing else.
    reports = [priority_report, *(evaluate(branch_log(hours=16, seed=s, **PRIORITY)) for s in (12, 13, 14))]

    def pooled(name: str, metric: str) -> float:
        return sum(r["wait"][name][metric] * r["wait"][name]["n"] for r in reports) / sum(r["scored"] for r in reports)

    assert pooled(OURS, "MAE") <= 0.92 * min(pooled(n, "MAE") for n in BASELINES)
    assert pooled(OURS, "winkler") <= 0.92 * min(pooled(n, "winkler") for n in BASELINES)


def test_matches_queue_length_predictor_on_plain_mmc():
    """On plain M/M/c, where QL is the exact conditional mean, the estimator is nearly as accurate (lognormal fit of exponential service)."""
    rep = evaluate(branch_log(hours=30, seed=5, cv=None, **MMC))
    assert rep["wait"][OURS]["MAE"] <= 1.15 * rep["wait"]["QL"]["MAE"]
