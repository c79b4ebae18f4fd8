"""The screens' live feed: WebSocket /ws/v1/branches/{branch}.

On connect: a snapshot (or, with ?since=SEQ, just the messages missed since
SEQ when the hub still has them). Then every event, in seq order. Each screen
has its own queue in the hub; this module only moves that queue to the socket,
so a screen that cannot keep up affects nobody else (docs/api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from server.auth import principal_of
from server.core.access import Permission, check
from server.core.errors import BranchError, NotSignedIn
from server.core.view import ticket_page_view, ticket_view
from server.hub import RESYNC, Hub
from server.screens import Screen, ScreenRegistry
from server.service import BranchService

router = APIRouter()
log = logging.getLogger("branchq")
MAX_CLIENT_MESSAGE = 4096  # hello and ping are tiny; anything bigger is ignored


@router.websocket("/ws/v1/branches/{branch}")
async def feed(ws: WebSocket, branch: str, since: int | None = None,
               screen_kind: Annotated[str | None, Query(alias="screen")] = None,
               ticket: Annotated[str | None, Query(max_length=16)] = None) -> None:
    """The branch's feed for screens with a token (or a session); without one, only `?ticket=`'s own status."""
    services: dict[str, BranchService] = ws.app.state.services
    hub: Hub = ws.app.state.hub
    registry: ScreenRegistry = ws.app.state.screens
    svc = services.get(branch)
    if svc is None:
        await ws.close(code=4404, reason=f"unknown branch {branch}"[:120])
        return
    await ws.accept()
    render = await _renderer(ws, svc, ticket)
    if render is None:
        return
    client = f"{ws.client.host}:{ws.client.port}" if ws.client else "?"
    screen = registry.add(branch, client, svc.branch.now())
    if screen_kind:
        screen.kind = screen_kind[:32]
    sub = hub.subscribe(branch)
    try:
        async with svc.lock:  # snapshot and subscription at the same seq: nothing missed, nothing twice
            if render is _everything:
                missed = hub.replay(branch, since, svc.state.seq) if since is not None else None
                first = [_snapshot(svc)] if missed is None else [text for _, text in svc.event_messages(missed)]
            else:  # a phone: its own ticket, nothing of the branch
                first = [render("") or ""]
            screen.seq = svc.state.seq
        # Two tasks: the sender alone writes to the socket; whichever ends first
        # (the screen left, or its socket broke) ends the other.
        tasks = {asyncio.create_task(_send(ws, svc, sub, screen, first, render)),
                 asyncio.create_task(_receive(ws, svc, sub, screen))}
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("screen feed of branch %s failed", branch, exc_info=task.exception())
                await _close_quietly(ws, 1011)
            elif not task.cancelled() and isinstance(task.result(), str):  # its token stopped working
                await _close_quietly(ws, 4401, task.result())
    finally:
        hub.unsubscribe(sub)
        registry.remove(screen)


async def _renderer(ws: WebSocket, svc: BranchService, ticket: str | None) -> Callable[[str], str | None] | None:
    """What this connection may see: everything (a screen with a token, or staff), or one ticket
    (a phone without sign-in). None: refused, and the socket closed saying why (4401/4403/4404)."""
    try:
        who = await principal_of(ws, allow_query=True)
        if who is not None:
            check(who, Permission.VIEW, svc.id)
            return _everything
    except BranchError as exc:
        await _close_quietly(ws, 4401 if isinstance(exc, NotSignedIn) else 4403, exc.message)
        return None
    if ticket is None:
        await _close_quietly(ws, 4401, "Sign in, or give this screen a device token (?token=...).")
        return None
    if ticket not in svc.state.tickets:
        await _close_quietly(ws, 4404, f"Ticket {ticket} was not issued today.")
        return None
    return _one_ticket(svc, ticket)


def _everything(text: str) -> str:
    return text


def _one_ticket(svc: BranchService, number: str) -> Callable[[str], str | None]:
    """A phone's feed: its ticket's status after each change (sent only when it changed), and pongs."""
    last: list[str] = []

    def render(text: str) -> str | None:
        if text.startswith('{"type": "pong"'):
            return text
        if number not in svc.state.tickets:  # a new business day started
            body = None
        else:
            body = ticket_page_view(svc.config, ticket_view(svc.config, svc.state, number, svc.estimates(fresh=False)))
        out = json.dumps({"type": "ticket", "ticket": body}, ensure_ascii=False)
        if last and last[0] == out:
            return None
        last[:] = [out]
        return out

    return render


def _snapshot(svc: BranchService) -> str:
    return json.dumps({"type": "snapshot", **svc.current_view()}, ensure_ascii=False)


async def _send(ws: WebSocket, svc: BranchService, sub: Any, screen: Screen, first: list[str],
                render: Callable[[str], str | None]) -> None:
    try:
        for text in first:
            await ws.send_text(text)
        while True:
            seq, text = await sub.get()
            if text == RESYNC:
                async with svc.lock:
                    text, seq = _snapshot(svc), svc.state.seq
                screen.seq = seq
            elif seq is not None:
                if seq <= screen.seq:
                    continue  # already in the snapshot this screen got
                screen.seq = seq
            out = render(text)
            if out is not None:
                await ws.send_text(out)
    except (WebSocketDisconnect, RuntimeError, OSError):
        await _close_quietly(ws)


async def _receive(ws: WebSocket, svc: BranchService, sub: Any, screen: Screen) -> str | None:
    """Hello and ping from the screen; anything else is ignored.

    A pong goes through the screen's own queue, so only the sender task ever
    writes to the socket. Each ping also re-checks the screen's credentials: a
    revoked or expired token ends the feed (the reason is returned, and the
    socket closed with 4401) instead of streaming until the next reconnect.
    """
    while True:
        try:
            text = await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return
        screen.last_seen = svc.branch.now()
        msg = _parse(text)
        if msg.get("type") == "hello":
            screen.kind = str(msg.get("screen") or "unknown")[:32]
            screen.id = str(msg["id"])[:64] if msg.get("id") is not None else None
        elif msg.get("type") == "ping":
            try:
                await principal_of(ws, allow_query=True)  # cached: no database read per ping
            except NotSignedIn as exc:
                return exc.message
            with contextlib.suppress(asyncio.QueueFull):  # a full queue resyncs anyway
                sub.queue.put_nowait((None, json.dumps({"type": "pong", "seq": svc.state.seq})))


def _parse(text: str) -> dict[str, Any]:
    if len(text) > MAX_CLIENT_MESSAGE:
        return {}
    try:
        msg = json.loads(text)
    except ValueError:
        return {}
    return msg if isinstance(msg, dict) else {}


async def _close_quietly(ws: WebSocket, code: int = 1000, reason: str | None = None) -> None:
    with contextlib.suppress(Exception):  # already closed: nothing to do
        await ws.close(code, reason[:120] if reason else None)
