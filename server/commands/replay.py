"""`branchq replay LOG.jsonl`: rebuild state from a log and print its figures."""

from __future__ import annotations

import argparse
import sys

from server.core.errors import LogError
from server.core.events import LogReader
from server.core.state import BranchState
from server.core.summary import Summary, unfinished


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="rebuild branch state from an event log and print a summary")
    p.add_argument("log", help="event log (JSON Lines, spec v1.1); '-' reads standard input")
    p.set_defaults(run=run)


def replay(lines) -> tuple[BranchState, Summary, list[str]]:  # type: ignore[no-untyped-def]
    """Fold a log; LogError names the first line that is malformed or contradicts the history."""
    state, summary, reader = BranchState(), Summary(), LogReader()
    for number, ev in reader.read(lines):
        state.apply_line(number, ev)
        summary.observe(ev, state)
    return state, summary, reader.warnings


def run(args: argparse.Namespace) -> int:
    try:
        if args.log == "-":
            state, summary, warnings = replay(sys.stdin)
        else:
            with open(args.log, "rb") as fh:
                state, summary, warnings = replay(fh)
    except OSError as exc:
        print(f"branchq replay: cannot read {args.log}: {exc.strerror}", file=sys.stderr)
        return 2
    except LogError as exc:
        print(f"branchq replay: {args.log}: {exc.message}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    open_tickets = unfinished(state)
    print(f"{summary.events} events, {summary.days} day(s), {summary.tickets} tickets")
    print(summary.table())
    if open_tickets:
        print(f"{len(open_tickets)} ticket(s) not in a final state: {', '.join(open_tickets[:20])}")
    else:
        print("every ticket is in a final state")
    return 0
