"""The estimator's parts: conditional service times, texts with hysteresis, the policy encoding, screens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from server.core.estimator import Estimator
from server.core.estimator.distributions import LogNormal, norm_ppf
from server.core.estimator.forward import policy_score
from server.core.estimator.patience import band
from server.core.estimator.schedule import CounterSchedule
from server.core.estimator.texts import wait_text
from server.core.events import event
from server.core.policy import service_to_call
from server.core.state import BranchState

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
CONFIG = {
    "branch": "t", "services": [
        {"id": "A", "name": "A", "prefix": "A", "priority": 1},
        {"id": "V", "name": "V", "prefix": "V", "priority": 2},
        {"id": "C", "name": "C", "prefix": "C", "priority": 1},
    ],
    "counters": [
        {"id": "1", "name": "1", "services": ["A", "V"]},
        {"id": "2", "name": "2", "services": ["V", "A"]},
        {"id": "3", "name": "3", "services": ["C"]},
    ],
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def state_with(*events) -> BranchState:  # type: ignore[no-untyped-def]
    st = BranchState()
    st.apply(event(T0, "branch_config", **CONFIG))
    for ev in events:
        st.apply(ev)
    return st


def test_lognormal_remaining_time_falls_then_rises():
    """For lognormal service the expected remaining time dips after the start and then grows with elapsed time."""
    d = LogNormal.from_mean_cv(194.0, 1.15)
    means = [d.mean_remaining(e) for e in (0, 60, 180, 300, 600, 1200)]
    assert means[1] < means[0] < means[3] < means[4] < means[5]
    mc = d.remaining(600.0, np.random.default_rng(1), 200_000).mean()
    assert mc == pytest.approx(means[4], rel=0.03)


def test_normal_quantile_approximation_is_accurate():
    """The numpy-only inverse normal CDF matches known quantiles."""
    got = norm_ppf(np.array([0.001, 0.1, 0.5, 0.9, 0.975]))
    assert got == pytest.approx([-3.090232, -1.281552, 0.0, 1.281552, 1.959964], abs=1e-5)


@pytest.mark.parametrize(("low", "high", "zh", "en"), [
    (16 * 60, 19 * 60, "约需15–20分钟", "About 15–20 min"),
    (0, 100, "即将叫号", "Very soon"),
    (2 * 60, 9 * 60, "约需10分钟以内", "Under 10 min"),
    (35 * 60, 48 * 60, "约需30–50分钟", "About 30–50 min"),
    (45 * 60, 80 * 60, "约需40分钟以上", "40+ min"),
    (65 * 60, 90 * 60, "约需1小时以上", "Over 1 hour"),
])
def test_wait_texts_use_friendly_buckets(low, high, zh, en):
    """Ranges are rounded outward to 5- then 10-minute buckets, with 'soon' and 'over an hour' at the ends."""
    shown = wait_text(low, high)
    assert (shown.zh, shown.en) == (zh, en)


def test_wait_text_hysteresis_keeps_the_bucket_near_an_edge():
    """An estimate hovering around a bucket edge keeps its text until it moves a clear margin past it."""
    first = wait_text(16 * 60, 19.8 * 60)
    assert first.zh == "约需15–20分钟"
    wobble = [20.3, 19.7, 20.5, 19.9]
    shown = first
    for hi in wobble:
        shown = wait_text(16 * 60, hi * 60, shown)
        assert shown.zh == "约需15–20分钟"
    assert wait_text(16 * 60, 21.5 * 60, shown).zh == "约需15–25分钟"
    soon = wait_text(0, 120)
    assert wait_text(0, 200, soon).zh == "即将叫号"  # "soon" stays until the high end passes 5 min
    assert wait_text(0, 400, soon).zh != "即将叫号"


def test_policy_score_encodes_the_calling_rule():
    """The vectorised score picks exactly what policy.service_to_call picks, on random set-ups."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 6))
        priority = rng.integers(0, 3, n).astype(float)
        prefs = [list(rng.permutation(n)[: int(rng.integers(1, n + 1))])]
        waiting = rng.random(n) < 0.5
        score = policy_score(prefs, priority, n)[0]
        masked = np.where(waiting, score, -np.inf)
        ours = int(masked.argmax()) if np.isfinite(masked.max()) else None
        names = [str(i) for i in range(n)]
        theirs = service_to_call([names[i] for i in prefs[0]], {names[i]: int(priority[i]) for i in range(n)},
                                 lambda s, w=waiting: bool(w[int(s)]))
        assert ours == (int(theirs) if theirs is not None else None)


def test_no_open_counter_says_so_instead_of_a_number():
    """A class no open counter serves gets '暂无窗口办理此业务' and no number, on the ticket and the kiosk."""
    st = state_with(event(at(0), "counter_opened", counter="1"), event(at(1), "ticket_issued", ticket="C001", service="C"))
    est = Estimator(rng=np.random.default_rng(1)).estimate(st, at(1))
    w = est.waits["C001"]
    assert (w.text_zh, w.available) == ("暂无窗口办理此业务", False)
    assert est.join["C"].text_zh == "暂无窗口办理此业务"
    assert est.join["A"].available


def test_a_branch_without_any_history_gets_empty_estimates_not_an_error():
    """A brand-new branch (no event stored yet, so no services known) is estimated as empty, not a crash."""
    est = Estimator(rng=np.random.default_rng(1)).estimate(BranchState(), at(0))
    assert (est.waits, est.join, est.counters) == ({}, {}, {})


def test_why_text_and_counter_texts_explain_the_situation():
    """The explainer counts people and windows and names a VIP at the window; busy counters get their texts."""
    st = state_with(
        event(at(0), "counter_opened", counter="1"),
        event(at(0), "counter_opened", counter="2"),
        event(at(1), "ticket_issued", ticket="V001", service="V"),
        event(at(1), "called", ticket="V001", counter="1"),
        event(at(1.2), "service_started", ticket="V001", counter="1"),
        event(at(2), "ticket_issued", ticket="A001", service="A"),
        event(at(2), "called", ticket="A001", counter="2"),
        event(at(2.2), "service_started", ticket="A001", counter="2"),
        event(at(3), "service_finished", ticket="A001", counter="2", wrapup=True),
        *[event(at(4), "ticket_issued", ticket=f"A00{i}", service="A") for i in (2, 3, 4, 5)],
    )
    est = Estimator(rng=np.random.default_rng(1)).estimate(st, at(5))
    w = est.waits["A005"]
    assert w.why_zh.startswith("前面还有3人,2个窗口办理") and "贵宾客户正在办理" in w.why_zh
    assert "3 people ahead for 2 windows" in w.why_en
    assert est.counters["1"].text_zh.startswith("该客户办理时长大约为")
    assert est.counters["2"].kind == "wrapup" and est.counters["2"].text_zh.startswith("上笔业务还未办结,仍需")
    assert 0 < w.low_s <= w.expected_s <= w.high_s


def test_paused_counter_return_is_corrected_for_overrun():
    """A teller who said 10:00 at a branch where pauses overrun by ~10 min is expected back later than 10:00."""
    evs = [event(at(0), "counter_opened", counter="1")]
    for start in (10, 30, 50, 70, 90):  # five earlier pauses, each 10 min late
        evs += [event(at(start), "counter_paused", counter="1", expected_return=(at(start + 5)).isoformat()),
                event(at(start + 15), "counter_resumed", counter="1")]
    st = state_with()
    est = Estimator(rng=np.random.default_rng(1))
    for ev in evs:
        st.apply(ev)
        est.observe(ev, st)
    pause = event(at(110), "counter_paused", counter="1", expected_return=at(115).isoformat())
    st.apply(pause)
    est.observe(pause, st)
    c = est.estimate(st, at(110)).counters["1"]
    assert c.kind == "pause" and c.expected_s == pytest.approx(15 * 60)
    assert c.text_zh == f"预计{at(125).strftime('%H:%M')}恢复"


def test_same_history_gives_the_same_estimates():
    """Estimates depend only on the seed, the events and the time asked: asking twice changes nothing."""
    st = state_with(event(at(0), "counter_opened", counter="1"),
                    *[event(at(1), "ticket_issued", ticket=f"A00{i}", service="A") for i in range(1, 6)])
    a = Estimator(rng=np.random.default_rng(3)).estimate(st, at(2))
    b_est = Estimator(rng=np.random.default_rng(3))
    b_est.estimate(st, at(1.5))
    b = b_est.estimate(st, at(2))
    assert [(w.low_s, w.expected_s, w.high_s) for w in a.waits.values()] == \
        [(w.low_s, w.expected_s, w.high_s) for w in b.waits.values()]


def test_counter_closed_for_lunch_is_expected_back_as_on_earlier_days():
    """A window that closed at 12:00 and reopened at 13:00 on earlier days is expected back at 13:00, not never."""
    from server.core.estimator.schedule import CounterSchedule

    sched, st = CounterSchedule(), state_with()
    for day in range(3):
        base = T0 + timedelta(days=day)
        for minutes, kind in ((0, "counter_opened"), (180, "counter_closed"), (240, "counter_opened"),
                              (480, "counter_closed")):
            ev = event(base + timedelta(minutes=minutes), kind, counter="3")
            st.apply(ev)
            sched.observe(ev, st)
    assert sched.reopens("3", 12 * 3600 + 60, T0.date()) is None  # the first day has no earlier days to go by
    later = st.day + timedelta(days=1)
    assert sched.reopens("3", 12 * 3600 + 60, later) == 13 * 3600
    assert sched.next_close("3", 10 * 3600, later) == 12 * 3600
    assert sched.reopens("3", 17 * 3600, later) is None  # the end of the day is not a break


def _observed(est: Estimator, *events) -> BranchState:  # type: ignore[no-untyped-def]
    """The state after `events`, each also observed by `est` (as the server and evaluate feed it)."""
    st = BranchState()
    for ev in (event(T0 - timedelta(hours=1), "branch_config", **CONFIG), *events):
        st.apply(ev)
        est.observe(ev, st)
    return st


def test_without_staffing_in_the_log_yesterdays_counter_is_expected_back_in_the_morning():
    """In a log with no counter events (a ticket machine's or a switch's export), the counter that served
    yesterday is expected to call again this morning, not counted as gone for good ('no counter' for every
    first customer of the day)."""
    est = Estimator(rng=np.random.default_rng(1))
    day2 = T0 + timedelta(days=1)
    st = _observed(est, event(at(0), "ticket_issued", ticket="A001", service="A"),
                   event(at(1), "called", ticket="A001", counter="1"),
                   event(at(1.5), "service_started", ticket="A001", counter="1"),
                   event(at(8), "service_finished", ticket="A001", counter="1"),
                   event(day2, "ticket_issued", ticket="A001", service="A"))
    w = est.estimate(st, day2).waits["A001"]
    assert w.available and w.high_s is not None, w


def test_a_counter_free_since_just_before_the_day_turned_is_still_staffed():
    """Where work goes on across the turn of the business day (midnight here), a counter opened at 23:30
    and free since 23:58 still calls the customer who comes at 00:01; an hour idle since yesterday, it would not."""
    est = Estimator(rng=np.random.default_rng(1))
    night = datetime(2026, 12, 1, 23, 30, tzinfo=TZ)
    st = _observed(est, event(night, "counter_opened", counter="1"),
                   event(night + timedelta(minutes=1), "ticket_issued", ticket="A001", service="A"),
                   event(night + timedelta(minutes=1), "called", ticket="A001", counter="1"),
                   event(night + timedelta(minutes=2), "service_started", ticket="A001", counter="1"),
                   event(night + timedelta(minutes=28), "service_finished", ticket="A001", counter="1"))
    after_midnight = night + timedelta(minutes=31)
    ticket = event(after_midnight, "ticket_issued", ticket="A001", service="A")
    st.apply(ticket)
    est.observe(ticket, st)
    w = est.estimate(st, after_midnight).waits["A001"]
    assert w.available and w.expected_s is not None and w.expected_s < 60, w


def _leaving_after_20_minutes() -> tuple[BranchState, Estimator, datetime]:
    """A history where customers called at once always come and half of those called after 25 minutes had gone."""
    st, est, t = state_with(event(at(0), "counter_opened", counter="1")), Estimator(rng=np.random.default_rng(5)), at(0)
    for i in range(160):
        num, wait = f"A{i:03d}", (0.0 if i % 2 else 1500.0)
        gone = i % 4 == 0
        evs = [event(t, "ticket_issued", ticket=num, service="A"),
               event(t + timedelta(seconds=wait), "called", ticket=num, counter="1")]
        evs += ([event(t + timedelta(seconds=wait + 60), "no_show", ticket=num, counter="1")] if gone else
                [event(t + timedelta(seconds=wait + 10), "service_started", ticket=num, counter="1"),
                 event(t + timedelta(seconds=wait + 250), "service_finished", ticket=num, counter="1")])
        for ev in evs:
            st.apply(ev)
            est.observe(ev, st)
        t += timedelta(seconds=wait + 300)
    return st, est, t


def _last_of_a_line(waited_min: float) -> float:
    """The expected wait of the 13th of a line issued `waited_min` minutes ago, one counter, after that history."""
    st, est, t = _leaving_after_20_minutes()
    now = t + timedelta(minutes=30)
    issued = now - timedelta(minutes=waited_min)
    evs = [event(issued - timedelta(seconds=1), "ticket_issued", ticket="Z001", service="A"),
           *[event(issued, "ticket_issued", ticket=f"Z{i:03d}", service="A") for i in range(2, 14)],
           event(now - timedelta(minutes=1), "called", ticket="Z001", counter="1"),
           event(now - timedelta(seconds=50), "service_started", ticket="Z001", counter="1")]
    for ev in evs:
        st.apply(ev)
        est.observe(ev, st)
    return est.estimate(st, now).waits["Z013"].expected_s


def test_a_line_of_people_who_waited_long_is_expected_to_thin_out():
    """Patience depends on the time already waited: where people give up after 20 minutes, a line that has
    waited 25 minutes moves faster than the same line just issued (a constant rate gave both the same)."""
    _, est, _ = _leaving_after_20_minutes()
    gone = est.model.patience_learned(["A"])[1]["A"]
    assert gone[band(1500)] > 0.4 and gone[band(60)] < 0.02  # nobody left early, half late
    fresh, waited = _last_of_a_line(0), _last_of_a_line(25)
    assert waited < 0.8 * fresh


def _lunch_days(days: int, lunch_on: set[int]) -> tuple[BranchState, CounterSchedule]:
    """Counter 1 open 09:00-17:00 for `days` days, a 5-minute phone call at 10:00, lunch 11:30-12:12 on `lunch_on` days."""
    sched, st = CounterSchedule(), state_with()
    for day in range(days):
        base = T0 + timedelta(days=day)
        steps = [(0, "counter_opened"), (60, "counter_paused"), (65, "counter_resumed")]
        if day in lunch_on:
            steps += [(150, "counter_paused"), (192, "counter_resumed")]
        for minutes, kind in [*steps, (480, "counter_closed")]:
            ev = event(base + timedelta(minutes=minutes), kind, counter="1")
            st.apply(ev)
            sched.observe(ev, st)
    return st, sched


def test_a_teller_who_lunches_at_the_same_time_each_day_is_expected_to_pause_then():
    """A long pause on most earlier days at about the same time is a habit; a short phone call is not."""
    st, sched = _lunch_days(3, {0, 1, 2})
    today = st.day + timedelta(days=1)
    assert sched.next_break("1", 9.5 * 3600, today) == (11.5 * 3600, 11.5 * 3600 + 42 * 60)  # not the 10:00 call
    assert sched.next_break("1", 11.6 * 3600, today) is None  # past it: today it was taken or skipped
    assert sched.next_break("1", 9 * 3600, T0.date()) is None  # the first day has nothing to go by
    _, once = _lunch_days(1, {0})
    assert once.next_break("1", 9 * 3600, T0.date() + timedelta(days=1)) is not None  # one day is a habit
    _, rarely = _lunch_days(3, {1})
    assert rarely.next_break("1", 9 * 3600, T0.date() + timedelta(days=3)) is None  # one lunch in three days is not


def test_a_lunch_already_taken_today_is_not_expected_again():
    """Today's long pause near the habit's time (taken early, or going on now) means no second one."""
    st, sched = _lunch_days(3, {0, 1, 2})
    base = T0 + timedelta(days=3)
    for minutes, kind in ((0, "counter_opened"), (135, "counter_paused")):  # lunch from 11:15, not yet back
        ev = event(base + timedelta(minutes=minutes), kind, counter="1")
        st.apply(ev)
        sched.observe(ev, st)
    assert sched.next_break("1", 11.3 * 3600, st.day) is None
    ev = event(base + timedelta(minutes=175), "counter_resumed", counter="1")
    st.apply(ev)
    sched.observe(ev, st)
    assert sched.next_break("1", 11.3 * 3600, st.day) is None


def test_a_line_that_outlasts_the_start_of_lunch_waits_longer():
    """With one of two windows going to lunch at 11:30 every day, the tenth in line at 11:20 waits longer than
    it would if that window stayed open (the same history with the habit forgotten)."""
    est = Estimator(rng=np.random.default_rng(2))
    evs = []
    for day in range(3):
        base = T0 + timedelta(days=day)
        evs += [event(base, "counter_opened", counter="1"), event(base, "counter_opened", counter="2"),
                event(base + timedelta(minutes=150), "counter_paused", counter="2",
                      expected_return=(base + timedelta(minutes=190)).isoformat()),
                event(base + timedelta(minutes=190), "counter_resumed", counter="2"),
                event(base + timedelta(minutes=480), "counter_closed", counter="1"),
                event(base + timedelta(minutes=480), "counter_closed", counter="2")]
    base = T0 + timedelta(days=3)
    now = base + timedelta(minutes=140)
    evs += [event(base, "counter_opened", counter="1"), event(base, "counter_opened", counter="2"),
            *[event(now - timedelta(seconds=10 - i), "ticket_issued", ticket=f"A{i:03d}", service="A")
              for i in range(1, 11)]]
    st = _observed(est, *evs)
    assert est.schedule.next_break("2", 11 * 3600, st.day) is not None
    with_lunch = est.estimate(st, now).waits["A010"].expected_s
    forgetful = Estimator(rng=np.random.default_rng(2))
    st = _observed(forgetful, *evs)
    forgetful.schedule.breaks.clear()
    without = forgetful.estimate(st, now).waits["A010"].expected_s
    assert with_lunch > 1.3 * without
