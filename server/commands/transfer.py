"""`branchq export` and `branchq import`: the event log in and out of the store (JSONL, spec v1.1).

Import appends after the branch's stored history and is all-or-nothing: a
malformed line, or one that contradicts what came before, stores nothing and
names the line. Run it while the server is down, or against a server that
will catch up (its next write sees the new seqs and reloads).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from server.audit import with_actor
from server.core.errors import BranchError
from server.service import BranchService, StorageUnavailable, SystemClock
from server.settings import DEMO_CONFIG, Settings
from server.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a branch's event log as JSON Lines")
    p.add_argument("--branch", default="demo", help="branch id (default: demo)")
    p.add_argument("--out", default="-", help="file to write ('-' = standard output)")
    p.set_defaults(run=run_export)
    p = sub.add_parser("import", help="append a JSON Lines event log to a branch: all of it or nothing")
    p.add_argument("file", help="event log (JSON Lines, spec v1.1)")
    p.add_argument("--branch", default="demo", help="branch id (default: demo)")
    p.add_argument("--demo", action="store_true", help="the demo branch's config (the default when none is set)")
    p.set_defaults(run=run_import)


def run_export(args: argparse.Namespace) -> int:
    store = Store(Settings().db_url)
    try:
        store.migrate()
        lines = (with_actor(payload, actor) for _, actor, payload in store.audit(args.branch))
        if args.out == "-":
            n = _write(lines, sys.stdout)
        else:
            with open(args.out, "w", encoding="utf-8", newline="\n") as fh:
                n = _write(lines, fh)
    except OSError as exc:
        print(f"branchq export: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"exported {n} events of branch {args.branch}", file=sys.stderr)
    return 0


def _write(lines, fh) -> int:  # type: ignore[no-untyped-def]
    n = 0
    for line in lines:
        fh.write(line + "\n")
        n += 1
    return n


def run_import(args: argparse.Namespace) -> int:
    settings = Settings(branch_configs=[DEMO_CONFIG]) if args.demo else Settings()
    config = settings.configs().get(args.branch)
    if config is None:
        print(f"branchq import: unknown branch '{args.branch}'; configured: {', '.join(settings.configs())}",
              file=sys.stderr)
        return 2
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"branchq import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    store = Store(settings.db_url)
    try:
        store.migrate()
        svc = BranchService(config, store, None, SystemClock(config.tz))
        svc.load()
        result = asyncio.run(svc.import_log(data.splitlines()))
    except (BranchError, StorageUnavailable) as exc:
        print(f"branchq import: {args.file}: {exc.message}; nothing was imported", file=sys.stderr)
        return 1
    finally:
        store.close()
    for w in result["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"imported {result['imported']} events into branch {args.branch} (now at seq {result['seq']})")
    return 0
