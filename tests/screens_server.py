"""`python -m tests.screens_server --port P`: the demo server with a canned estimator.

The browser tests use it to check that the screens show whatever texts the
estimator produces (a serving counter's duration, wrap-up, pause return, wait
ranges, the "why" and "turn soon"), independently of how good those are. The
texts follow the fixed rule below: five minutes per person ahead.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from server.core.config import BranchConfig
from server.core.estimates import CounterEstimate, Estimates, WaitEstimate
from server.core.events import Event
from server.core.state import BranchState, CounterStatus

PER_PERSON_S = 300.0


class CannedEstimator:
    """Five minutes a person: enough to put realistic texts on every screen."""

    def __init__(self, config: BranchConfig) -> None:
        self.config = config

    def observe(self, event: Event, state: BranchState) -> None:
        pass

    def estimate(self, state: BranchState, now: datetime) -> Estimates:
        open_for = {s.id: 0 for s in self.config.services}
        for c in state.counters.values():
            if c.is_open:
                for s in c.services:
                    open_for[s] = open_for.get(s, 0) + 1
        waits, join = {}, {}
        for s in self.config.services:
            queue = state.waiting(s.id)
            for ahead, t in enumerate(queue):
                waits[t.number] = self._wait(ahead, open_for[s.id])
            join[s.id] = self._wait(len(queue), open_for[s.id])
        counters = {}
        for c in state.counters.values():
            if c.status is CounterStatus.SERVING:
                counters[c.id] = CounterEstimate(600, 300, 900, "该客户办理时长大约为5–15分钟", "This customer: about 5–15 min")
            elif c.status is CounterStatus.WRAPUP:
                counters[c.id] = CounterEstimate(180, 120, 240, "上笔业务还未办结,仍需3分钟", "Finishing the last customer: 3 more min",
                                                 kind="wrapup")
        return Estimates(now, waits, join, counters)

    @staticmethod
    def _wait(ahead: int, counters: int) -> WaitEstimate:
        if counters == 0:
            return WaitEstimate(0, 0, 0, "暂无窗口办理此业务", "No counter serves this now", available=False)
        low = ahead * PER_PERSON_S / counters
        high = low + PER_PERSON_S
        if high <= 2 * 60 + PER_PERSON_S and ahead == 0:
            zh, en = "即将叫号", "Very soon"
        else:
            zh, en = f"约需{int(low // 60)}–{int(high // 60)}分钟", f"About {int(low // 60)}–{int(high // 60)} min"
        why_zh = f"前面还有{ahead}人,{counters}个窗口办理"
        why_en = f"{ahead} ahead of you, {counters} counter{'s' if counters > 1 else ''} serving"
        return WaitEstimate((low + high) / 2, low, high, zh, en, True, why_zh, why_en, 0.9 if ahead == 0 else 0.1)


def main() -> None:
    import uvicorn

    from server.app import create_app
    from server.demo import prepare
    from server.settings import DEMO_CONFIG, Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG, help="branch config (default: the demo's)")
    args = parser.parse_args()
    settings = Settings(branch_configs=[args.config], port=args.port)  # data dir from BRANCHQ_DATA_DIR
    prepare(settings)  # the demo accounts and device tokens, as `branchq serve --demo` makes them
    uvicorn.run(create_app(settings, estimator_factory=CannedEstimator), host="127.0.0.1", port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
