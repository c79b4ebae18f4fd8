"""Every error a client can cause, in one shape: {"error", "message", "message_zh"}.

The core raises NotFound / IllegalAction / InvalidInput with sentences a teller
can act on; this module is the one place they become HTTP statuses. FastAPI's
own validation errors are rewritten into a sentence naming the field and what
is allowed, so a kiosk programmer never has to decode a pydantic dump.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.core.errors import (
    BranchError,
    Forbidden,
    IllegalAction,
    InconsistentEvent,
    InvalidInput,
    LogError,
    NotFound,
    NotSignedIn,
)
from server.ratelimit import RateLimited
from server.service import STORAGE_ERRORS, StorageUnavailable

STATUS: dict[type[BranchError], int] = {
    NotSignedIn: 401,
    Forbidden: 403,
    NotFound: 404,
    IllegalAction: 409,
    InconsistentEvent: 409,
    InvalidInput: 422,
    LogError: 422,
}


def error_body(code: str, message: str, message_zh: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, "message_zh": message_zh or message, **extra}


def install(app: FastAPI) -> None:
    app.add_exception_handler(BranchError, _branch_error)  # type: ignore[arg-type]
    app.add_exception_handler(StorageUnavailable, _storage)  # type: ignore[arg-type]
    app.add_exception_handler(RateLimited, _rate_limited)  # type: ignore[arg-type]
    for error in STORAGE_ERRORS:  # a read outside BranchService (an export) that meets a down database
        app.add_exception_handler(error, _database_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]


async def _branch_error(_: Request, exc: BranchError) -> JSONResponse:
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    extra = {"line": exc.line} if isinstance(exc, LogError) else {}
    headers = {"WWW-Authenticate": 'Bearer realm="branchq"'} if status == 401 else None
    return JSONResponse(error_body(exc.code, exc.message, exc.message_zh, **extra), status_code=status,
                        headers=headers)


async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
    return JSONResponse(error_body("rate_limited", exc.message, exc.message_zh), status_code=429,
                        headers={"Retry-After": str(exc.retry_after)})


async def _storage(_: Request, exc: StorageUnavailable) -> JSONResponse:
    return JSONResponse(error_body("storage_unavailable", exc.message, exc.message_zh), status_code=503,
                        headers={"Retry-After": "1"})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    return await _storage(request, StorageUnavailable())


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    message = str(exc.detail) if exc.detail else "Error"
    if exc.status_code == 404 and message == "Not Found":
        message = "No such page or API route; the API lives under /api/v1 (see /docs)."
    return JSONResponse(error_body(codes.get(exc.status_code, "http_error"), message),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    sentences = [_sentence(e) for e in exc.errors()]
    message = " ".join(sentences) or "The request is not valid."
    return JSONResponse(error_body("invalid_input", message, "请求内容有误: " + message), status_code=422)


def _sentence(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    where = ".".join(loc) if loc and loc[0] not in ("path", "query", "header") else ".".join(loc[1:])
    kind = err.get("type", "")
    if kind == "json_invalid":
        return f"The body is not valid JSON ({err.get('ctx', {}).get('error', 'syntax error')})."
    if kind == "missing" and not where:
        return "A JSON body is required."
    if kind == "extra_forbidden":
        return f"Unknown field '{where}'."
    if kind in ("model_attributes_type", "dict_type") and not where:
        return "The body must be a JSON object."
    msg = err.get("msg", "is not valid")
    return f"{where}: {msg}." if where else f"{msg}."
