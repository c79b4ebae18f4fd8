"""Queueing formulas, written here rather than imported so they can be checked.

Erlang C (M/M/c) and Erlang A (M/M/c+M: exponential patience), for validating the
simulator and for the classic period-by-period (SIPP) staffing the optimizer is
compared with. Rates are per minute; times in minutes.
"""

from __future__ import annotations

import math

import numpy as np


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c with offered load a = λ/μ (stable recursion)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """P(wait > 0) in M/M/c with offered load a = λ/μ; 1 when the queue is unstable."""
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return b / (1.0 - (a / c) * (1.0 - b))


def mmc_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean time in queue of M/M/c (all customers)."""
    if lam >= c * mu:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_wait_exceeds(c: int, lam: float, mu: float, t: float) -> float:
    """P(wait > t) in M/M/c: C · exp(−(cμ − λ) t)."""
    if lam >= c * mu:
        return 1.0
    return erlang_c(c, lam / mu) * math.exp(-(c * mu - lam) * t)


def mmc_agents(lam: float, mu: float, t: float, target: float, max_c: int = 500) -> int:
    """Fewest servers with P(wait ≤ t) ≥ target (Erlang C staffing)."""
    if lam <= 0:
        return 0
    c = max(1, math.floor(lam / mu))
    while c < max_c and 1.0 - mmc_wait_exceeds(c, lam, mu, t) < target:
        c += 1
    return c


def erlang_a(c: int, lam: float, mu: float, theta: float, tol: float = 1e-12) -> dict[str, float]:
    """M/M/c+M (Palm/Erlang A) from its birth–death chain, truncated where the tail is < tol.

    Returns P(wait > 0), P(abandon), mean time in queue over all arrivals (abandoners
    included, up to when they leave) and mean number waiting. With θ → 0 it tends to
    Erlang C; with θ = μ the number in system is Poisson(λ/μ).
    """
    if theta <= 0:
        raise ValueError("Erlang A needs a positive abandonment rate θ; use Erlang C for θ = 0")
    # unnormalised π_k computed in logs, so large loads do not overflow
    logp = [0.0]
    k = 0
    while True:
        k += 1
        death = min(k, c) * mu + max(k - c, 0) * theta
        logp.append(logp[-1] + math.log(lam) - math.log(death))
        if k > c and logp[-1] - max(logp) < math.log(tol) and lam < death:
            break
    lp = np.asarray(logp)
    p = np.exp(lp - lp.max())
    p /= p.sum()
    ks = np.arange(len(p))
    queue = np.maximum(ks - c, 0)
    eq = float((queue * p).sum())
    return {
        "p_wait": float(p[c:].sum()),  # PASTA: an arrival sees the time-average state
        "p_abandon": theta * eq / lam,
        "mean_wait": eq / lam,  # Little's law on the queue
        "mean_queue": eq,
    }
