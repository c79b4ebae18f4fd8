"""The predictors the estimator is measured against, each with the same online calibration.

From the literature on delay announcements (Ibrahim & Whitt and others):
- NAIVE: (people ahead + 1) x the class's mean service / counters serving the class;
- QL:  (n + 1) / (s mu), n = everyone waiting ahead in issue order, s = open counters, mu = branch service rate;
- QLm: sum_{i=0..n} 1 / (s mu + i theta), QL with abandonment rate theta;
- LES: the wait of the last customer of the class to be called;
- HOL: how long the customer at the head of the class's line has waited so far;
- RA20: the mean of the class's last 20 waits.
They predict the time still to wait; intervals come from `Calibrator` with the
same targets as the estimator's, so coverage and width are comparable. The
service-duration baselines are the class's mean so far and its last completed.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime

from ..events import Event
from ..state import BranchState, CounterStatus, Ticket, TicketStatus
from .calibration import SERVICE_TARGETS, Calibrator, ahead_bucket

WAIT_BASELINES = ("naive", "QL", "QLm", "LES", "HOL", "RA20")
SERVICE_BASELINES = ("class_mean", "last_completed")
DEFAULT_SERVICE_S = 300.0
STAFFED = (CounterStatus.FREE, CounterStatus.CALLING, CounterStatus.SERVING, CounterStatus.WRAPUP)


@dataclass
class Baselines:
    """Learns the few figures the baselines need, predicts, and calibrates their intervals."""

    sums: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0]))
    last_service: dict[str, float] = field(default_factory=dict)
    last_wait: dict[str, float] = field(default_factory=dict)
    recent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=20)))
    abandons: int = 0
    exposure: float = 0.0
    cal: dict[str, Calibrator] = field(default_factory=lambda: {  # the same steering as ours
        **{n: Calibrator(shift_point=False) for n in WAIT_BASELINES},
        **{n: Calibrator(SERVICE_TARGETS, 400, shift_point=False, late_cap=None, group=str) for n in SERVICE_BASELINES}})
    _pending: dict[tuple[str, datetime], tuple[str, dict[str, float]]] = field(default_factory=dict)
    _pending_service: dict[tuple[str, datetime], dict[str, float]] = field(default_factory=dict)

    # ---------------------------------------------------------------- learning
    def observe(self, ev: Event, state: BranchState) -> None:
        t = state.tickets.get(ev.data["ticket"]) if "ticket" in ev.data else None
        if t is None:
            return
        if ev.type == "called" and (t.calls == 1 or t.transfers):
            waited = max(t.waited(ev.ts), 0.0)
            self.last_wait[t.service] = waited
            self.recent[t.service].append(waited)
            self.exposure += waited
            self._score(t, ev.ts)
        elif ev.type == "abandoned":
            if ev.measured:  # sent home at closing, or closed out by a replay: nobody chose to leave
                self.abandons += 1
                self.exposure += max(t.waited(ev.ts), 0.0)
            self._pending.pop((t.number, t.queued_at or t.issued_at), None)
        elif ev.type == "service_finished" and t.started_at is not None and ev.measured:
            d = (ev.ts - t.started_at).total_seconds()
            s = self.sums[t.service]
            s[0] += d
            s[1] += 1
            self.last_service[t.service] = d
            preds = self._pending_service.pop((t.number, t.started_at), None)
            for name, point in (preds or {}).items():
                self.cal[name].learn(t.service, (point, point, point), point + 30.0, d)

    def _score(self, t: Ticket, called: datetime) -> None:
        pending = self._pending.pop((t.number, t.queued_at or t.issued_at), None)
        if pending is None:
            return
        bucket, points = pending
        actual = t.waited(called)
        for name, point in points.items():
            self.cal[name].learn(bucket, (point, point, point), point + 60.0, actual)

    # ---------------------------------------------------------------- predicting
    def mean_service(self, service: str | None = None) -> float:
        if service is not None:
            total, n = self.sums.get(service, (0.0, 0))
            if n:
                return total / n
        total = sum(s[0] for s in self.sums.values())
        n = sum(s[1] for s in self.sums.values())
        return total / n if n else DEFAULT_SERVICE_S

    def waits(self, t: Ticket, state: BranchState, now: datetime) -> dict[str, tuple[float, float, float]]:
        """Each baseline's (low, point, high) remaining wait for a waiting ticket."""
        queue = state.waiting(t.service)
        ahead = next((i for i, w in enumerate(queue) if w.number == t.number), len(queue))
        staffed = [c for c in state.counters.values() if c.status in STAFFED]
        mine = [c for c in staffed if not c.services or t.service in c.services]
        free = sum(1 for c in mine if c.status is CounterStatus.FREE)
        everyone = sum(1 for s in state.queues for w in state.waiting(s) if w.order < t.order)
        s_class, s_all = max(len(mine), 1), max(len(staffed), 1)
        mu = 1.0 / self.mean_service()
        theta = self.abandons / (self.exposure + 3600.0)
        elapsed = t.waited(now)
        head = queue[0] if queue else None
        immediate = free > ahead  # a free counter will call this ticket straight away
        points = {
            "naive": 0.0 if immediate else (ahead + 1) * self.mean_service(t.service) / s_class,
            "QL": 0.0 if immediate else (everyone + 1) / (s_all * mu),
            "QLm": 0.0 if immediate else sum(1.0 / (s_all * mu + i * theta) for i in range(everyone + 1)),
            "LES": max(self.last_wait.get(t.service, 0.0) - elapsed, 0.0),
            "HOL": max(head.waited(now), 0.0)
            if head is not None and ahead > 0 else 0.0,
            "RA20": max(_mean(self.recent.get(t.service)) - elapsed, 0.0),
        }
        bucket = ahead_bucket(ahead)
        key = (t.number, t.queued_at or t.issued_at)
        if key not in self._pending and t.status is TicketStatus.WAITING:
            self._pending[key] = (bucket, points)  # scored when it is called: the calibration's data
        return {n: self.cal[n].apply(bucket, (p, p, p), p + 60.0) for n, p in points.items()}

    def services(self, t: Ticket, at: datetime) -> dict[str, tuple[float, float, float]]:
        """Service-duration baselines for a transaction starting `at`."""
        points = {
            "class_mean": self.mean_service(t.service),
            "last_completed": self.last_service.get(t.service, self.mean_service(t.service)),
        }
        self._pending_service[(t.number, at)] = points
        return {n: self.cal[n].apply(t.service, (p, p, p), p + 30.0) for n, p in points.items()}


def _mean(values: deque[float] | None) -> float:
    return sum(values) / len(values) if values else 0.0


__all__ = ["SERVICE_BASELINES", "SERVICE_TARGETS", "WAIT_BASELINES", "Baselines"]
