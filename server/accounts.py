"""Users, sessions and device tokens, stored in the branch database.

Passwords are hashed with argon2 (argon2-cffi). Session and device tokens are
random (`secrets`), shown once, and stored only as a SHA-256 digest: a token
has 256 bits of entropy, so a fast digest is safe there and keeps the lookup
on every request cheap. Both expire and can be revoked.

Each request's token is resolved through a small cache (TOKEN_CACHE_S): a
revocation made in this process takes effect at once; one made by another
process (the CLI, a second server) within that many seconds.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Field, SQLModel

from server.core.access import DEVICES, PEOPLE, Principal, Role
from server.core.errors import InvalidInput, NotFound, NotSignedIn

log = logging.getLogger("branchq")

TOKEN_CACHE_S = 10.0
# OWASP's argon2id minimum (19 MiB, 2 passes): ~0.1 s a hash on this 2-core machine,
# where argon2-cffi's default profile (64 MiB, 3 passes, 4 lanes) took ~0.7 s.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
SESSION_PREFIX, DEVICE_PREFIX = "bqs_", "bqd_"
SESSIONS_KEPT = timedelta(days=7)  # after expiry, then deleted at the next sign-in
ALL_BRANCHES = "*"


class UserRow(SQLModel, table=True):
    """A person who signs in: admin, manager or teller."""

    __tablename__ = "users"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    branches: str = Field(max_length=1024)  # comma-separated ids; "*" for every branch (admin)
    password_hash: str | None = Field(default=None, max_length=256)  # None: cannot sign in with a password
    created_at: datetime
    revoked_at: datetime | None = None


class SessionRow(SQLModel, table=True):
    """A signed-in person's session (browser cookie or bearer token)."""

    __tablename__ = "sessions"

    id: str = Field(primary_key=True, max_length=32)  # public: names the session in lists and revocations
    token_hash: str = Field(max_length=64, unique=True)
    user: str = Field(max_length=64, index=True)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    counter: str | None = Field(default=None, max_length=64)  # a teller's counter now
    counter_branch: str | None = Field(default=None, max_length=64)


class DeviceRow(SQLModel, table=True):
    """A kiosk or a display screen and its token."""

    __tablename__ = "devices"

    id: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=16)
    branch: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


USERS = UserRow.__table__  # type: ignore[attr-defined]
SESSIONS = SessionRow.__table__  # type: ignore[attr-defined]
DEVICES_T = DeviceRow.__table__  # type: ignore[attr-defined]
TABLES = [USERS, SESSIONS, DEVICES_T]  # made by server/migrations (0003_accounts)


@dataclass(frozen=True)
class Issued:
    """A token as handed out: the secret is shown this once and never stored."""

    token: str
    id: str
    expires_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def _name(value: str, what: str) -> str:
    value = value.strip()
    if not (1 <= len(value) <= 64) or not all(ch.isalnum() or ch in "-_." for ch in value):
        raise InvalidInput(f"A {what} must be 1-64 letters, digits, '-', '_' or '.'; got '{value[:70]}'.")
    return value


class Accounts:
    """Users, sessions and devices in one database (the event store's engine)."""

    def __init__(self, engine: Engine, now: Callable[[], datetime],
                 session_ttl: timedelta = timedelta(hours=12), device_ttl: timedelta = timedelta(days=365),
                 hasher: PasswordHasher | None = None) -> None:
        self.engine, self.now = engine, now
        self.session_ttl, self.device_ttl = session_ttl, device_ttl
        self.hasher = hasher or HASHER
        self._cache: dict[str, tuple[float, Principal, datetime]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, role: Role | str, branches: list[str] | None = None,
                 password: str | None = None) -> None:
        """A new person; `branches` is required for managers and tellers (admins reach all)."""
        name, role = _name(name, "user name"), Role(role)
        if role not in PEOPLE:
            raise InvalidInput(f"A user's role is one of {', '.join(r.value for r in PEOPLE)}; "
                               f"'{role.value}' is a device (use a device token).")
        listed = ALL_BRANCHES if role is Role.ADMIN else ",".join(_name(b, "branch id") for b in branches or [])
        if not listed:
            raise InvalidInput(f"A {role.value} needs at least one branch.")
        with self.engine.begin() as conn:
            if conn.execute(select(USERS.c.name).where(USERS.c.name == name)).first():
                raise InvalidInput(f"A user named '{name}' already exists.")
            conn.execute(insert(USERS), {"name": name, "role": role.value, "branches": listed,
                                         "password_hash": self._hash(password), "created_at": _utc(self.now())})

    def set_password(self, name: str, password: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(USERS).where(USERS.c.name == name).values(
                password_hash=self._hash(password), revoked_at=None))
        if done.rowcount == 0:
            raise NotFound(f"No user named '{name}'.")

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(USERS).order_by(USERS.c.name)).all()
        return [{"name": r.name, "role": r.role, "branches": r.branches.split(","),
                 "created_at": _iso(r.created_at), "revoked_at": _iso(r.revoked_at)} for r in rows]

    def revoke_user(self, name: str) -> None:
        """The user can no longer sign in, and every session they hold ends now."""
        when = _utc(self.now())
        with self.engine.begin() as conn:
            done = conn.execute(update(USERS).where(USERS.c.name == name).values(revoked_at=when))
            if done.rowcount == 0:
                raise NotFound(f"No user named '{name}'.")
            conn.execute(update(SESSIONS).where(SESSIONS.c.user == name, SESSIONS.c.revoked_at.is_(None))
                         .values(revoked_at=when))
        self._forget()

    def _hash(self, password: str | None) -> str | None:
        if password is None:
            return None
        if not 8 <= len(password) <= 256:
            raise InvalidInput("A password must be 8-256 characters.")
        return self.hasher.hash(password)

    # --------------------------------------------------------------- sessions
    def sign_in(self, name: str, password: str) -> Issued:
        """A new session for a correct name and password; one vague 401 otherwise."""
        with self.engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
        wrong = NotSignedIn("Wrong user name or password.", "用户名或密码错误。")
        if row is None or row.password_hash is None:
            self.hasher.hash(password or "-")  # the same time as a real check: names cannot be probed
            raise wrong
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise wrong from None
        if row.revoked_at is not None:
            raise NotSignedIn(f"The account '{name}' was revoked; ask an administrator.", "该账号已停用,请联系管理员。")
        if self.hasher.check_needs_rehash(row.password_hash):
            self.set_password(name, password)
        return self.open_session(name)

    def open_session(self, name: str) -> Issued:
        """A session for an existing user without a password check (sign-in above, the CLI and tests)."""
        token, now = SESSION_PREFIX + secrets.token_urlsafe(32), _utc(self.now())
        sid = secrets.token_hex(8)
        expires = now + self.session_ttl
        with self.engine.begin() as conn:
            if conn.execute(select(USERS.c.name).where(USERS.c.name == name)).first() is None:
                raise NotFound(f"No user named '{name}'.")
            # Sessions long over are of no use to anyone: the table holds about a week of sign-ins.
            conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now - SESSIONS_KEPT))
            conn.execute(insert(SESSIONS), {"id": sid, "token_hash": digest(token), "user": name,
                                            "created_at": now, "expires_at": expires})
        return Issued(token, sid, expires)

    def sign_out(self, session: str) -> None:
        self._revoke(SESSIONS, session, "session")

    def choose_counter(self, who: Principal, branch: str, counter: str | None) -> list[str]:
        """A teller's session moves to `counter` of `branch` (None: to no counter).

        One counter, one teller: whoever else was signed in to it is moved off
        (their next action there is refused, naming no counter) and named in
        the answer. Taking over, not refusing, because the usual case is a
        colleague who left without signing out, and a window must not stay
        locked until someone finds them.
        """
        if who.session is None:
            raise InvalidInput("Only a signed-in person's session has a counter.")
        displaced: list[str] = []
        with self.engine.begin() as conn:
            if counter is not None:
                held = (SESSIONS.c.counter_branch == branch) & (SESSIONS.c.counter == counter) & \
                    (SESSIONS.c.id != who.session) & SESSIONS.c.revoked_at.is_(None) & \
                    (SESSIONS.c.expires_at > _utc(self.now()))
                displaced = sorted({r.user for r in conn.execute(select(SESSIONS.c.user).where(held))})
                conn.execute(update(SESSIONS).where(held).values(counter=None, counter_branch=None))
            conn.execute(update(SESSIONS).where(SESSIONS.c.id == who.session).values(
                counter=counter, counter_branch=branch if counter is not None else None))
        self._forget()
        log.info("%s signed in to counter %s of branch %s%s", who.id, counter, branch,
                 f", taking it over from {', '.join(displaced)}" if displaced else "")
        return displaced

    # ---------------------------------------------------------------- devices
    def add_device(self, device_id: str, role: Role | str, branch: str, days: float | None = None) -> Issued:
        """A kiosk or display token for one branch (an existing id gets a new token; the old one stops)."""
        device_id, role = _name(device_id, "device id"), Role(role)
        if role not in DEVICES:
            raise InvalidInput(f"A device is a {' or a '.join(r.value for r in DEVICES)}, not a {role.value}.")
        token, now = DEVICE_PREFIX + secrets.token_urlsafe(32), _utc(self.now())
        expires = now + (timedelta(days=days) if days is not None else self.device_ttl)
        row = {"role": role.value, "branch": _name(branch, "branch id"), "token_hash": digest(token),
               "created_at": now, "expires_at": expires, "revoked_at": None}
        with self.engine.begin() as conn:
            if conn.execute(update(DEVICES_T).where(DEVICES_T.c.id == device_id).values(**row)).rowcount == 0:
                conn.execute(insert(DEVICES_T), {"id": device_id, **row})
        self._forget()
        return Issued(token, device_id, expires)

    def devices(self, branch: str | None = None) -> list[dict[str, Any]]:
        q = select(DEVICES_T).order_by(DEVICES_T.c.id)
        if branch is not None:
            q = q.where(DEVICES_T.c.branch == branch)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [{"id": r.id, "role": r.role, "branch": r.branch, "created_at": _iso(r.created_at),
                 "expires_at": _iso(r.expires_at), "revoked_at": _iso(r.revoked_at)} for r in rows]

    def device_branch(self, device_id: str) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(select(DEVICES_T.c.branch).where(DEVICES_T.c.id == device_id)).first()
        if row is None:
            raise NotFound(f"No device '{device_id}'.")
        return str(row.branch)

    def revoke_device(self, device_id: str) -> None:
        self._revoke(DEVICES_T, device_id, "device")

    def _revoke(self, table: Any, key: str, what: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(table).where(table.c.id == key).values(revoked_at=_utc(self.now())))
        if done.rowcount == 0:
            raise NotFound(f"No {what} '{key}'.")
        self._forget()

    # ---------------------------------------------------------------- lookups
    def cached(self, token: str) -> Principal | None:
        """The principal for a token seen in the last few seconds (no database read), else None."""
        hit = self._cache.get(digest(token))
        if hit is None or time.monotonic() - hit[0] > TOKEN_CACHE_S or _utc(self.now()) >= hit[2]:
            return None
        return hit[1]

    def resolve(self, token: str) -> Principal:
        """Who holds this token, or NotSignedIn saying why not (unknown, expired, revoked)."""
        key = digest(token)
        if token.startswith(DEVICE_PREFIX):
            who, expires = self._device(key)
        else:
            who, expires = self._session(key)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), who, expires)
        return who

    def _session(self, key: str) -> tuple[Principal, datetime]:
        q = select(SESSIONS, USERS.c.role, USERS.c.branches, USERS.c.revoked_at.label("user_revoked")).join(
            USERS, USERS.c.name == SESSIONS.c.user).where(SESSIONS.c.token_hash == key)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotSignedIn("Unknown session token; sign in again.", "登录信息无效,请重新登录。")
        self._alive("session", row.revoked_at or row.user_revoked, row.expires_at)
        branches = None if row.branches == ALL_BRANCHES else frozenset(row.branches.split(","))
        who = Principal("user", row.user, Role(row.role), branches, row.counter, row.counter_branch, row.id)
        return who, _utc(row.expires_at)

    def _device(self, key: str) -> tuple[Principal, datetime]:
        with self.engine.connect() as conn:
            row = conn.execute(select(DEVICES_T).where(DEVICES_T.c.token_hash == key)).first()
        if row is None:
            raise NotSignedIn("Unknown device token; ask a manager for this screen's token.",
                              "设备令牌无效,请向网点经理索取。")
        self._alive("device token", row.revoked_at, row.expires_at)
        return Principal("device", row.id, Role(row.role), frozenset({row.branch})), _utc(row.expires_at)

    def _alive(self, what: str, revoked: datetime | None, expires: datetime) -> None:
        if revoked is not None:
            raise NotSignedIn(f"This {what} was revoked at {_iso(revoked)}; sign in again or ask for a new one.",
                              "该登录/令牌已被撤销,请重新登录或申请新令牌。")
        if _utc(self.now()) >= _utc(expires):
            raise NotSignedIn(f"This {what} expired at {_iso(expires)}; sign in again or ask for a new one.",
                              "该登录/令牌已过期,请重新登录或申请新令牌。")

    def _forget(self) -> None:
        with self._lock:
            self._cache.clear()


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else _utc(ts).isoformat(timespec="seconds")
