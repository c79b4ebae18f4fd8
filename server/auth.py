"""Who is asking, for every route: FastAPI dependencies per permission.

A request carries its credentials one of three ways:
- `Authorization: Bearer TOKEN` (API clients, and the screens' JS with a device token),
- the `bq_session` cookie (people signed in through /login; HttpOnly, SameSite=Strict),
- `?token=TOKEN` on the WebSocket only (a browser cannot set headers there).

The rules themselves (which role may do what, a teller's one counter) live in
server/core/access.py; this module finds the principal and asks it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import HTTPConnection

from server.accounts import Accounts
from server.core.access import Permission, Principal, check
from server.core.errors import BranchError, NotSignedIn

COOKIE = "bq_session"


def token_of(conn: HTTPConnection, allow_query: bool = False) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query and conn.query_params.get("token"):
        return conn.query_params["token"]
    return conn.cookies.get(COOKIE) or None


async def principal_of(conn: HTTPConnection, allow_query: bool = False) -> Principal | None:
    """The principal behind the request's credentials; None without any; NotSignedIn for bad ones."""
    token = token_of(conn, allow_query)
    if token is None:
        return None
    if len(token) > 256:
        raise NotSignedIn("That token is not one this server issued.", "令牌无效。")
    accounts: Accounts = conn.app.state.accounts
    who = accounts.cached(token)
    if who is None:  # a database read: off the event loop
        who = await run_in_threadpool(accounts.resolve, token)
    return who


async def signed_in(request: Request) -> Principal:
    who = await principal_of(request)
    if who is None:
        raise NotSignedIn("Sign in first: send 'Authorization: Bearer TOKEN' (a session or device token) "
                          "or sign in at /login.", "请先登录(/login)或提供设备令牌。")
    request.state.principal = who
    return who


async def maybe_signed_in(request: Request) -> Principal | None:
    """For the few routes that also serve the public (a phone's ticket page)."""
    who = await principal_of(request)
    request.state.principal = who
    return who


def allow(permission: Permission):  # type: ignore[no-untyped-def]
    """A dependency: the signed-in principal, if it may do `permission` on the route's branch and counter."""

    async def dependency(request: Request) -> Principal:
        who = await signed_in(request)
        params = request.path_params
        check(who, permission, params.get("branch"), params.get("counter"))
        return who

    dependency.__name__ = f"allow_{permission.value}"
    return Depends(dependency)


SignedIn = Annotated[Principal, Depends(signed_in)]
MaybeSignedIn = Annotated[Principal | None, Depends(maybe_signed_in)]
Viewer = Annotated[Principal, allow(Permission.VIEW)]
Issuer = Annotated[Principal, allow(Permission.ISSUE)]
Printer = Annotated[Principal, allow(Permission.PRINT)]
CounterActor = Annotated[Principal, allow(Permission.ACT)]
FiguresReader = Annotated[Principal, allow(Permission.FIGURES)]
Manager = Annotated[Principal, allow(Permission.MANAGE)]
Admin = Annotated[Principal, allow(Permission.ADMIN)]


class Guarded:
    """An ASGI app (a mounted folder) behind a role check: browsers without a session go to /login."""

    def __init__(self, app: Any, permission: Permission) -> None:
        self.app, self.permission = app, permission

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        conn = HTTPConnection(scope)
        try:
            who = await principal_of(conn)
            if who is None:
                raise NotSignedIn("Sign in first (/login).", "请先登录。")
            check(who, self.permission)
        except NotSignedIn:
            here = quote(scope["path"], safe="")  # the full path, also inside a mount
            return await RedirectResponse(f"/login?next={here}", status_code=303)(scope, receive, send)
        except BranchError as exc:
            body = {"error": exc.code, "message": exc.message, "message_zh": exc.message_zh}
            return await JSONResponse(body, status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)
