"""The estimator's cheaper paths give the same answers, calibration steers every group, recomputes leave no garbage."""

from __future__ import annotations

import gc
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from server.core.config import load_config
from server.core.estimator import Estimator, make_estimator
from server.core.estimator.blend import Blend
from server.core.estimator.calibration import AT_ONCE, Calibrator, ahead_bucket, bucket_group
from server.core.estimator.distributions import BranchModel
from server.core.estimator.forward import Lane, Plan, arrivals_matter, policy_score, simulate
from server.core.estimator.patience import band
from server.core.estimator.snapshot import _resample_tails
from server.core.events import event
from server.core.state import BranchState

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
DEMO = Path(__file__).resolve().parent.parent / "server" / "branches" / "demo.toml"


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


def test_calibration_steers_a_group_with_many_certain_zeros_to_80_percent():
    """Where most tickets are called at once (always covered), the others' range starts later so the group covers ~80%."""
    rng = np.random.default_rng(9)
    cal = Calibrator()
    assert bucket_group(AT_ONCE) == bucket_group(ahead_bucket(0)) == "0" and bucket_group(ahead_bucket(8)) == "6+"
    covered, late, n = 0, 0, 0
    for i in range(6000):
        if rng.random() < 0.6:  # called at once: wait zero, predicted zero
            bucket, raw, actual = AT_ONCE, (0.0, 0.0, 0.0), 0.0
        else:  # waits for a counter to free up: the raw interval is the truth's
            bucket, raw, actual = ahead_bucket(0), (20.0, 90.0, 250.0), float(rng.gamma(2.0, 55.0))
        scale = raw[2] - raw[0] + 60.0
        low, _, high = cal.apply(bucket, raw, scale)
        if i >= 3000:
            n += 1
            covered += low <= actual <= high
            late += actual > high + 120.0
        cal.learn(bucket, raw, scale, actual)
    assert 0.75 <= covered / n <= 0.85
    assert late / n <= 0.05


def _zero_heavy_group(cal: Calibrator, rng: np.random.Generator, n: int, share: float) -> list[tuple[float, float, float, float]]:
    """Feeds `n` outcomes of a "0 ahead" group with `share` called at once, as the estimator does; returns (low, point, high, actual)."""
    out = []
    for _ in range(n):
        if rng.random() < share:
            bucket, raw, actual = AT_ONCE, (0.0, 0.0, 0.0), 0.0
        else:
            bucket, raw, actual = ahead_bucket(0), (20.0, 90.0, 250.0), float(rng.gamma(2.0, 55.0))
        scale = raw[2] - raw[0] + 60.0
        shown = cal.apply(bucket, raw, scale)
        out.append((*shown, actual))
        cal.learn(bucket, raw, scale, actual, shown, cal.shifted_point(bucket, raw, scale))
    return out


def test_calibration_settles_a_mostly_certain_group_within_a_day():
    """With 70% of a group called at once, the group covers 75-85% already over its first few hundred outcomes, not after weeks."""
    out = np.array(_zero_heavy_group(Calibrator(), np.random.default_rng(4), 700, 0.7))[100:]
    covered = (out[:, 0] <= out[:, 3]) & (out[:, 3] <= out[:, 2])
    assert 0.75 <= covered.mean() <= 0.85
    assert (out[:, 3] > out[:, 2] + 120.0).mean() <= 0.03  # the misses are early ones


def _predicted_zeros(waiting: float) -> Calibrator:
    """A "0 ahead" group, 90% predicted to be called at once, of which the share `waiting` waits a little after all."""
    cal, rng = Calibrator(), np.random.default_rng(2)
    for _ in range(3000):
        if rng.random() < 0.9:
            bucket, raw = AT_ONCE, (0.0, 0.0, 0.0)
            actual = float(rng.uniform(5.0, 200.0)) if rng.random() < waiting else 0.0
        else:
            bucket, raw, actual = ahead_bucket(0), (20.0, 90.0, 250.0), float(rng.gamma(2.0, 55.0))
        scale = raw[2] - raw[0] + 60.0
        shown = cal.apply(bucket, raw, scale)
        cal.learn(bucket, raw, scale, actual, shown, cal.shifted_point(bucket, raw, scale))
    return cal


@pytest.mark.parametrize("waiting", [0.0, 0.03])
def test_a_predicted_zero_keeps_its_low_end_at_zero_while_it_is_borne_out(waiting: float):
    """Where (nearly) every ticket predicted to be called at once is, their range starts at 0 while the others' low end rises."""
    cal = _predicted_zeros(waiting)
    assert cal._levels["0"].trusted() and cal._levels["0"].low > 0.5
    assert cal.apply(AT_ONCE, (0.0, 0.0, 0.0), 60.0)[0] == 0.0


def test_predicted_zeros_that_often_wait_are_not_treated_as_certain():
    """Where a log hides staffing and 30% of the tickets predicted to be called at once wait, they are steered like the others."""
    cal = _predicted_zeros(0.3)
    assert not cal._levels["0"].trusted() and cal._levels["0"].certain < 0.05


def test_the_point_is_not_pulled_up_to_a_low_end_raised_for_coverage():
    """Where the low end of the waits that are not certain rises for the group's coverage, the point stays their median."""
    cal = Calibrator()
    _zero_heavy_group(cal, np.random.default_rng(5), 1500, 0.8)
    low, point, high = cal.apply(ahead_bucket(0), (20.0, 90.0, 250.0), 290.0)
    assert point < low < high
    assert abs(point - 2.0 * 55.0 * 0.84) < 40.0  # the gamma(2, 55) median is about 92 s


def test_the_point_follows_the_median_shift_only_where_it_helped():
    """A steady bias moves the point all the way; a median shift that is only noise (the raw median is right) is mostly ignored."""
    rng = np.random.default_rng(8)
    biased, unbiased = Calibrator(), Calibrator()
    for _ in range(600):
        mid = float(rng.uniform(100.0, 900.0))
        raw, scale = (0.5 * mid, mid, 2.0 * mid), 1.5 * mid + 60.0
        for cal, actual in ((biased, mid + 0.15 * scale + float(rng.normal(0.0, 10.0))),  # late by 15% of the scale
                            (unbiased, mid * float(rng.lognormal(0.0, 0.5)))):
            shown = cal.apply("3-5", raw, scale)
            cal.learn("3-5", raw, scale, actual, shown, cal.shifted_point("3-5", raw, scale))
    assert abs(biased.apply("3-5", (250.0, 500.0, 1000.0), 810.0)[1] - (500.0 + 0.15 * 810.0)) < 15.0
    assert biased._weights["3-5"].weight == 1.0
    assert biased.apply("3-5", (250.0, 500.0, 1000.0), 810.0, move_point=False)[1] == 500.0  # staffing logged: not moved
    assert unbiased._weights["3-5"].weight <= 0.5


def test_calibration_raises_the_high_end_when_late_misses_pile_up():
    """When waits grow faster than the recent errors say (a drifting day), the high end's level rises and late misses stay rare."""
    rng = np.random.default_rng(3)
    cal = Calibrator()
    late, highest = 0, 0.0
    for i in range(4000):
        raw = (60.0, 300.0, 600.0)
        actual = float(rng.lognormal(np.log(300.0), 0.6)) * (1.0 + i / 800.0)  # longer and longer
        if i >= 2000:
            late += actual > cal.apply("3-5", raw, 600.0)[2] + 120.0
        cal.learn("3-5", raw, 600.0, actual)
        highest = max(highest, cal._levels["3-5"].high)
    assert highest > 0.96
    assert late / 2000 <= 0.05


def test_no_counter_gives_no_number_at_all():
    """A class no open counter serves gets None, not NaN, for every number: the screens show the sentence instead."""
    cfg = load_config(DEMO)
    st, est = BranchState(), make_estimator(cfg)
    for ev in (event(T0, "branch_config", **cfg.event_fields()), event(T0, "counter_opened", counter="1"),
               event(T0, "ticket_issued", ticket="C001", service="C")):
        st.apply(ev)
        est.observe(ev, st)
    w = est.estimate(st, T0 + timedelta(minutes=1)).waits["C001"]
    assert (w.expected_s, w.low_s, w.high_s, w.available) == (None, None, None, False)
    assert w.text_zh == "暂无窗口办理此业务"


def test_kiosk_with_nobody_waiting_and_one_busy_counter_is_a_short_range():
    """Demo branch, one counter serving an A customer for a few minutes, nobody waiting: the kiosk offers minutes, not an hour."""
    cfg = load_config(DEMO)
    st, est = BranchState(), make_estimator(cfg)
    for ev in (event(T0, "branch_config", **cfg.event_fields()), event(T0, "counter_opened", counter="1"),
               event(T0, "ticket_issued", ticket="A001", service="A"), event(T0, "called", ticket="A001", counter="1"),
               event(T0, "service_started", ticket="A001", counter="1")):
        st.apply(ev)
        est.observe(ev, st)
    for minutes in (1, 4, 9):
        w = est.estimate(st, T0 + timedelta(minutes=minutes)).join["A"]
        assert w.available and w.high_s is not None and w.high_s < 3600
        assert "小时" not in w.text_zh


def test_a_recompute_leaves_nothing_for_the_cyclic_garbage_collector():
    """Estimates build no reference cycles, so recomputing on every event adds no work for the GC's full collections."""
    cfg = load_config(DEMO)
    st, est = BranchState(), Estimator(cfg, np.random.default_rng(1))
    evs = [event(T0, "branch_config", **cfg.event_fields())] + [event(T0, "counter_opened", counter=c.id)
                                                               for c in cfg.counters]
    evs += [event(T0 + timedelta(seconds=i), "ticket_issued", ticket=f"A{i:03d}", service="A") for i in range(1, 40)]
    for ev in evs:
        st.apply(ev)
        est.observe(ev, st)
    est.estimate(st, T0 + timedelta(minutes=1))
    gc.collect()
    for i in range(10):
        est.estimate(st, T0 + timedelta(minutes=2 + i))
    assert gc.collect() == 0


def test_short_waits_missed_high_by_seconds_still_raise_the_high_end():
    """Misses above the range by seconds (never 2 min late) above 5% raise the high end's level too (call-centre waits)."""
    cal = Calibrator()
    rng = np.random.default_rng(6)
    for _ in range(200):  # the scores' window: waits of 20-60 s on a raw range of (10, 40, 60)
        cal.learn("1-2", (10.0, 40.0, 60.0), 110.0, float(rng.uniform(20.0, 60.0)))
    start = cal._levels["1-2"].high
    for _ in range(100):  # then a run of waits just above the calibrated high end
        high = cal.apply("1-2", (10.0, 40.0, 60.0), 110.0)[2]
        cal.learn("1-2", (10.0, 40.0, 60.0), 110.0, high + 5.0)
    assert start == 0.95 and cal._levels["1-2"].high > 0.97


def _random_plan(rng: np.random.Generator) -> Plan:
    reps, n_lanes, k = int(rng.integers(1, 70)), int(rng.integers(1, 5)), int(rng.integers(1, 7))
    prefs = [[int(x) for x in rng.permutation(n_lanes)[:rng.integers(1, n_lanes + 1)]] for _ in range(k)]
    score = policy_score(prefs, rng.integers(1, 3, n_lanes).astype(float), n_lanes)
    lanes = []
    for _ in range(n_lanes):
        lane = _lane(rng, reps, int(rng.integers(0, 12)), int(rng.integers(0, 15)))
        if rng.random() < 0.5:  # some lanes lose customers on the way
            lane.abandon_at = rng.exponential(900, lane.abandon_at.shape)
            lane.arrival_abandon = rng.exponential(900, lane.arrival_abandon.shape)
        lanes.append(lane)
    free = rng.uniform(-1, 600, (reps, k))
    free[:, rng.random(k) < 0.2] = np.inf  # closed counters
    closes = reopens = None
    if rng.random() < 0.4:  # lunch breaks
        closes = np.where(rng.random(k) < 0.5, rng.uniform(0, 3000, k), np.inf)
        reopens = closes + rng.uniform(0, 3000, k)
    left_busy = float(rng.choice([0.0, 60.0]))  # leavers found out only when called (silent abandonment)
    return Plan(lanes, score, rng.uniform(0.8, 1.2, k), free, float(rng.choice([3000.0, 21600.0])), closes, reopens,
                left_busy)


def test_the_compiled_loop_gives_the_numpy_loops_call_times():
    """The numba loop and the numpy fallback give identical call times on random branches (priorities, abandonment, breaks, horizon)."""
    rng = np.random.default_rng(11)
    for _ in range(80):
        plan = _random_plan(rng)
        assert np.array_equal(simulate(plan, compiled=True), simulate(plan, compiled=False))
    plan = _random_plan(rng)
    assert np.array_equal(simulate(plan, max_steps=7, compiled=True), simulate(plan, max_steps=7, compiled=False))


def test_a_window_serving_a_rare_long_class_is_not_called_slow():
    """Tellers' speeds are fitted against the classes' norms as learned now: early VIPs, long beside a branch norm still short, do not make the VIP window slow for good."""
    st = BranchState()
    st.apply(event(T0, "branch_config", branch="t", counters=[{"id": "1", "name": "1", "services": ["A"]},
                                                               {"id": "2", "name": "2", "services": ["V"]}],
                   services=[{"id": "A", "name": "A", "prefix": "A", "priority": 1},
                             {"id": "V", "name": "V", "prefix": "V", "priority": 2}]))
    model, rng, t = BranchModel(), np.random.default_rng(5), T0
    for c in ("1", "2"):
        st.apply(event(T0, "counter_opened", counter=c))
    for i in range(300):  # equally fast tellers; one VIP for every five ordinary customers
        service, counter = ("V", "2") if i % 6 == 5 else ("A", "1")
        num, d = f"{service}{i:03d}", float(rng.lognormal(math.log(1200.0 if service == "V" else 120.0), 0.7))
        for ev in (event(t, "ticket_issued", ticket=num, service=service), event(t, "called", ticket=num, counter=counter),
                   event(t, "service_started", ticket=num, counter=counter),
                   event(t + timedelta(seconds=d), "service_finished", ticket=num, counter=counter)):
            st.apply(ev)
            model.observe(ev, st)
        t += timedelta(seconds=d)
    assert 0.85 <= model.speed("2") <= 1.15 and 0.85 <= model.speed("1") <= 1.15
    low, mid, high = model.service_start("V", "2", (0.1, 0.5, 0.9))
    assert 0.8 * 1200 <= mid <= 1.2 * 1200 and low < mid < high


def test_the_blend_moves_toward_the_head_of_line_wait_only_where_that_would_have_helped():
    """The weight toward the head-of-line wait is the one past outcomes favour: near 1 when that wait was the answer, 0 when it was noise."""
    rng = np.random.default_rng(8)
    informative, noise = Blend(), Blend()
    for _ in range(300):
        actual, point = rng.exponential(300), rng.exponential(300)
        informative.learn("3-5", point, actual + rng.normal(0, 10), actual)
        noise.learn("3-5", actual + rng.normal(0, 10), point, actual)
    assert informative.weight("3-5") >= 0.9 and noise.weight("3-5") == 0.0
    assert informative.apply("3-5", 100.0, 200.0) >= 190.0 and noise.apply("3-5", 100.0, 200.0) == 100.0
    assert Blend().apply("6-10", 100.0, 500.0) == 100.0  # nothing learned yet: the simulation's point


def test_the_loop_compiles_without_a_writable_cache(monkeypatch):
    """Where numba cannot keep its cache (read-only install, no home) the loop is compiled uncached, not an error."""
    import numba

    from server.core.estimator import kernel

    real = numba.njit

    def njit(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function '_call_times': no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)
    monkeypatch.setattr(kernel, "_compiled", {})
    plan = _random_plan(np.random.default_rng(3))
    assert np.array_equal(simulate(plan, compiled=True), simulate(plan, compiled=False))
    kernel.warm_up()  # ... and the patience loop too
    assert set(kernel._compiled) == {"call_times", "leave_times"}


def test_the_point_is_a_smoothed_median_of_the_replications():
    """The point of 64 exponential draws is closer to the true median on average than the middle draw alone."""
    from server.core.estimator.estimator import _quantiles

    draws = np.random.default_rng(3).exponential(300.0, (64, 4000))
    smoothed = np.abs(_quantiles(draws)[1] - 300.0 * math.log(2)).mean()
    middle = np.abs(np.sort(draws, axis=0)[31] - 300.0 * math.log(2)).mean()
    assert smoothed < 0.97 * middle
    assert _quantiles(np.zeros((64, 2)))[1].tolist() == [0.0, 0.0]  # all called at once: still exactly zero


def test_no_shows_after_long_waits_are_counted_as_customers_who_gave_up():
    """No-shows beyond the short-wait share (silent leavers) raise the abandonment rate, not the no-show share of every call."""
    st = BranchState()
    st.apply(event(T0, "branch_config", branch="t", counters=[{"id": "1", "name": "1", "services": ["A"]}],
                   services=[{"id": "A", "name": "A", "prefix": "A", "priority": 1}]))
    st.apply(event(T0, "counter_opened", counter="1"))
    model, t = BranchModel(), T0
    for i in range(200):  # half called at once (all come), half after 20 minutes (one in four gone)
        num, wait = f"A{i:03d}", (0.0 if i % 2 else 1200.0)
        gone = i % 8 == 0
        evs = [event(t, "ticket_issued", ticket=num, service="A"),
               event(t + timedelta(seconds=wait), "called", ticket=num, counter="1")]
        evs.append(event(t + timedelta(seconds=wait + 90), "no_show", ticket=num, counter="1") if gone else
                   event(t + timedelta(seconds=wait + 20), "service_started", ticket=num, counter="1"))
        if not gone:
            evs.append(event(t + timedelta(seconds=wait + 200), "service_finished", ticket=num, counter="1"))
        for ev in evs:
            st.apply(ev)
            model.observe(ev, st)
        t += timedelta(seconds=wait + 300)
    assert model.quick_noshow_p("A") < 0.01  # nobody called at once failed to come
    assert 24 < model.silent_leavers("A") <= 25  # every no-show waited 20 minutes (less a prior share)
    assert 0.8 < model.abandon_rate("A") * (100 * 1200 + 3600) / 25 <= 1.0  # 25 gone over the waiting time
    assert model.left_busy(["A"]) == 90.0  # each was called in vain for the no-show delay
    gone = model.patience_learned(["A"])[1]["A"]  # ... a quarter of those called after 20 minutes, none sooner
    assert gone[band(1200)] == pytest.approx(0.25, abs=0.02) and gone[band(0)] < 0.01
    assert (np.diff(gone) >= 0).all()  # a share gone by each wait never falls as the wait grows


def test_patience_is_drawn_given_the_time_already_waited():
    """Leaving times invert the cumulative hazard from the time already waited: memoryless when the
    hazard is constant, sooner for someone who has waited into the bands where people give up."""
    from server.core.estimator.patience import EDGES, time_to_leave

    unit = np.random.default_rng(2).exponential(1.0, (20000, 2))
    lines = np.array([0, 0])
    flat = np.full((1, len(EDGES)), 1 / 600)
    left = time_to_leave(flat, lines, np.array([0.0, 1000.0]), unit)
    assert left.mean(axis=0) == pytest.approx([600, 600], rel=0.03)
    late = np.where(EDGES >= 600, 1 / 300, 0.0)[None, :]  # nobody leaves in the first 10 minutes
    left = time_to_leave(late, lines, np.array([0.0, 900.0]), unit)
    assert left[:, 0].min() >= 600 and left[:, 0].mean() == pytest.approx(900, rel=0.03)
    assert left[:, 1].mean() == pytest.approx(300, rel=0.03)  # already past the patient part
    both = time_to_leave(np.vstack([late, flat]), np.array([1, 0]), np.array([1000.0, 900.0]), unit)
    assert np.array_equal(both, np.column_stack([time_to_leave(flat, lines, np.array([1000.0, 1000.0]), unit)[:, 0],
                                                 left[:, 1]]))  # each column reads its own line's hazard
    assert np.isinf(time_to_leave(np.zeros((1, len(EDGES))), lines, np.array([0.0, 900.0]), unit)).all()


def test_customers_who_leave_unseen_are_drawn_from_the_whole_distribution():
    """A silent leaver's ticket stays in line: the share gone by a wait is read from the learned curve,
    whatever the customer has waited so far (then counted from now, negative when already gone)."""
    from server.core.estimator.patience import BANDS, EDGES, silent_leave

    u = np.random.default_rng(4).random((40000, 2))
    gone = np.where(EDGES >= 600, 0.5, 0.0)[None, :]  # half gone by 10 minutes, nobody before, nobody after
    total = silent_leave(gone, np.array([0, 0]), np.array([0.0, 1200.0]), u) + np.array([0.0, 1200.0])
    assert np.isinf(total).mean(axis=0) == pytest.approx([0.5, 0.5], abs=0.01)
    finite = total[np.isfinite(total[:, 0]), 0]
    assert finite.max() <= 750 and finite.min() >= 0  # all between 0 and the middle of the 10-15 minute band
    assert np.isinf(silent_leave(np.zeros((1, BANDS)), np.array([0]), np.array([0.0]), u[:, :1])).all()


def test_the_compiled_leaving_times_are_the_numpy_ones():
    """The compiled pass over customers gives the same leaving times as the two numpy functions, on random lines."""
    from server.core.estimator.patience import BANDS, leave_times

    rng = np.random.default_rng(8)
    for _ in range(20):
        lines = int(rng.integers(1, 5))
        hazard = rng.random((lines, BANDS)) * 1e-3 * (rng.random((lines, BANDS)) < 0.7)
        hazard[rng.random(lines) < 0.3] = 0.0  # some lines nobody ever left
        gone = np.sort(rng.random((lines, BANDS)) * 0.6 * (rng.random((lines, 1)) < 0.8), axis=1)
        lane = np.sort(rng.integers(0, lines, 50))
        elapsed = np.where(rng.random(50) < 0.5, rng.random(50) * 5000, 0.0)
        unit, uniform = rng.exponential(1.0, (16, 50)), rng.random((16, 50))
        a = leave_times(hazard, gone, lane, elapsed, unit, uniform, compiled=True)
        b = leave_times(hazard, gone, lane, elapsed, unit, uniform, compiled=False)
        assert np.array_equal(np.isinf(a), np.isinf(b))
        assert np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-9, atol=1e-6)
