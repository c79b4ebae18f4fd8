"""The `branchq` command line: one sub-command module per concept.

Each module listed in COMMANDS has `register(subparsers)`, which adds its
sub-command(s) with `set_defaults(run=callable)`; `run(args)` returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = (
    "server.commands.serve",
    "server.commands.replay",
    "server.commands.transfer",  # export / import
    "server.commands.accounts",  # users / devices
    "server.commands.evaluate",
    "sim.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="branchq", description="Bank branch queue and wait-time system.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a command not yet written
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
