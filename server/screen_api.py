"""Routes the screens need beyond the core API: the day's figures (manager page
and teller console), a ticket's QR code, and printing a ticket's receipt.

Like api.py these only translate HTTP; the figures and the alert rule live in
server/core/figures.py, the receipt layout in server/printer.py.
"""

from __future__ import annotations

import html
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.types import Scope

from server.api import Service
from server.auth import FiguresReader, Printer
from server.core.errors import IllegalAction, NotFound
from server.core.events import Event, parse_event
from server.core.figures import figures as day_figures
from server.core.state import BranchState
from server.printer import Receipt, network_printer, print_receipt
from server.service import BranchService

router = APIRouter(prefix="/api/v1")
FIGURES_TTL_S = 5.0  # the manager page and five tellers poll; one computation serves them all
_cache: dict[tuple[str, float], tuple[int, datetime, dict[str, Any]]] = {}


@router.get("/branches/{branch}/figures")
async def figures(who: FiguresReader, svc: Service, alert_after: Annotated[float, Query(ge=0, le=240)] = 10.0) -> dict[str, Any]:
    """Today's figures: waiting, longest wait, share called within 10 min in the last hour,
    counter timelines and per-counter figures, and "staffed but not calling" alerts."""
    key = (svc.id, alert_after)
    seq, now = svc.state.seq, svc.branch.now()
    hit = _cache.get(key)
    if hit is not None and hit[0] == seq and 0 <= (now - hit[1]).total_seconds() < FIGURES_TTL_S:
        return hit[2]
    start = _day_start(svc.state, svc)
    events = await run_in_threadpool(_events_since, svc, start)
    body = await run_in_threadpool(day_figures, svc.config, events, now, alert_after)
    _cache[key] = (seq, now, body)
    return body


@router.get("/branches/{branch}/tickets/{ticket}/qr.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
async def ticket_qr(svc: Service, ticket: str, request: Request) -> Response:
    """A QR code to the ticket's status page (/t/{branch}/{ticket}) for the kiosk and the receipt."""
    await svc.ticket(ticket)  # 404 for a ticket not issued today
    buf = io.BytesIO()
    segno.make(status_url(request, svc.id, ticket), error="m").save(buf, kind="svg", scale=10, border=2,
                                                                     xmldecl=False, svgns=True)
    return Response(buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})


class PrintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: Literal["zh", "en"] = "zh"


@router.post("/branches/{branch}/tickets/{ticket}/print")
async def print_ticket(who: Printer, svc: Service, ticket: str, request: Request,
                       body: Annotated[PrintRequest | None, Body()] = None) -> dict[str, Any]:
    """Print the ticket on the branch's ESC/POS printer (404 when none is configured:
    the kiosk then prints through the browser)."""
    address = getattr(request.app.state.settings, "printer", None)
    if not address:
        raise NotFound("No receipt printer is configured (BRANCHQ_PRINTER); print from the browser.",
                       "未配置小票打印机,请使用浏览器打印。")
    info = await svc.ticket(ticket)
    receipt = receipt_for(svc, info, status_url(request, svc.id, ticket), (body or PrintRequest()).lang)
    factory = getattr(request.app.state, "printer_factory", None) or network_printer(address)
    try:
        await run_in_threadpool(_print, factory, receipt)
    except OSError as exc:
        raise IllegalAction(f"The receipt printer did not answer ({exc.__class__.__name__}); check its cable and paper.",
                            "小票打印机无响应,请检查连接和纸张。") from None
    return {"printed": ticket}


class ReportFiles(StaticFiles):
    """The simulator's HTML reports folder (`branchq sim run --report reports/NAME`), served at /reports/.

    The folder may appear after the server starts: until then, 404 rather than an error.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)

    async def check_config(self) -> None:
        if Path(str(self.directory)).is_dir():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        root = Path(str(self.directory))
        if not root.is_dir():
            raise HTTPException(404, "No simulator reports yet: run `branchq sim run --report reports/NAME`.")
        if path in ("", ".") and not (root / "index.html").is_file():
            return HTMLResponse(_report_index(root))
        return await super().get_response(path, scope)


def _report_index(root: Path) -> str:
    """A plain list of the HTML reports in the folder (two levels deep), newest first."""
    pages = sorted((p for pattern in ("*.html", "*/*.html") for p in root.glob(pattern)),
                   key=lambda p: p.stat().st_mtime, reverse=True)[:200]
    items = "".join(
        f'<li><a href="{html.escape(p.relative_to(root).as_posix(), quote=True)}">'
        f"{html.escape(p.relative_to(root).as_posix())}</a></li>" for p in pages
    ) or "<li>—</li>"
    return (
        '<!doctype html><meta charset="utf-8"><title>branchq · 模拟报告 / Simulator reports</title>'
        f"<h1>模拟报告 / Simulator reports</h1><ul>{items}</ul>"
    )


def receipt_for(svc: BranchService, info: dict[str, Any], url: str, lang: str) -> Receipt:
    service = svc.config.service(info["service"])
    wait = info.get("wait") or {}
    issued = datetime.fromisoformat(info["issued_at"]).astimezone(svc.config.tz)
    return Receipt(
        branch_name=svc.config.name, number=info["ticket"],
        service_name=service.label(lang), people_ahead=info.get("people_ahead"),
        wait_text=wait.get("text_en" if lang == "en" else "text_zh", "") or "",
        issued_at=issued.strftime("%H:%M"), status_url=url, lang=lang,
    )


def status_url(request: Request, branch: str, ticket: str) -> str:
    """The ticket page's address as a phone on the branch Wi-Fi reaches it
    (BRANCHQ_PUBLIC_URL when the kiosk talks to the server by another name)."""
    base = getattr(request.app.state.settings, "public_url", None) or str(request.base_url)
    return f"{base.rstrip('/')}/t/{branch}/{ticket}"


def _print(factory: Any, receipt: Receipt) -> None:
    printer = factory()
    try:
        print_receipt(printer, receipt)
    finally:
        close = getattr(printer, "close", None)
        if close is not None:
            close()


def _day_start(state: BranchState, svc: BranchService) -> datetime | None:
    if state.day is None:
        return None
    cfg = svc.config
    return datetime.combine(state.day, cfg.day_starts_at, tzinfo=cfg.tz)


def _events_since(svc: BranchService, start: datetime | None) -> list[Event]:
    out = []
    for line in svc.store.payloads(svc.id, start, None):
        ev = parse_event(json.loads(line))
        if ev is not None:
            out.append(ev)
    return out
