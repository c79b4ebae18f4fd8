"""Caps that keep one client from hurting the branch, checked before any route runs.

An action body is a few hundred bytes; only a log import may be large. A body
over its cap is answered 413 without being read into memory beyond the cap.
A lobby has a handful of screens; one address opening hundreds of feeds is a
bug or an attack, and each feed costs a queue and a send per event, so feeds
are capped per client address and in all.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

Scope = dict[str, Any]


class BodyLimit:
    """Pure ASGI middleware: `import_paths` (ending with /events) get the larger cap."""

    def __init__(self, app: Any, default: int, large: int) -> None:
        self.app, self.default, self.large = app, default, large

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = self.large if scope["path"].endswith("/events") else self.default
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                return await _too_large(send, limit)
            return await self.app(scope, receive, send)  # the server enforces the declared length
        # Chunked: read up to the cap, then hand the buffered body on.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _too_large(send, limit)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({
        "error": "body_too_large",
        "message": f"The request body is larger than {limit} bytes.",
        "message_zh": f"请求内容超过{limit}字节。",
    }).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class WebSocketCap:
    """Pure ASGI middleware: at most `per_address` open WebSockets per client address, `total` in all.

    A refused socket is accepted and closed at once with a reason, so the
    browser's onclose sees why (a refusal before accepting is a bare HTTP 403).
    1008 (policy): this address has too many; 1013 (try again later): the
    server has too many. Behind a reverse proxy every screen shares the
    proxy's address unless uvicorn trusts its X-Forwarded-For (--proxy-headers).
    """

    def __init__(self, app: Any, per_address: int, total: int) -> None:
        self.app, self.per_address, self.total = app, per_address, total
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        address = scope["client"][0] if scope.get("client") else "unknown"
        if self.open[address] >= self.per_address:
            return await _refuse(receive, send, 1008, f"too many connections from {address} "
                                                      f"(at most {self.per_address}); close some screens")
        if self.open.total() >= self.total:
            return await _refuse(receive, send, 1013, f"the server has its maximum of {self.total} "
                                                      "connections; try again later")
        self.open[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]


async def _refuse(receive: Any, send: Any, code: int, reason: str) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason[:120]})
