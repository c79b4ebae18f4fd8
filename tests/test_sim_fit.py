"""`sim fit`: a scenario fitted to a log recovers the scenario that wrote it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from server.core.events import read_events
from sim.fit import fit_events, fit_log
from sim.runner import run_days
from sim.scenario import load_scenario, scenario_from_mapping

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "sim" / "scenarios"
DEMO_DAY = ROOT.parent / "shared" / "examples" / "demo-day.jsonl"


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    scn = load_scenario(SCENARIOS / "demo.toml")
    days = 30
    out = run_days(scn, days, seed=11, jobs=1, log=True)
    text = fit_events(read_events("".join(o.jsonl or "" for o in out).splitlines()), interval=30)
    import tomllib

    return scn, scenario_from_mapping(tomllib.loads(text)), days


def test_fit_recovers_arrival_rates(fitted) -> None:  # type: ignore[no-untyped-def]
    """Daily arrivals per class and the morning/afternoon profile are within 3 standard errors (Poisson × day-noise)."""
    scn, fit, days = fitted
    surge_extra = 0.2 * 0.6 * 12  # demo's occasional A surge: 20 % of days, +60 %, one hour at 24/h
    for sid in scn.rates:
        truth = sum(scn.rates[sid]) * scn.interval / 60 + (surge_extra if sid == "A" else 0)
        got = sum(fit.rates[sid]) * fit.interval / 60
        se = math.sqrt(truth / days + (scn.volume_cv * truth) ** 2 / days)
        assert abs(got - truth) < 3 * se, (sid, got, truth, se)
    a_true, a_fit = np.array(scn.rates["A"]), np.array(fit.rates["A"])
    assert np.corrcoef(a_true, a_fit)[0, 1] > 0.9  # the two humps and the lunch dip are there


def test_fit_recovers_service_means_and_speeds(fitted) -> None:  # type: ignore[no-untyped-def]
    """Class service means within sampling error (≈ 3 se of a lognormal mean), counter speeds within 10 %."""
    scn, fit, days = fitted
    for sid, spec in scn.classes.items():
        n = days * sum(scn.rates[sid]) * scn.interval / 60
        se = spec.time.mean * spec.time.cv / math.sqrt(n)
        assert abs(fit.classes[sid].time.mean - spec.time.mean) < 3 * se + 0.03 * spec.time.mean, sid
        assert fit.classes[sid].time.cv == pytest.approx(spec.time.cv, abs=0.15)
    for cid, plan in scn.counters.items():
        assert fit.counters[cid].speed == pytest.approx(plan.speed, rel=0.1), cid


def test_fit_recovers_wrapup_and_transfers(fitted) -> None:  # type: ignore[no-untyped-def]
    """Wrap-up shares and the A→B transfer share come back close to the truth."""
    scn, fit, _ = fitted
    for sid, spec in scn.classes.items():
        assert fit.classes[sid].wrapup_share == pytest.approx(spec.wrapup_share, abs=0.04), sid
    assert dict(fit.classes["A"].transfer)["B"] == pytest.approx(0.02, abs=0.01)


def test_fit_runs_on_the_shared_demo_day(tmp_path: Path) -> None:
    """The shared example day fits into a scenario that loads and simulates."""
    if not DEMO_DAY.exists():
        pytest.skip("../shared/examples/demo-day.jsonl is not beside the checkout")
    text = fit_log(DEMO_DAY, interval=30)
    path = tmp_path / "fitted.toml"
    path.write_text(text, encoding="utf-8")
    scn = load_scenario(path)
    assert set(scn.rates) == {"cash", "personal", "vip"}
    assert sum(sum(r) for r in scn.rates.values()) * scn.interval / 60 == pytest.approx(238)
    out = run_days(scn, 2, seed=1, jobs=1)
    assert 150 < out[0].kpis.scalars["customers"] < 350


def test_fit_separates_silent_leavers_from_no_shows(fitted) -> None:  # type: ignore[no-untyped-def]
    """No-shows that grow with the wait are read as silent leavers: the no-show share and the announced share come back near the truth (2 %, 25 %)."""
    _, fit, _ = fitted
    assert 0.01 < fit.classes["A"].no_show < 0.03 and 0.01 < fit.classes["B"].no_show < 0.03
    assert 0.12 < fit.announced_abandon < 0.4


def test_fit_then_run_reproduces_volume_waits_and_service_times(fitted) -> None:  # type: ignore[no-untyped-def]
    """Running the fitted scenario gives the original's daily volume, mean wait and abandonment; fitting that run gives the same service means."""
    scn, fit, days = fitted
    out = run_days(fit, days, seed=12, jobs=1, log=True)
    orig = run_days(scn, days, seed=12, jobs=1)
    for key, tol in (("wait_mean", 0.3), ("abandon", 0.5)):
        a = np.mean([o.kpis.scalars[key] for o in orig])
        b = np.mean([o.kpis.scalars[key] for o in out])
        assert b == pytest.approx(a, rel=tol), key
    per_day = np.mean([o.kpis.scalars["customers"] for o in out])
    truth = sum(sum(r) for r in scn.rates.values()) * scn.interval / 60 + 0.2 * 0.6 * 12
    assert per_day == pytest.approx(truth, rel=3 * (scn.volume_cv + 1 / math.sqrt(truth)) / math.sqrt(days) + 0.02)
    import tomllib

    again = scenario_from_mapping(tomllib.loads(
        fit_events(read_events("".join(o.jsonl or "" for o in out).splitlines()), interval=30)))
    for sid, spec in scn.classes.items():
        assert again.classes[sid].time.mean == pytest.approx(spec.time.mean, rel=0.12), sid


def test_fit_recovers_split_shifts_and_lunches(fitted) -> None:  # type: ignore[no-untyped-def]
    """The corporate window's lunch closure comes back as two shifts; lunch pauses at their planned times."""
    scn, fit, _ = fitted
    assert fit.counters["5"].shifts == scn.counters["5"].shifts
    lunch = next(p for p in fit.counters["2"].pauses if p.reason == "lunch")
    assert abs(lunch.start - 730) <= 5 and abs(lunch.minutes - 40) <= 2  # 12:10 for 40 min, taken after a customer
