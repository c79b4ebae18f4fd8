"""Estimators for the estimator-process tests; module-level so the child process can import them."""

from __future__ import annotations

import time

from server.core.estimates import Estimates, WaitEstimate


class Slow:
    """Takes half a second per estimate and says how many events it has seen."""

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        self.seen = 0

    def observe(self, event, state) -> None:  # type: ignore[no-untyped-def]
        self.seen += 1

    def estimate(self, state, now) -> Estimates:  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        text = f"{self.seen} events"
        return Estimates(at=now, join={"A": WaitEstimate(60, 30, 90, text, text)})


class Scripted:
    """Returns, estimate after estimate, the Estimates it was given (to test what travels between processes)."""

    def __init__(self, script) -> None:  # type: ignore[no-untyped-def]
        self.script = list(script)

    def observe(self, event, state) -> None:  # type: ignore[no-untyped-def]
        pass

    def estimate(self, state, now) -> Estimates:  # type: ignore[no-untyped-def]
        return self.script.pop(0)
