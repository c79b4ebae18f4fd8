"""The simulator's model: valid logs, final tickets, determinism, common random numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from server.core.events import read_events
from server.core.state import BranchState
from sim.eventlog import day_date, day_events
from sim.model import SERVED, draw_customers, simulate_day
from sim.runner import day_seed, run_days
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "sim" / "scenarios"


def fold(text: str) -> BranchState:
    return BranchState().apply_all(read_events(text.splitlines()))


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.toml")))
def test_every_scenario_writes_a_log_the_fold_accepts(name: str) -> None:
    """Each shipped scenario's days fold without error, every ticket ends final, nobody is sent home."""
    scn = load_scenario(SCENARIOS / f"{name}.toml")
    out = run_days(scn, 2, seed=7, jobs=1, log=True)
    state = fold("".join(o.jsonl or "" for o in out))
    assert state.tickets and all(t.final for t in state.tickets.values())
    assert 100 <= out[0].kpis.scalars["customers"] <= 700
    assert "end_of_day" not in "".join(o.jsonl or "" for o in out)  # closing counters serve everyone left


def test_same_seed_same_log() -> None:
    """A run is a function of its seed."""
    scn = load_scenario(SCENARIOS / "demo.toml")
    a = run_days(scn, 1, seed=3, jobs=1, log=True)[0].jsonl
    b = run_days(scn, 1, seed=3, jobs=1, log=True)[0].jsonl
    c = run_days(scn, 1, seed=4, jobs=1, log=True)[0].jsonl
    assert a == b and a != c


def test_jobs_do_not_change_results() -> None:
    """Day d always uses the same stream, whichever process runs it."""
    scn = load_scenario(SCENARIOS / "quiet.toml")
    one = run_days(scn, 4, seed=5, jobs=1)
    two = run_days(scn, 4, seed=5, jobs=2)
    assert [o.kpis.scalars for o in one] == [o.kpis.scalars for o in two]


def test_schedules_see_the_same_customers() -> None:
    """Common random numbers: changing the counters leaves the customers' draws alone."""
    scn = load_scenario(SCENARIOS / "demo.toml")
    fewer = scn.with_counters({k: v for k, v in scn.counters.items() if k != "2"})
    a = draw_customers(scn, np.random.default_rng(day_seed(1, 0)))
    b = draw_customers(fewer, np.random.default_rng(day_seed(1, 0)))
    assert np.array_equal(a.t, b.t) and np.array_equal(a.work, b.work)


def test_transfer_keeps_place_and_logs_finish_then_transfer() -> None:
    """A transfer is written as service_finished then transferred, at the same instant."""
    scn = load_scenario(SCENARIOS / "vip.toml")
    res = simulate_day(scn, day_seed(2, 0))
    evs = list(day_events(scn, res, day_date(scn, 0)))
    idx = [i for i, e in enumerate(evs) if e.type == "transferred"]
    assert idx
    for i in idx:
        prev = evs[i - 1]
        assert prev.type == "service_finished" and prev.ticket == evs[i].ticket and prev.ts == evs[i].ts


def test_mmc_has_no_losses() -> None:
    """The plain M/M/c scenario serves everyone: no abandonment, no no-show, no pause."""
    scn = load_scenario(SCENARIOS / "mmc.toml")
    res = simulate_day(scn, day_seed(1, 0), log=True)
    assert (res.outcome == SERVED).all() and not res.counter_pause
    types = {r[1] for r in res.log}
    assert not types & {"recalled", "no_show", "abandoned", "counter_paused", "wrapup_finished"}


def test_distributions_have_the_mean_and_spread_they_say() -> None:
    """Lognormal, gamma and empirical service times draw with the configured mean and cv."""
    from sim.scenario import Dist

    rng = np.random.default_rng(1)
    for d in (Dist("lognormal", 6.0, 0.9), Dist("gamma", 6.0, 0.5), Dist("exponential", 6.0, 1.0)):
        x = d.sample(rng, 200_000)
        assert x.mean() == pytest.approx(6.0, rel=0.02) and x.std() / x.mean() == pytest.approx(d.cv, rel=0.05)
    emp = Dist("empirical", 2.0, values=(1.0, 2.0, 3.0)).sample(rng, 30_000)
    assert set(np.unique(emp)) == {1.0, 2.0, 3.0} and emp.mean() == pytest.approx(2.0, rel=0.02)


def test_surge_and_day_to_day_noise() -> None:
    """The pension-day surge multiplies cash arrivals in its window; daily totals vary more than Poisson."""
    scn = load_scenario(SCENARIOS / "surge.toml")
    base = np.array(scn.rates["A"]) / 60 * scn.interval
    days = [draw_customers(scn, np.random.default_rng(day_seed(4, d))) for d in range(60)]
    in_window = np.mean([np.sum((c.cls == 0) & (c.t >= 600) & (c.t < 690)) for c in days])
    assert in_window == pytest.approx(2.5 * base[2:5].sum(), rel=0.1)
    totals = np.array([len(c.t) for c in days])
    assert totals.std() > 1.5 * np.sqrt(totals.mean())  # volume_cv = 0.1 on ≈350 a day: sd ≈ 40, Poisson ≈ 19
