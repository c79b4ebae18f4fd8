"""REST routes under /api/v1: translate HTTP into calls on a BranchService.

No bank rule lives here; the core decides and the service persists. The
shapes of bodies and answers are documented in docs/api.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from server.audit import audit_csv, check_range, event_lines
from server.auth import Admin, CounterActor, Manager, MaybeSignedIn, SignedIn, Viewer
from server.core.access import Permission, Principal, check
from server.core.branch import ACTIONS
from server.core.errors import NotFound, NotSignedIn
from server.core.events import CHANNELS
from server.core.view import ticket_page_view
from server.service import Answer, BranchService

router = APIRouter(prefix="/api/v1")
# The schema lists the actions (docs and fuzzers see them); an unknown one is
# still refused by the service with a sentence naming the allowed ones.
ActionName = Annotated[str, Path(json_schema_extra={"enum": list(ACTIONS)})]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


class TicketRequest(BaseModel):
    """A customer takes a number."""

    model_config = ConfigDict(extra="forbid")
    service: str = Field(min_length=1, max_length=32, examples=["A"])
    channel: Literal[CHANNELS] = "kiosk"  # type: ignore[valid-type]


class CounterActionRequest(BaseModel):
    """Parameters of a counter action; each action takes only its own (see docs/api.md)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=100, description="pause")
    expected_return: datetime | None = Field(default=None, description="pause; ISO time with UTC offset")
    wrapup: bool | None = Field(default=None, description="finish: go straight into back-office work")
    transaction: str | None = Field(default=None, max_length=64, description="finish")
    service: str | None = Field(default=None, max_length=32, description="transfer: the new service")
    services: list[Annotated[str, Field(max_length=32)]] | None = Field(
        default=None, max_length=32, description="open: override the counter's services")


async def branch_service(branch: str, request: Request) -> BranchService:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool,
    # a thread hop on every request for a dict lookup.
    services: dict[str, BranchService] = request.app.state.services
    svc = services.get(branch)
    if svc is None:
        allowed = ", ".join(services) or "none"
        raise NotFound(f"Unknown branch '{branch}'; this server runs: {allowed}.",
                       f"没有'{branch}'网点;本服务器网点: {allowed}。")
    return svc


Service = Annotated[BranchService, Depends(branch_service)]


class FastJSON(JSONResponse):
    """JSON without FastAPI's re-validation of an already-built dict (a third of an action's time)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _reply(answer: Answer) -> FastJSON:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return FastJSON(answer.body, status_code=answer.status, headers=headers)


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    services = request.app.state.services
    # lost_races: actions decided again because another process stored first (server/service.py)
    # estimator_restarts: times the estimator's child process died and was started again (estimator_process.py)
    estimating = request.app.state.estimating
    return {"status": "ok", "branches": list(services), "lost_races": {b: s.conflicts for b, s in services.items()},
            "estimator_restarts": estimating.restarts if estimating is not None else None}


@router.get("/branches")
async def branches(request: Request, who: SignedIn) -> list[dict[str, Any]]:
    """The branches this principal reaches."""
    return [
        {"id": s.id, "name": s.config.name, "seq": s.state.seq,
         "lobby": f"/display/{s.id}", "kiosk": f"/kiosk/{s.id}", "teller": f"/teller/{s.id}"}
        for s in request.app.state.services.values() if who.reaches(s.id)
    ]


@router.get("/branches/{branch}/services")
async def services(who: Viewer, svc: Service) -> list[dict[str, Any]]:
    return await svc.services()


@router.post("/branches/{branch}/tickets", status_code=201, response_class=FastJSON)
async def issue_ticket(who: MaybeSignedIn, svc: Service, body: TicketRequest, request: Request,
                       key: IdempotencyKey = None) -> FastJSON:
    """Staff and kiosks take a number; the public only on the mobile page, when the branch allows it."""
    actor = _may_issue(request, who, svc.id, body.channel)
    return _reply(await svc.issue_ticket(body.service, body.channel, key, actor))


def _may_issue(request: Request, who: Principal | None, branch: str, channel: str) -> str:
    """The actor to record, after the role check and the rate limits (kiosk device, mobile address)."""
    limits = request.app.state.rate_limits
    if who is None:
        if channel != "mobile" or not request.app.state.settings.mobile_tickets:
            raise NotSignedIn("Sign in first, or use a kiosk's device token, to issue tickets "
                              "(without either, only channel 'mobile' where the branch allows it).",
                              "请使用取号机取号。")
        limits["mobile"].hit(f"{branch}/{request.client.host if request.client else '?'}")
        return "public:mobile"
    check(who, Permission.ISSUE, branch)
    if who.kind == "device":
        limits["kiosk"].hit(who.id)
    return who.actor


@router.get("/branches/{branch}/tickets/{ticket}")
async def ticket(svc: Service, ticket: str) -> dict[str, Any]:
    """Public: what the ticket's status page shows (this one ticket only; no personal data exists)."""
    return ticket_page_view(svc.config, await svc.ticket(ticket))


@router.post("/branches/{branch}/counters/{counter}/{action}", response_class=FastJSON)
async def counter_action(who: CounterActor, svc: Service, counter: str, action: ActionName,
                         body: Annotated[CounterActionRequest | None, Body()] = None,
                         key: IdempotencyKey = None) -> FastJSON:
    params = body.model_dump(exclude_none=True) if body is not None else {}
    return _reply(await svc.act(counter, action, params, key, who.actor))


@router.get("/branches/{branch}/state", response_class=FastJSON)
async def state(who: Viewer, svc: Service) -> FastJSON:
    return FastJSON(await svc.view())


@router.get("/branches/{branch}/events", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}}}})
async def export_events(who: Manager, svc: Service,
                        start: Annotated[datetime | None, Query(alias="from")] = None,
                        end: Annotated[datetime | None, Query(alias="to")] = None) -> Response:
    """The branch's event log as JSON Lines (spec v1.1), optionally from <= ts < to; each line also names
    its `actor` (an extra field, which readers of the spec ignore)."""
    check_range(start, end)
    lines = await run_in_threadpool(event_lines, svc.store, svc.id, start, end)
    text = "".join(line + "\n" for line in lines)
    return Response(text, media_type="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{svc.id}-events.jsonl"'})


@router.get("/branches/{branch}/audit", response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
async def audit(who: Manager, svc: Service,
                format: Literal["jsonl", "csv"] = "jsonl",
                start: Annotated[datetime | None, Query(alias="from")] = None,
                end: Annotated[datetime | None, Query(alias="to")] = None) -> Response:
    """Who did what: every event with its actor (managers and admins), as JSON Lines or CSV."""
    check_range(start, end)
    if format == "csv":
        text = await run_in_threadpool(lambda: audit_csv(svc.store.audit(svc.id, start, end)))
        media, ext = "text/csv; charset=utf-8", "csv"
    else:
        lines = await run_in_threadpool(event_lines, svc.store, svc.id, start, end)
        text, media, ext = "".join(line + "\n" for line in lines), "application/x-ndjson", "jsonl"
    return Response(text, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{svc.id}-audit.{ext}"'})


@router.post("/branches/{branch}/events", openapi_extra={
    "requestBody": {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}, "required": True}})
async def import_events(who: Admin, svc: Service, request: Request) -> dict[str, Any]:
    """Append a JSONL log after the branch's history: all of it or nothing; a bad line is named (admin)."""
    body = await request.body()
    return await svc.import_log(body.splitlines(), who.actor)


@router.get("/branches/{branch}/screens")
async def screens(who: Manager, svc: Service, request: Request) -> list[dict[str, Any]]:
    """Screens connected to this branch's feed, with their last heartbeat (for the manager page)."""
    return request.app.state.screens.list(svc.id)
