"""Who may do what in a branch: the roles and the one function that decides.

People sign in (admin, manager, teller); devices hold a token (kiosk, display).
The web layer works out *who* is asking (server/auth.py); this module decides
*whether* they may, so the rules read in one place:

- admin: every branch; users and devices.
- manager: their branches: counters, reports, the audit trail, devices.
- teller: their branch; acts only on the counter they are signed in to.
- kiosk: issues tickets for its branch, and reads what the kiosk shows.
- display: reads its branch's state and live feed; acts on nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.core.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    TELLER = "teller"
    KIOSK = "kiosk"
    DISPLAY = "display"


PEOPLE = (Role.ADMIN, Role.MANAGER, Role.TELLER)
DEVICES = (Role.KIOSK, Role.DISPLAY)


class Permission(StrEnum):
    VIEW = "view"  # the branch's state, services and live feed
    ISSUE = "issue"  # take a ticket (kiosk, or staff for a customer)
    PRINT = "print"  # print a ticket's receipt
    ACT = "act"  # a counter action (call, start, finish, pause ...)
    FIGURES = "figures"  # the day's figures (teller console, manager page)
    MANAGE = "manage"  # screens, event export, audit, devices, simulator reports
    ADMIN = "admin"  # users, log import


ALLOWED: dict[Permission, frozenset[Role]] = {
    Permission.VIEW: frozenset(Role),
    Permission.ISSUE: frozenset({Role.ADMIN, Role.MANAGER, Role.TELLER, Role.KIOSK}),
    Permission.PRINT: frozenset({Role.ADMIN, Role.MANAGER, Role.TELLER, Role.KIOSK}),
    Permission.ACT: frozenset({Role.ADMIN, Role.MANAGER, Role.TELLER}),
    Permission.FIGURES: frozenset({Role.ADMIN, Role.MANAGER, Role.TELLER}),
    Permission.MANAGE: frozenset({Role.ADMIN, Role.MANAGER}),
    Permission.ADMIN: frozenset({Role.ADMIN}),
}

WHAT = {  # for the 403's sentence: "A display may not <what>."
    Permission.VIEW: "see this branch",
    Permission.ISSUE: "issue tickets",
    Permission.PRINT: "print tickets",
    Permission.ACT: "act on counters",
    Permission.FIGURES: "see the day's figures",
    Permission.MANAGE: "manage this branch (screens, events, audit, devices)",
    Permission.ADMIN: "manage users or import logs",
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in person or a device, with what they may reach."""

    kind: str  # "user" or "device"
    id: str  # user name or device id
    role: Role
    branches: frozenset[str] | None  # None: every branch (admin)
    counter: str | None = None  # a teller's counter for this session
    counter_branch: str | None = None
    session: str | None = None  # the session's id (people), to sign out

    @property
    def actor(self) -> str:
        """How the audit trail names this principal: "user:alice", "device:kiosk-1"."""
        return f"{self.kind}:{self.id}"

    def reaches(self, branch: str) -> bool:
        return self.branches is None or branch in self.branches


def check(who: Principal, permission: Permission, branch: str | None = None, counter: str | None = None) -> None:
    """Raise Forbidden, saying why, unless `who` may do `permission` (in `branch`, at `counter`)."""
    if who.role not in ALLOWED[permission]:
        raise Forbidden(f"A {who.role.value} may not {WHAT[permission]}.",
                        f"{_ZH_ROLE[who.role]}无权执行此操作。")
    if branch is not None and not who.reaches(branch):
        mine = ", ".join(sorted(who.branches or ())) or "none"
        raise Forbidden(f"{who.actor} has no access to branch '{branch}' (theirs: {mine}).",
                        f"无权访问'{branch}'网点。")
    if permission is Permission.ACT and who.role is Role.TELLER and counter is not None:
        _check_teller_counter(who, branch, counter)


def _check_teller_counter(who: Principal, branch: str | None, counter: str) -> None:
    if who.counter is None:
        raise Forbidden(f"You are not signed in to a counter; choose counter {counter} in the teller console first.",
                        f"您尚未登录到任何窗口,请先在柜员操作台选择{counter}号窗口。")
    if who.counter != counter or (branch is not None and who.counter_branch != branch):
        raise Forbidden(f"You are signed in to counter {who.counter}; a teller may act only on that counter "
                        f"(switch to counter {counter} in the teller console first).",
                        f"您已登录{who.counter}号窗口,只能操作该窗口;如需操作{counter}号窗口,请先切换。")


_ZH_ROLE = {Role.ADMIN: "管理员", Role.MANAGER: "网点经理", Role.TELLER: "柜员", Role.KIOSK: "取号机", Role.DISPLAY: "显示屏"}
