"""Admin routes under /api/v1/admin: the branches one deployment runs, managed without a restart.

`PUT /api/v1/admin/branches/{branch}` takes a branch config as JSON or TOML
(the format of server/branches/demo.toml), validates it with the core's
`config_from_mapping`, saves it in the database and puts it in force: a new
branch goes live at once in this process (in the others within
`branch_poll_seconds`); a changed one records its new set-up in its log, which
the other processes catch up on. Branches configured by files belong to the
deployment and are read-only here. Only admins may use these routes.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from server.auth import allow
from server.branch_configs import save_config
from server.core.access import Permission
from server.core.config import config_from_mapping
from server.core.errors import IllegalAction, InvalidInput, NotFound
from server.service import BranchService

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[allow(Permission.ADMIN)])
TOML_TYPES = ("application/toml", "text/toml", "text/x-toml")


def _summary(request: Request, svc: BranchService) -> dict[str, Any]:
    source = "file" if svc.id in request.app.state.file_branches else "database"
    return {"branch": svc.id, "name": svc.config.name, "source": source, "seq": svc.state.seq}


def _running(request: Request, branch: str) -> BranchService:
    svc = request.app.state.services.get(branch)
    if svc is None:
        raise NotFound(f"Unknown branch '{branch}'; this deployment runs: {', '.join(request.app.state.services)}.",
                       f"没有'{branch}'网点。")
    return svc


@router.get("/branches")
async def list_branches(request: Request) -> list[dict[str, Any]]:
    """Every branch this process runs, with where its config comes from."""
    return [_summary(request, svc) for svc in request.app.state.services.values()]


@router.get("/branches/{branch}")
async def get_branch(branch: str, request: Request) -> dict[str, Any]:
    """The branch's config in force (the fields of its `branch_config` event)."""
    svc = _running(request, branch)
    return {**_summary(request, svc), "config": svc.config.event_fields()}


@router.put("/branches/{branch}", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}}, "application/toml": {"schema": {"type": "string"}}}}})
async def put_branch(branch: str, request: Request) -> JSONResponse:
    """Create (201) or change (200) a branch from a JSON or TOML config; 422 names what is wrong."""
    data = _parse(await request.body(), request.headers.get("content-type", ""))
    named = str(data.get("branch") or data.get("id") or branch)
    if named != branch:
        raise InvalidInput(f"The config is for branch '{named}' but the address names '{branch}'; they must match.")
    config = config_from_mapping({**data, "branch": branch})
    app = request.app
    if branch in app.state.file_branches:
        raise IllegalAction(f"Branch '{branch}' is configured by a file of this deployment; change that file "
                            "and restart instead.", f"'{branch}'网点由部署的配置文件设定,请修改该文件后重启。")
    async with app.state.admin_lock:
        await run_in_threadpool(save_config, app.state.store, config)
        svc = app.state.services.get(branch)
        if svc is None:
            svc = app.state.services[branch] = await run_in_threadpool(app.state.open_branch, config)
            status = 201
        else:
            await svc.reconfigure(config)
            status = 200
    return JSONResponse({**_summary(request, svc), "config": svc.config.event_fields()}, status_code=status)


def _parse(body: bytes, content_type: str) -> dict[str, Any]:
    """The request's config table: TOML when the Content-Type says so, JSON otherwise."""
    is_toml = content_type.split(";")[0].strip().lower() in TOML_TYPES
    try:
        text = body.decode("utf-8")
        data = tomllib.loads(text) if is_toml else json.loads(text)
    except UnicodeDecodeError:
        raise InvalidInput("The config must be UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"The config is not valid TOML ({exc}).") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"The config is not valid JSON ({exc.msg} at line {exc.lineno}); send JSON, or TOML "
                           f"with Content-Type: {TOML_TYPES[0]}.") from None
    if not isinstance(data, dict):
        raise InvalidInput("The config must be a table (a JSON object) with branch, services and counters.")
    return data
