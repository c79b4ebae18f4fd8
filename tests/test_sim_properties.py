"""Hypothesis: random small scenarios give logs that keep the spec's invariants and the core's calling rule."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core.policy import service_to_call
from server.core.state import BranchState
from sim.eventlog import day_date, day_events
from sim.model import simulate_day
from sim.runner import day_seed
from sim.scenario import scenario_from_mapping

DISTS = ["lognormal", "exponential", "gamma", "fixed"]


@st.composite
def scenarios(draw):  # type: ignore[no-untyped-def]
    n_s = draw(st.integers(1, 3))
    ids = ["A", "B", "C"][:n_s]
    services = []
    for sid in ids:
        others = [o for o in ids if o != sid]
        services.append({
            "id": sid, "prefix": sid, "priority": draw(st.integers(1, 3)),
            "service": {"dist": draw(st.sampled_from(DISTS)), "mean_minutes": draw(st.floats(0.5, 15)),
                        "cv": draw(st.floats(0.3, 1.2))},
            "wrapup": {"share": draw(st.floats(0, 0.5)), "mean_minutes": 1.0},
            "no_show": draw(st.floats(0, 0.2)),
            "transfer": {o: 0.1 for o in others[: draw(st.integers(0, len(others)))]},
        })
    counters = []
    for k in range(draw(st.integers(1, 4))):
        serves = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=n_s, unique=True))
        split = draw(st.booleans())
        counters.append({
            "id": str(k + 1), "services": serves, "speed": draw(st.floats(0.7, 1.3)),
            "shifts": ["09:00-11:00", "11:30-12:00"] if split else ["08:55-12:00"],
            "pauses": [{"at": f"09:{draw(st.integers(10, 59)):02d}", "minutes": draw(st.floats(1, 20))}],
        })
    rates = {sid: [draw(st.floats(0, 40)) for _ in range(6)] for sid in ids}
    rates[ids[0]][0] += 1
    return scenario_from_mapping({
        "branch": "prop", "day": {"doors_open": "09:00", "doors_close": "12:00"},
        "arrivals": {"interval_minutes": 30, **rates},
        "customers": {"patience": {"dist": "exponential", "mean_minutes": draw(st.floats(2, 60))},
                      "announced_abandon": draw(st.floats(0, 1)), "walk_seconds": draw(st.floats(0, 40)),
                      "abandon_detect_minutes": draw(st.floats(0, 5))},
        "pauses": {"overrun_share": 0.5, "unplanned_per_hour": draw(st.floats(0, 1))},
        "services": services, "counters": counters,
    })


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scn=scenarios(), seed=st.integers(0, 2**32 - 1))
def test_random_scenarios_keep_the_invariants(scn, seed) -> None:  # type: ignore[no-untyped-def]
    """Two days' log folds, ends final, numbers are unique per day, a ticket is called once per queueing, a counter holds one customer, and every call follows the core's rule."""
    events = [ev for d in (0, 1) for ev in day_events(scn, simulate_day(scn, day_seed(seed, d)), day_date(scn, d))]
    state = BranchState()
    holding: dict[str, str] = {}
    calls: Counter[tuple] = Counter()
    queueings: Counter[tuple] = Counter()
    for ev in events:
        if ev.type == "called":
            c = state.counters[ev.counter]
            prio = state.config.priority()  # type: ignore[union-attr]
            svc = service_to_call(c.services, prio, lambda s: state.waiting_count(s) > 0)
            head = state.head(svc) if svc else None
            assert head is not None and head.number == ev.ticket, "the call breaks the calling rule"
            assert ev.counter not in holding, "a counter called while holding a customer"
            holding[ev.counter] = ev.ticket
            calls[(ev.ts.date(), ev.ticket)] += 1
        elif ev.type in ("no_show", "service_finished"):
            assert holding.pop(ev.counter) == ev.ticket
        elif ev.type in ("ticket_issued", "transferred"):
            queueings[(ev.ts.date(), ev.ticket)] += 1
        state.apply(ev)
    issued = [(e.ts.date(), e.ticket) for e in events if e.type == "ticket_issued"]
    assert len(issued) == len(set(issued))  # unique within a day (numbering restarts each day)
    assert all(calls[t] <= queueings[t] for t in calls)
    assert all(t.final for t in state.tickets.values())
    assert not holding
