"""The calling policy: which ticket a free counter calls next.

One pure function, used by the live branch, the estimator's forward simulation
and the simulator, so the three can never disagree about the rules.

Rule: among the services the counter serves that have someone waiting, the
highest priority first; among equal priorities, the counter's own order of
preference; within the service, first issued, first called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


def service_to_call(
    preference: Sequence[str],
    priority: Mapping[str, int],
    has_waiting: Callable[[str], bool],
) -> str | None:
    """The service whose head-of-queue ticket the counter calls, or None."""
    best: str | None = None
    best_priority = 0
    for service in preference:  # earlier in the list wins ties: preference order
        if not has_waiting(service):
            continue
        p = priority.get(service, 0)
        if best is None or p > best_priority:
            best, best_priority = service, p
    return best
