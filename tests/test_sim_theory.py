"""The simulator against queueing theory: Erlang C and Erlang A, known values and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.model import ABANDONED, SERVED, simulate_day
from sim.scenario import Scenario, scenario_from_mapping
from sim.theory import erlang_a, erlang_b, erlang_c, mmc_agents, mmc_mean_wait, mmc_wait_exceeds


def test_erlang_known_values() -> None:
    """Erlang B/C match textbook values (M/M/2 at a=1: C=1/3; M/M/10 at a=8: C=0.4092; M/M/1: C=ρ)."""
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-5)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    # the figure in ../shared/notes/measured.md: M/M/8, ρ = 0.85, 5-minute service
    assert mmc_mean_wait(8, 6.8 / 5, 1 / 5) == pytest.approx(2.386, abs=1e-3)
    assert erlang_c(3, 3.0) == 1.0 and mmc_mean_wait(2, 1.0, 0.5) == math.inf


def test_erlang_c_staffing() -> None:
    """The staffing rule returns the fewest servers that meet the target: one fewer misses it."""
    lam, mu = 10.0, 1 / 3
    c = mmc_agents(lam, mu, 20 / 60, 0.8)
    assert 1 - mmc_wait_exceeds(c, lam, mu, 20 / 60) >= 0.8 > 1 - mmc_wait_exceeds(c - 1, lam, mu, 20 / 60)
    assert c > lam / mu


def test_erlang_a_limits() -> None:
    """Erlang A tends to Erlang C as θ → 0, and with θ = μ the number in system is Poisson(λ/μ)."""
    small = erlang_a(4, 0.6, 0.2, 1e-8)
    assert small["p_wait"] == pytest.approx(erlang_c(4, 3.0), rel=1e-5)
    assert small["mean_wait"] == pytest.approx(mmc_mean_wait(4, 0.6, 0.2), rel=1e-5)
    same = erlang_a(4, 0.6, 0.2, 0.2)
    assert same["p_wait"] == pytest.approx(stats.poisson.sf(3, 3.0), rel=1e-9)
    # overloaded is fine with abandonment: ρ = 1.5 still has a steady state
    over = erlang_a(4, 1.2, 0.2, 0.1)
    assert 0.3 < over["p_abandon"] < 0.5


def _long_day(c: int, lam: float, mean: float, hours: int, patience: float | None = None) -> Scenario:
    cust: dict = {"walk_seconds": 0, "announced_abandon": 1.0}
    if patience:
        cust["patience"] = {"dist": "exponential", "mean_minutes": patience}
    return scenario_from_mapping({
        "branch": "mmc", "day": {"doors_open": "00:00", "doors_close": f"{hours}:00"},
        "arrivals": {"interval_minutes": 60, "A": [lam * 60] * hours}, "customers": cust,
        "services": [{"id": "A", "prefix": "A", "service": {"dist": "exponential", "mean_minutes": mean}}],
        "counters": [{"id": str(k), "services": ["A"]} for k in range(c)],
    })


def _replications(scn: Scenario, reps: int, seed: int, measure) -> np.ndarray:  # type: ignore[no-untyped-def]
    """One value per independent long run; the first 10 % (starts empty) and last 5 % (doors close) cut."""
    out = []
    for r in range(reps):
        res = simulate_day(scn, np.random.SeedSequence(seed, spawn_key=(r,)), log=False)
        t = res.cust.t
        keep = (t > 0.10 * scn.doors_close) & (t < 0.95 * scn.doors_close)
        out.append(measure(res, keep))
    return np.asarray(out)


def _ci(x: np.ndarray) -> tuple[float, float]:
    h = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(h)


def test_mmc_matches_erlang_c() -> None:
    """M/M/4 at ρ = 0.75: 16 runs of ~27,000 customers; exact mean wait and P(wait > 0) lie in the 95 % CIs, which are tight (< 6 %)."""
    c, lam, mu = 4, 0.6, 0.2
    scn = _long_day(c, lam, 1 / mu, 750)
    vals = _replications(scn, 16, seed=1, measure=lambda res, keep: (
        np.mean((res.call - res.cust.t)[keep]), np.mean((res.call - res.cust.t)[keep] > 0)))
    (w, hw), (p, hp) = _ci(vals[:, 0]), _ci(vals[:, 1])
    exact_w, exact_p = mmc_mean_wait(c, lam, mu), erlang_c(c, lam / mu)
    assert abs(w - exact_w) <= hw and hw < 0.06 * exact_w, (w, hw, exact_w)
    assert abs(p - exact_p) <= hp and hp < 0.06 * exact_p, (p, hp, exact_p)


def test_mm_c_plus_m_matches_erlang_a() -> None:
    """M/M/4+M at offered ρ = 0.875, mean patience 10 min: mean time in queue and abandonment share match Erlang A within the 95 % CIs."""
    c, lam, mu, theta = 4, 0.7, 0.2, 0.1
    scn = _long_day(c, lam, 1 / mu, 600, patience=1 / theta)

    def measure(res, keep):  # type: ignore[no-untyped-def]
        t = res.cust.t
        gave_up = res.outcome == ABANDONED
        queue_time = np.where(gave_up, res.cust.leave - t, res.call - t)
        assert ((res.outcome == SERVED) | gave_up).all()
        return np.mean(queue_time[keep]), np.mean(gave_up[keep])

    vals = _replications(scn, 12, seed=2, measure=measure)
    (w, hw), (a, ha) = _ci(vals[:, 0]), _ci(vals[:, 1])
    exact = erlang_a(c, lam, mu, theta)
    assert abs(w - exact["mean_wait"]) <= hw and hw < 0.06 * exact["mean_wait"], (w, hw, exact)
    assert abs(a - exact["p_abandon"]) <= ha and ha < 0.06 * exact["p_abandon"], (a, ha, exact)
