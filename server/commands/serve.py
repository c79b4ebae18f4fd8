"""`branchq serve [--demo] [--host] [--port]`: run the ticket server under uvicorn."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC

from pydantic import ValidationError

from server.accounts import Accounts
from server.core.errors import BranchError
from server.demo import prepare, print_demo
from server.service import SystemClock
from server.settings import DEMO_CONFIG, Settings
from server.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the ticket server (API, WebSocket feed and screens)")
    p.add_argument("--demo", action="store_true", help="run the demo branch (server/branches/demo.toml) on SQLite")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1, BRANCHQ_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000, BRANCHQ_PORT)")
    p.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the command line's choices on top."""
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "demo", False):
        overrides["branch_configs"] = [DEMO_CONFIG]
        overrides["mobile_tickets"] = True  # the demo lets a phone take a number too
    return Settings(**overrides)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    try:
        settings = settings_from(args)
        configs = settings.configs()
    except ValidationError as exc:  # a bad BRANCHQ_* variable: name it, no traceback
        print(f"branchq serve: bad setting: {exc}", file=sys.stderr)
        return 2
    except (BranchError, OSError) as exc:  # a bad or missing branch config file
        print(f"branchq serve: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    print(f"branchq: storing events in {settings.db_url.split('@')[-1]}")
    print(f"  API docs        {base}/docs")
    print(f"  sign in         {base}/login")
    for branch in configs:
        print(f"  ticket page     {base}/t/{branch}/A001 (public: one ticket's status)")
    try:
        _accounts_at_start(settings, base, getattr(args, "demo", False))
    except BranchError as exc:
        print(f"branchq serve: {exc.message}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                ws_max_size=64 * 1024, ws_per_message_deflate=settings.ws_compression)
    return 0


def _accounts_at_start(settings: Settings, base: str, demo: bool) -> None:
    """--demo: make and print the demo accounts and screen links. Otherwise say how to make the first admin."""
    if demo:
        print_demo(prepare(settings), base, settings.data_dir)
        return
    store = Store(settings.db_url)
    try:
        store.migrate()
        accounts = Accounts(store.engine, SystemClock(UTC).now)  # type: ignore[arg-type]
        if not accounts.users():
            print("\nNo users yet: everything but the public ticket page needs a sign-in or a device token.\n"
                  "  Create the first admin:  branchq users add NAME --role admin\n"
                  "  Screens' tokens:         branchq devices add lobby --role display --branch BRANCH\n"
                  "  Or try it all with demo accounts:  branchq serve --demo")
    finally:
        store.close()
