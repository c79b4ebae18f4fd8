"""The branch state at `now`, turned into the arrays the forward simulation runs on.

This is where the live situation enters: which counters serve what and in
which order, how long each busy counter's transaction or wrap-up has run, when
a paused teller said they would be back (and how late this branch's tellers
usually are), who is waiting, and who is likely to arrive and jump ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..state import BranchState, CounterState, CounterStatus
from .distributions import BranchModel, local_hour
from .forward import Lane, Plan, policy_score
from .schedule import CounterSchedule, tod

HORIZON_S = 6 * 3600.0
IDLE_AWAY_S = 180.0  # a free counter ignoring waiting customers this long is not really there
AWAY_GONE_S = 3600.0  # ... and one idle for an hour has gone for the day
ARRIVAL_CAP = 400


@dataclass
class Layout:
    """Which output column of the simulation belongs to which ticket or service."""

    services: list[str]
    tickets: list[list[str]]  # per service, waiting tickets in calling order
    columns: dict[str, int]  # ticket -> column
    join: dict[str, int]  # service -> column of its 'take a number now' ticket
    counters: list[str]
    serving: dict[str, list[str]]  # service -> counters that may serve it and are not closed
    available: dict[str, bool]  # service -> some counter will serve it within the horizon
    notes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # service -> why-notes, filled lazily


def services_of(state: BranchState) -> tuple[list[str], np.ndarray]:
    names = [s.id for s in state.config.services] if state.config is not None else []
    names += [s for s in state.queues if s not in names]
    prio = state.config.priority() if state.config is not None else {}
    return names, np.array([prio.get(s, 1) for s in names], dtype=float)


def counter_services(c: CounterState, all_services: list[str]) -> tuple[str, ...]:
    return c.services or tuple(all_services)  # a counter seen only by its calls may serve anything


def build(state: BranchState, model: BranchModel, now: datetime, rng: np.random.Generator,
          reps: int, joins: bool = True, schedule: CounterSchedule | None = None) -> tuple[Plan, Layout]:
    services, priority = services_of(state)
    index = {s: i for i, s in enumerate(services)}
    counters = [c for c in state.counters.values()]
    prefs = [[index[s] for s in counter_services(c, services) if s in index] for c in counters]
    score = policy_score(prefs, priority, len(services))
    free_at = np.column_stack([_free_at(c, state, model, now, rng, reps) for c in counters]) \
        if counters else np.zeros((reps, 0))
    closes, reopens = _habits(counters, state, now, schedule, free_at)
    if not counters:
        score = np.zeros((0, len(services)))
    speed = np.array([model.speed(c.id) for c in counters])
    lanes, tickets = [], []
    horizon = _arrival_horizon(state, model, services, free_at)
    for s in services:
        waiting = [t.number for t in state.waiting(s)]
        tickets.append(waiting)
        lanes.append(_lane(s, len(waiting), state, model, now, rng, reps, horizon, joins))
    columns, join, col = {}, {}, 0
    for s, waiting in zip(services, tickets, strict=True):
        for n in waiting:
            columns[n] = col
            col += 1
        if joins:
            join[s] = col
            col += 1
    reach = np.isfinite(free_at).any(axis=0) if counters else np.zeros(0, bool)
    serving = {s: [c.id for k, c in enumerate(counters) if score[k, index[s]] > -np.inf
                   and c.status is not CounterStatus.CLOSED] for s in services}
    available = {s: bool((reach & (score[:, index[s]] > -np.inf)).any()) if counters else False
                 for s in services}
    plan = Plan(lanes, score, speed if counters else np.ones(0), free_at, HORIZON_S, closes, reopens)
    return plan, Layout(services, tickets, columns, join, [c.id for c in counters], serving, available)


def _habits(counters: list[CounterState], state: BranchState, now: datetime, schedule: CounterSchedule | None,
            free_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scheduled changes learned from earlier days: closed counters that will reopen, open ones that will close."""
    k = len(counters)
    closes, reopens = np.full(k, np.inf), np.full(k, np.inf)
    if schedule is None or state.day is None:
        return closes, reopens
    now_tod = tod(now, state)
    for i, c in enumerate(counters):
        if c.status is CounterStatus.CLOSED:
            if c.since is not None and state.business_day(c.since) == state.day:
                back = schedule.reopens(c.id, tod(c.since, state), state.day)
                if back is not None and back > now_tod:
                    free_at[:, i] = back - now_tod
            continue
        shut = schedule.next_close(c.id, now_tod, state.day)
        back = schedule.reopens(c.id, shut, state.day) if shut is not None else None
        # Only a break the counter comes back from: at the end of the day tellers finish the line first.
        if shut is not None and back is not None and back > shut:
            closes[i], reopens[i] = shut - now_tod, back - now_tod
    return closes, reopens


def _arrival_horizon(state: BranchState, model: BranchModel, services: list[str], free_at: np.ndarray) -> float:
    """How far ahead arrivals can matter: about until today's line is cleared, with room to spare.

    Arrivals after the last waiting ticket is called change nobody's wait; not
    drawing them keeps the simulation cheap when the branch is busy.
    """
    staffed = max(int(np.isfinite(free_at).any(axis=0).sum()), 1)
    work = sum(state.waiting_count(s) * model.service_dist(s).mean for s in services)
    return min(HORIZON_S, 2.0 * work / staffed + 1800.0)


def _lane(service: str, n: int, state: BranchState, model: BranchModel, now: datetime,
          rng: np.random.Generator, reps: int, horizon: float, joins: bool) -> Lane:
    """Existing tickets (plus the 'join now' one at the end) and the arrivals to come."""
    q = n + 1 if joins else n
    arrivals = _arrivals(model.arrival_rates(service), state, now, rng, reps, horizon)
    m = arrivals.shape[1]
    occupancy = _occupancy(service, (reps, q + m), model, rng)  # one draw for both: fewer numpy calls
    theta = model.abandon_rate(service)
    leave = rng.exponential(1 / theta, (reps, q + m)) if theta > 0 else np.full((reps, q + m), np.inf)
    if joins:
        occupancy[:, n] = 0.0  # the hypothetical new ticket must not delay anyone
        leave[:, n] = np.inf
    return Lane(occupancy[:, :q], leave[:, :q], arrivals, occupancy[:, q:], leave[:, q:])


def _occupancy(service: str, shape: tuple[int, int], model: BranchModel, rng: np.random.Generator) -> np.ndarray:
    """How long a ticket of `service` holds a counter: walk-up, service, perhaps wrap-up; or a no-show."""
    busy = model.service_dist(service).sample(rng, shape) + model.mean_call_delay()
    u = rng.random(shape)  # low u: a wrap-up follows; high u: a no-show (the two never meet)
    wrap = u < model.wrapup_p(service)
    k = int(wrap.sum())
    if k:
        busy[wrap] += model.wrapup_dist().sample(rng, k)
    busy[u > 1.0 - model.noshow_p(service)] = model.mean_noshow_delay()
    return busy


def _arrivals(rates: np.ndarray, state: BranchState, now: datetime, rng: np.random.Generator,
              reps: int, horizon: float) -> np.ndarray:
    """Arrival times (s from now) of a non-homogeneous Poisson stream, by inverting its cumulative rate."""
    if not rates.any():
        return np.full((reps, 0), np.inf)
    hour0, into = local_hour(now, state), (now.minute * 60 + now.second)
    hours = int(horizon // 3600) + 2
    r = rates[(hour0 + np.arange(hours)) % 24]
    edges = np.minimum(np.concatenate(([0.0], 3600.0 * np.arange(1, hours + 1) - into)), horizon)
    cum = np.concatenate(([0.0], np.cumsum(r * np.diff(edges))))
    m = min(int(cum[-1] + 4 * np.sqrt(cum[-1]) + 3), ARRIVAL_CAP)
    unit = np.cumsum(rng.exponential(1.0, (reps, m)), axis=1)
    times = np.interp(unit, cum, edges, right=np.inf)
    return times


def _free_at(c: CounterState, state: BranchState, model: BranchModel, now: datetime,
             rng: np.random.Generator, reps: int) -> np.ndarray:
    """Seconds from now until this counter next calls someone, one draw per replication."""
    since = (now - c.since).total_seconds() if c.since is not None else 0.0
    st = c.status
    if st is CounterStatus.CLOSED:
        return np.full(reps, np.inf)
    if st is CounterStatus.FREE:
        if not _away(c, state, now, since):
            return np.zeros(reps)
        if since > AWAY_GONE_S or (c.since is not None and state.day is not None
                                   and state.business_day(c.since) < state.day):
            return np.full(reps, np.inf)  # gone for the day (a log without close events says it no other way)
        return np.maximum(model.pause_remaining(since, rng, reps), 0.0)  # an unrecorded break
    if st is CounterStatus.WRAPUP:
        return model.wrapup_dist().remaining(since, rng, reps)
    if st is CounterStatus.PAUSED:
        if c.expected_return is not None:
            late = (now - c.expected_return).total_seconds()
            return np.maximum(model.pause_return(late, rng, reps) - late, 0.0)
        return np.maximum(model.pause_remaining(since, rng, reps), 0.0)
    t = state.tickets.get(c.ticket) if c.ticket else None
    service = t.service if t is not None else None
    dist = model.service_at(service, c.id) if service else model.branch_prior()
    if st is CounterStatus.SERVING:
        busy = dist.remaining(since, rng, reps)
    else:  # CALLING: the customer walks up, or never comes
        busy = max(model.mean_call_delay() - since, 0.0) + dist.sample(rng, reps)
        noshow = rng.random(reps) < (model.noshow_p(service) if service else 0.0)
        busy[noshow] = max(model.mean_noshow_delay() - since, 5.0)
    if service is not None:
        wrap = rng.random(reps) < model.wrapup_p(service)
        if wrap.any():
            busy[wrap] += model.wrapup_dist().sample(rng, int(wrap.sum()))
    return busy


def _away(c: CounterState, state: BranchState, now: datetime, idle: float) -> bool:
    """A 'free' counter from an earlier day, or one that has let its queue wait, is not staffed."""
    if c.since is not None and state.day is not None and state.business_day(c.since) < state.day:
        return True
    oldest = None
    for s in c.services or tuple(state.queues):
        head = state.head(s)
        if head is not None:
            q = head.queued_at or head.issued_at
            oldest = q if oldest is None or q < oldest else oldest
    if oldest is None:
        return False
    return (now - max(oldest, c.since or oldest)).total_seconds() > IDLE_AWAY_S
