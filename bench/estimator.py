"""Benchmark: one full estimate for 150 waiting tickets and 12 counters, against the QL baseline's.

Prints the median time of a full recompute (forward Monte Carlo, calibration,
texts for every ticket, counter and kiosk button) and the QL baseline's
recompute of the same tickets in the same run. Target: <= 20 ms.
Run: .venv/bin/python bench/estimator.py
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.core.estimator import Estimator  # noqa: E402
from server.core.estimator.baselines import Baselines  # noqa: E402
from server.core.events import event  # noqa: E402
from server.core.state import BranchState  # noqa: E402

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
SERVICES = [("A", 1), ("B", 1), ("C", 1), ("P", 2), ("V", 3)]


def busy_branch() -> tuple[BranchState, Estimator, Baselines, datetime]:
    """12 counters (mixed services, 2 paused, 1 in wrap-up), 150 waiting tickets, an hour of history learned
    (one customer in eight gone by the time called)."""
    rng = np.random.default_rng(1)
    counters = [{"id": str(k), "name": str(k), "services": [s for s, _ in SERVICES if rng.random() < 0.6] or ["A"]}
                for k in range(1, 13)]
    config = {"branch": "bench", "services": [{"id": s, "name": s, "prefix": s, "priority": p} for s, p in SERVICES],
              "counters": counters}
    st, est, base = BranchState(), Estimator(rng=np.random.default_rng(2)), Baselines()
    evs = [event(T0, "branch_config", **config)] + [event(T0, "counter_opened", counter=c["id"]) for c in counters]
    n = 0
    for c in counters:  # history: each counter serves 25 customers back to back
        t = T0
        for i in range(25):
            s = c["services"][int(rng.integers(len(c["services"])))]
            n += 1
            num = f"{s}{n:03d}"
            waited = timedelta(seconds=float(rng.exponential(600)))
            if i % 8 == 7:  # gone by the time they were called: the patience the simulation then draws for all
                evs += [event(t - waited, "ticket_issued", ticket=num, service=s),
                        event(t, "called", ticket=num, counter=c["id"]), event(t, "no_show", ticket=num, counter=c["id"])]
                continue
            done = t + timedelta(seconds=float(rng.lognormal(5.5, 0.8)))
            evs += [event(t - waited, "ticket_issued", ticket=num, service=s),
                    event(t, "called", ticket=num, counter=c["id"]),
                    event(t, "service_started", ticket=num, counter=c["id"]),
                    event(done, "service_finished", ticket=num, counter=c["id"])]
            t = done
    evs.sort(key=lambda e: e.ts)  # stable: each counter's own events stay in order
    for ev in evs:
        st.apply(ev)
        est.observe(ev, st)
        base.observe(ev, st)
    now = max(ev.ts for ev in evs)
    for k, c in enumerate(counters):  # the live situation
        if k < 8:
            s = c["services"][0]
            n += 1
            num = f"{s}{n:03d}"
            for ev in (event(now, "ticket_issued", ticket=num, service=s), event(now, "called", ticket=num, counter=c["id"]),
                       event(now, "service_started", ticket=num, counter=c["id"])):
                st.apply(ev)
        elif k < 10:
            st.apply(event(now, "counter_paused", counter=c["id"], expected_return=(now + timedelta(minutes=10)).isoformat()))
        elif k == 10:
            st.apply(event(now, "wrapup_started", counter=c["id"]))
    for k in range(150):  # issued over the last half hour, so each has waited a different time
        s = SERVICES[int(rng.integers(5))][0]
        n += 1
        st.apply(event(now - timedelta(seconds=12 * (150 - k)), "ticket_issued", ticket=f"{s}{n:03d}", service=s))
    return st, est, base, now + timedelta(minutes=3)


def median_ms(fn, repeat: int = 15) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    st, est, base, now = busy_branch()
    waiting = [t for s in st.queues for t in st.waiting(s)]
    counter = iter(range(10**6))

    def ours() -> None:
        est.estimate(st, now + timedelta(seconds=30 * next(counter)))  # a new time: no cached answer

    def ql() -> None:
        for t in waiting:
            base.waits(t, st, now)

    ours()
    ms, ql_ms = median_ms(ours), median_ms(ql)
    print(f"estimator full recompute: {len(waiting)} waiting tickets, {len(st.counters)} counters: {ms:.1f} ms "
          f"(target <= 20 ms)")
    print(f"baselines (QL and the five others) for the same tickets: {ql_ms:.1f} ms; ratio {ms / ql_ms:.1f}x")


if __name__ == "__main__":
    main()
