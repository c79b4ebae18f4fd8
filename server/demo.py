"""`branchq serve --demo`: demo accounts and device tokens, printed at start-up.

The secrets are random, made on the first demo run and kept in
DATA_DIR/demo-credentials.json (readable by its owner only), so screens left
open keep working across restarts and every start prints the same list. A
real branch does not use --demo: it creates its first admin with
`branchq users add NAME --role admin` and device tokens with `branchq devices add`.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from server.accounts import Accounts
from server.core.access import Role
from server.core.config import BranchConfig
from server.core.errors import NotSignedIn
from server.service import SystemClock
from server.settings import Settings
from server.store import Store

CREDENTIALS_FILE = "demo-credentials.json"


@dataclass(frozen=True)
class Demo:
    users: dict[str, dict[str, str]]  # name -> {"role", "password", "branch"?, "counter"?}
    devices: dict[str, dict[str, str]]  # id -> {"role", "branch", "token", "page"}


def prepare(settings: Settings) -> Demo:
    """Open the configured database and ensure the demo accounts there (serve --demo, the browser tests)."""
    store = Store(settings.db_url)
    try:
        store.migrate()
        accounts = Accounts(store.engine, SystemClock(UTC).now)  # type: ignore[arg-type]
        return ensure_demo(accounts, settings.configs(), settings.data_dir)
    finally:
        store.close()


def ensure_demo(accounts: Accounts, configs: dict[str, BranchConfig], data_dir: Path) -> Demo:
    """Create (or keep) the demo admin, a manager, a teller per counter, and the screens' tokens."""
    path = data_dir / CREDENTIALS_FILE
    saved = json.loads(path.read_text()) if path.is_file() else {"users": {}, "devices": {}}
    existing = {u["name"] for u in accounts.users()}
    users: dict[str, dict[str, str]] = {"admin": {"role": "admin"}, "manager": {"role": "manager"}}
    devices: dict[str, dict[str, str]] = {}
    for branch, config in configs.items():
        devices[f"kiosk-{branch}"] = {"role": "kiosk", "branch": branch, "page": f"/kiosk/{branch}"}
        devices[f"lobby-{branch}"] = {"role": "display", "branch": branch, "page": f"/display/{branch}"}
        for counter in config.counters:
            name = f"teller{counter.id}" if len(configs) == 1 else f"teller-{branch}-{counter.id}"
            users[name] = {"role": "teller", "branch": branch, "counter": counter.id}
            devices[f"counter-{branch}-{counter.id}"] = {"role": "display", "branch": branch,
                                                          "page": f"/display/{branch}/counter/{counter.id}"}
    for name, info in users.items():
        info["password"] = _user(accounts, name, info, list(configs), existing, saved["users"].get(name, {}))
    for device_id, info in devices.items():
        info["token"] = _device(accounts, device_id, info, saved["devices"].get(device_id, {}))
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"users": users, "devices": devices}, indent=2, ensure_ascii=False))
    os.chmod(path, 0o600)
    return Demo(users, devices)


def _user(accounts: Accounts, name: str, info: dict[str, str], branches: list[str], existing: set[str],
          saved: dict[str, str]) -> str:
    password = saved.get("password")
    if name not in existing:
        password = password or secrets.token_urlsafe(9)
        accounts.add_user(name, info["role"], [info["branch"]] if "branch" in info else branches, password)
    elif password is None:  # the file was lost: the old password is unknown, so set a new one
        password = secrets.token_urlsafe(9)
        accounts.set_password(name, password)
    return password


def _device(accounts: Accounts, device_id: str, info: dict[str, str], saved: dict[str, str]) -> str:
    token = saved.get("token")
    if token is not None:
        try:
            accounts.resolve(token)
            return token
        except NotSignedIn:  # revoked or expired since: a new one
            pass
    return accounts.add_device(device_id, Role(info["role"]), info["branch"]).token


def print_demo(demo: Demo, base: str, data_dir: Path) -> None:
    print(f"\nDemo accounts (kept in {data_dir / CREDENTIALS_FILE}; sign in at {base}/login):")
    for name, info in demo.users.items():
        where = {"admin": "everything", "manager": "all demo branches"}.get(info["role"], "")
        if info["role"] == "teller":
            where = f"teller console {base}/teller/{info['branch']}?counter={info['counter']}"
        elif info["role"] == "manager":
            where = f"manager page {base}/manager/{next(iter(demo.devices.values()))['branch']}"
        print(f"  {info['role']:8} {name:10} password {info['password']:14} {where}")
    print("Screens (open each link once; the screen keeps its device token):")
    for device_id, info in demo.devices.items():
        print(f"  {info['role']:8} {device_id:18} {base}{info['page']}?token={info['token']}")
