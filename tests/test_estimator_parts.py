"""The estimator's cheaper paths give the same answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from server.core.estimator.distributions import BranchModel
from server.core.estimator.forward import Lane, Plan, arrivals_matter, policy_score, simulate
from server.core.estimator.snapshot import _resample_tails
from server.core.events import event
from server.core.state import BranchState

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)


def _lane(rng: np.random.Generator, reps: int, waiting: int, arrivals: int) -> Lane:
    arr = np.sort(rng.uniform(0, 3600, (reps, arrivals)), axis=1)
    return Lane(rng.exponential(300, (reps, waiting)), np.full((reps, waiting), np.inf), arr,
                rng.exponential(300, (reps, arrivals)), np.full((reps, arrivals), np.inf))


def test_arrivals_of_a_lane_ranked_last_everywhere_are_not_needed():
    """Arrivals that join behind everyone change no call time: the simulation without them gives the same answer."""
    score = policy_score([[0, 1], [1, 0], [0]], np.array([2.0, 1.0]), 2)  # lane 0 is the priority class
    matter = arrivals_matter(score, np.array([True, True]))
    assert matter.tolist() == [True, False]  # priority arrivals jump ahead; ordinary ones queue behind
    assert arrivals_matter(policy_score([[0]], np.array([1.0]), 1), np.array([True])).tolist() == [False]
    rng = np.random.default_rng(4)
    reps = 32
    vip, plain = _lane(rng, reps, 3, 20), _lane(rng, reps, 6, 30)
    free = rng.uniform(0, 400, (reps, 3))
    with_all = simulate(Plan([vip, plain], score, np.ones(3), free, 6 * 3600.0))
    empty = np.full((reps, 0), np.inf)
    pruned = Lane(plain.occupancy, plain.abandon_at, empty, empty, empty)
    assert np.array_equal(simulate(Plan([vip, pruned], score, np.ones(3), free, 6 * 3600.0)), with_all)


def test_long_transactions_are_resampled_from_the_longer_past_ones():
    """A transaction running for 10 min gets a remainder drawn only from past durations longer than that."""
    st = BranchState()
    st.apply(event(T0, "branch_config", branch="t", services=[{"id": "A", "name": "A", "prefix": "A", "priority": 1}],
                   counters=[{"id": "1", "name": "1", "services": ["A"]}]))
    model = BranchModel()
    rng = np.random.default_rng(2)
    durations = rng.lognormal(5.5, 0.8, 300)
    model.recent_services["A"].extend(durations)
    for ev in (event(T0, "counter_opened", counter="1"), event(T0, "ticket_issued", ticket="A001", service="A"),
               event(T0, "called", ticket="A001", counter="1"), event(T0, "service_started", ticket="A001", counter="1")):
        st.apply(ev)
    busy = np.zeros((500, 1))
    _resample_tails(busy, [st.counters["1"]], np.array([600.0]), st, model, rng)
    total = busy[:, 0] + 600.0
    assert (busy > 0).all()
    assert np.isin(np.round(total, 6), np.round(durations[durations > 600.0], 6)).all()
    assert len(np.unique(total)) > 10  # drawn from the tail, not one value
