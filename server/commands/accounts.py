"""`branchq users ...` and `branchq devices ...`: people and device tokens, from the command line.

The first admin of a real branch is made here (`branchq users add NAME --role
admin`); after that the API does the same (docs/security.md). These commands
write the database the server uses (BRANCHQ_DATA_DIR / DATABASE_URL); a running
server sees a revocation within a few seconds.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC

from server.accounts import Accounts
from server.core.errors import BranchError
from server.service import SystemClock
from server.settings import Settings
from server.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="people who sign in: add, list, revoke, set a password")
    u = users.add_subparsers(dest="users_command", required=True)
    p = u.add_parser("add", help="add a person (asks for the password)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["admin", "manager", "teller"])
    p.add_argument("--branch", action="append", default=[], help="a branch they work in (repeat for several)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(run=_run(_add_user))
    p = u.add_parser("list", help="list people and their roles")
    p.set_defaults(run=_run(_list_users))
    p = u.add_parser("revoke", help="stop a person signing in; ends their sessions")
    p.add_argument("name")
    p.set_defaults(run=_run(lambda a, acc: acc.revoke_user(a.name) or print(f"revoked {a.name}")))
    p = u.add_parser("password", help="set a person's password (also re-enables a revoked account)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(run=_run(lambda a, acc: acc.set_password(a.name, _password(a)) or print(f"password set for {a.name}")))

    devices = sub.add_parser("devices", help="kiosk and display tokens: add, list, revoke")
    d = devices.add_subparsers(dest="devices_command", required=True)
    p = d.add_parser("add", help="make a device token (printed once) for a kiosk or a display")
    p.add_argument("id", help="a name for the device, e.g. kiosk-1, lobby, counter-3")
    p.add_argument("--role", required=True, choices=["kiosk", "display"])
    p.add_argument("--branch", required=True)
    p.add_argument("--days", type=float, default=None, help="valid for this many days (default 365)")
    p.set_defaults(run=_run(_add_device))
    p = d.add_parser("list", help="list device tokens (never the secrets)")
    p.add_argument("--branch", default=None)
    p.set_defaults(run=_run(lambda a, acc: _table(acc.devices(a.branch), ["id", "role", "branch", "expires_at",
                                                                          "revoked_at"])))
    p = d.add_parser("revoke", help="the device's token stops working")
    p.add_argument("id")
    p.set_defaults(run=_run(lambda a, acc: acc.revoke_device(a.id) or print(f"revoked {a.id}")))


def _run(action):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        store = Store(Settings().db_url)
        try:
            store.migrate()
            accounts = Accounts(store.engine, SystemClock(UTC).now)  # type: ignore[arg-type]
            action(args, accounts)
        except BranchError as exc:
            print(f"branchq: {exc.message}", file=sys.stderr)
            return 2
        finally:
            store.close()
        return 0

    return run


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (8+ characters): ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("branchq: the two passwords differ; nothing was changed.")
    return first


def _add_user(args: argparse.Namespace, accounts: Accounts) -> None:
    accounts.add_user(args.name, args.role, args.branch, _password(args))
    print(f"added {args.role} {args.name}" + (f" for {', '.join(args.branch)}" if args.branch else ""))


def _list_users(args: argparse.Namespace, accounts: Accounts) -> None:
    _table([{**u, "branches": ",".join(u["branches"])} for u in accounts.users()],
           ["name", "role", "branches", "created_at", "revoked_at"])


def _add_device(args: argparse.Namespace, accounts: Accounts) -> None:
    issued = accounts.add_device(args.id, args.role, args.branch, args.days)
    page = f"/kiosk/{args.branch}" if args.role == "kiosk" else f"/display/{args.branch}"
    print(f"token for {args.role} {issued.id} (shown once; valid until {issued.expires_at:%Y-%m-%d}):")
    print(issued.token)
    print(f"open the screen once with: {page}?token={issued.token}")


def _table(rows: list[dict[str, object]], columns: list[str]) -> None:
    print("\t".join(columns))
    for row in rows:
        print("\t".join("" if row.get(c) is None else str(row.get(c)) for c in columns))
