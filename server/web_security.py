"""Security headers on every answer, and CORS closed unless configured.

The screens load nothing inline and nothing from elsewhere, so their pages get
a strict Content-Security-Policy: scripts, styles and connections only from
this server. The API docs (/docs, Swagger UI from a CDN) and the simulator's
self-contained HTML reports (/reports) need inline code, so they get only the
framing and sniffing protections.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import MutableHeaders

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
LOOSE_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
LOOSE_PATHS = ("/docs", "/redoc", "/reports")
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Pure ASGI middleware (no per-request object beyond the headers it touches)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        strict = not scope["path"].startswith(LOOSE_PATHS)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = CSP if strict else LOOSE_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, cors_origins: list[str]) -> None:
    """Headers on everything; CORS only for the origins listed in BRANCHQ_CORS_ORIGINS (none by default)."""
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"], max_age=600)
    app.add_middleware(SecurityHeaders)
