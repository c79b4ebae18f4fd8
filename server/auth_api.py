"""Signing in and out, a teller's counter, users and device tokens.

People: the /login form (a session cookie: HttpOnly, SameSite=Strict) or
POST /api/v1/session (a bearer token for API clients). Devices: a token made by
a manager or admin here or with `branchq devices add`, given to the screen once
as ?token=.
"""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from server.accounts import Accounts, Issued
from server.api import Service
from server.auth import COOKIE, Admin, Manager, SignedIn, principal_of
from server.core.access import Permission, Principal, check
from server.core.errors import Forbidden, InvalidInput, NotFound, NotSignedIn

router = APIRouter()
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    password: str = Field(min_length=1, max_length=256)


class CounterChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch: Name
    counter: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    role: Literal["admin", "manager", "teller"]
    branches: list[Name] = Field(default_factory=list, max_length=100)
    password: str = Field(min_length=8, max_length=256)


class NewDevice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Name
    role: Literal["kiosk", "display"]
    days: float | None = Field(default=None, gt=0, le=3650, description="valid for (default 365)")


def _accounts(request: Request) -> Accounts:
    return request.app.state.accounts  # type: ignore[no-any-return]


async def _sign_in(request: Request, name: str, password: str) -> Issued:
    host = request.client.host if request.client else "?"
    request.app.state.rate_limits["sign_in"].hit(host)
    return await run_in_threadpool(_accounts(request).sign_in, name, password)


def _who_body(who: Principal) -> dict[str, Any]:
    return {"kind": who.kind, "id": who.id, "role": who.role.value, "actor": who.actor,
            "branches": None if who.branches is None else sorted(who.branches),
            "counter": who.counter, "counter_branch": who.counter_branch}


# ------------------------------------------------------------------ the form
@router.get("/login", include_in_schema=False)
async def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return HTMLResponse(_login_page(_safe_next(next)))


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    _same_origin(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=8)
    name, password = form.get("name", [""])[0].strip(), form.get("password", [""])[0]
    target = _safe_next(form.get("next", ["/"])[0])
    try:
        issued = await _sign_in(request, name, password)
    except NotSignedIn as exc:
        return HTMLResponse(_login_page(target, exc.message, exc.message_zh, name), status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, issued.token, max_age=int((issued.expires_at - _now(request)).total_seconds()),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    _same_origin(request)
    who = await _quiet_principal(request)
    if who is not None and who.session is not None:
        await run_in_threadpool(_accounts(request).sign_out, who.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def _quiet_principal(request: Request) -> Principal | None:
    try:
        return await principal_of(request)
    except NotSignedIn:
        return None


def _now(request: Request):  # type: ignore[no-untyped-def]
    return _accounts(request).now()


def _same_origin(request: Request) -> None:
    """The form posts only from this server's own pages (no signing someone in or out from another site)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden(f"A sign-in form posted from another site ({origin[:80]}) is refused.", "不接受来自其他网站的登录请求。")


def _safe_next(target: str) -> str:
    """Only a path on this server: a sign-in form must not send people elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _login_page(target: str, error: str = "", error_zh: str = "", name: str = "") -> str:
    e = html.escape
    alert = f'<p class="err" role="alert">{e(error_zh)} / {e(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>branchq · 登录 / Sign in</title>
<link rel="stylesheet" href="/display/css/screens.css"><link rel="stylesheet" href="/display/css/login.css">
</head><body class="login">
<form method="post" action="/login" class="card" id="login">
<h1>登录 / Sign in</h1>{alert}
<label>用户名 / User name <input name="name" id="name" autocomplete="username" required maxlength="64" value="{e(name)}"></label>
<label>密码 / Password <input name="password" id="password" type="password" autocomplete="current-password" required maxlength="256"></label>
<input type="hidden" name="next" value="{e(target, quote=True)}">
<button type="submit" class="btn primary" id="submit">登录 / Sign in</button>
</form></body></html>"""


def login_redirect(request: Request) -> RedirectResponse:
    """Where a page for people sends someone not signed in: the form, then back here."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


# ------------------------------------------------------------- session API
@router.post("/api/v1/session", status_code=201)
async def open_session(request: Request, body: SignIn) -> dict[str, Any]:
    """Sign in with name and password: a bearer token for API clients (shown once)."""
    issued = await _sign_in(request, body.name, body.password)
    who = await run_in_threadpool(_accounts(request).resolve, issued.token)
    return {"token": issued.token, "session": issued.id, "expires_at": issued.expires_at.isoformat(),
            **_who_body(who)}


@router.get("/api/v1/session")
async def whoami(who: SignedIn) -> dict[str, Any]:
    """Who the credentials belong to: role, branches, a teller's counter."""
    return _who_body(who)


@router.delete("/api/v1/session", status_code=204)
async def close_session(request: Request, who: SignedIn) -> Response:
    """Sign out: this session's token stops working now."""
    if who.session is None:
        raise InvalidInput("A device token is revoked by a manager (DELETE …/devices/{id}), not signed out.")
    await run_in_threadpool(_accounts(request).sign_out, who.session)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.put("/api/v1/session/counter")
async def choose_counter(request: Request, who: SignedIn, body: CounterChoice) -> dict[str, Any]:
    """A teller signs in to one counter (the one they may act on); null signs out of it.

    Anyone else signed in to that counter is moved off it (`took_over_from` names them).
    """
    check(who, Permission.ACT, body.branch)
    svc = request.app.state.services.get(body.branch)
    if svc is None:
        raise NotFound(f"Unknown branch '{body.branch}'.", f"没有'{body.branch}'网点。")
    if body.counter is not None:
        svc.config.counter(body.counter)  # NotFound names the counters
    displaced = await run_in_threadpool(_accounts(request).choose_counter, who, body.branch, body.counter)
    return {**_who_body(who), "counter": body.counter, "counter_branch": body.branch if body.counter else None,
            "took_over_from": displaced}


# ------------------------------------------------------------------ users
@router.get("/api/v1/users")
async def users(request: Request, who: Admin) -> list[dict[str, Any]]:
    return await run_in_threadpool(_accounts(request).users)


@router.post("/api/v1/users", status_code=201)
async def add_user(request: Request, who: Admin, body: NewUser) -> dict[str, Any]:
    await run_in_threadpool(_accounts(request).add_user, body.name, body.role, body.branches, body.password)
    return {"name": body.name, "role": body.role, "branches": body.branches}


@router.delete("/api/v1/users/{name}", status_code=204)
async def revoke_user(request: Request, who: Admin, name: str) -> Response:
    """The user can no longer sign in; their sessions end now (the audit trail keeps their name)."""
    await run_in_threadpool(_accounts(request).revoke_user, name)
    return Response(status_code=204)


# ---------------------------------------------------------------- devices
@router.get("/api/v1/branches/{branch}/devices")
async def devices(request: Request, who: Manager, svc: Service) -> list[dict[str, Any]]:
    return await run_in_threadpool(_accounts(request).devices, svc.id)


@router.post("/api/v1/branches/{branch}/devices", status_code=201)
async def add_device(request: Request, who: Manager, svc: Service, body: NewDevice) -> dict[str, Any]:
    """A kiosk or display token for this branch, shown once; open the screen with ?token=… to install it."""
    accounts = _accounts(request)
    existing = {d["id"]: d for d in await run_in_threadpool(accounts.devices)}
    if body.id in existing and existing[body.id]["branch"] != svc.id:
        raise InvalidInput(f"Device '{body.id}' belongs to branch '{existing[body.id]['branch']}'.")
    issued = await run_in_threadpool(accounts.add_device, body.id, body.role, svc.id, body.days)
    page = f"/kiosk/{svc.id}" if body.role == "kiosk" else f"/display/{svc.id}"
    return {"id": issued.id, "role": body.role, "branch": svc.id, "token": issued.token,
            "expires_at": issued.expires_at.isoformat(), "open": f"{page}?token={issued.token}"}


@router.delete("/api/v1/branches/{branch}/devices/{device}", status_code=204)
async def revoke_device(request: Request, who: Manager, svc: Service, device: str) -> Response:
    accounts = _accounts(request)
    if await run_in_threadpool(accounts.device_branch, device) != svc.id:
        raise NotFound(f"No device '{device}' in branch '{svc.id}'.")
    await run_in_threadpool(accounts.revoke_device, device)
    return Response(status_code=204)
