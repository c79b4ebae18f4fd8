"""The screens' HTML pages and their assets (display/ and kiosk/ hold them).

Each page is one HTML file that reads its branch (and counter or ticket) from
its own URL and talks to the API and the WebSocket. Everything else under
/display/ and /kiosk/ is a static file of that folder (e.g. /display/js/bq.js,
/kiosk/assets/kiosk.css): the page routes are matched first, the folders after.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from server.auth import principal_of
from server.auth_api import login_redirect
from server.core.access import Permission, check
from server.core.errors import NotFound, NotSignedIn

PAGES = {  # route -> (folder, file)
    "/display/{branch}": ("display", "lobby.html"),
    "/display/{branch}/counter/{counter}": ("display", "counter.html"),
    "/kiosk/{branch}": ("kiosk", "kiosk.html"),
    "/t/{branch}/{ticket}": ("kiosk", "ticket.html"),
    "/teller/{branch}": ("display", "teller.html"),
    "/manager/{branch}": ("display", "manager.html"),
}
# Pages for people: without a session they redirect to the sign-in form. The
# screens (lobby, counter, kiosk) load freely and hold no data: their JS needs
# a device token for that; the ticket page is public and shows one ticket.
FOR_PEOPLE = {"/teller/{branch}": Permission.ACT, "/manager/{branch}": Permission.MANAGE}


def mount(app: FastAPI, root: Path) -> None:
    router = APIRouter(include_in_schema=False)
    for route, (folder, name) in PAGES.items():
        router.add_api_route(route, _page(root / folder / name, FOR_PEOPLE.get(route)), methods=["GET"])
    app.include_router(router)
    for folder in ("display", "kiosk"):
        app.mount(f"/{folder}", StaticFiles(directory=root / folder, check_dir=False), name=folder)


def _page(path: Path, permission: Permission | None):  # type: ignore[no-untyped-def]
    async def page(request: Request, branch: str) -> Response:
        if permission is not None:
            try:
                who = await principal_of(request)
            except NotSignedIn:  # expired or revoked: sign in again
                who = None
            if who is None:
                return login_redirect(request)
            check(who, permission, branch)
        svc = request.app.state.services.get(branch)
        if svc is None:
            raise NotFound(f"Unknown branch '{branch}'.", f"没有'{branch}'网点。")
        if "counter" in request.path_params:
            svc.config.counter(request.path_params["counter"])  # NotFound names the counters
        if not path.is_file():
            raise NotFound(f"This screen ({path.parent.name}/{path.name}) is not installed yet.",
                           "该屏幕页面尚未安装。")
        return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    return page
