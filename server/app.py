"""The FastAPI application: `create_app(settings)`.

Nothing connects at import time. The lifespan opens the store, starts the
writer thread, loads every configured branch by folding its stored log, and
runs the refresh task; on shutdown it stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from pathlib import Path

from fastapi import FastAPI

from server import admin_api, api, auth_api, http_errors, pages, screen_api, web_security, ws
from server.accounts import Accounts
from server.auth import Guarded
from server.branch_configs import saved_configs
from server.collector import COLLECTOR
from server.core.access import Permission
from server.core.clock import Clock
from server.core.config import BranchConfig
from server.core.estimates import EstimatorLike
from server.estimator_process import EstimatorProcess
from server.hub import Hub
from server.limits import BodyLimit, WebSocketCap
from server.ratelimit import RateLimiter
from server.screens import ScreenRegistry
from server.service import BranchService, SystemClock, make_estimator
from server.settings import Settings
from server.store import Store

log = logging.getLogger("branchq")


PACKAGE = Path(__file__).resolve().parent


def frontend_root(package: Path = PACKAGE) -> Path:
    """Where display/ and kiosk/ are: beside server/ in a checkout, server/frontend/ in an installed wheel."""
    checkout = package.parent
    if (checkout / "display").is_dir() and (checkout / "kiosk").is_dir():
        return checkout
    return package / "frontend"  # setup.py copies the screens there when it builds a wheel


FRONTEND_ROOT = frontend_root()
FIRST_ESTIMATES_WAIT_S = 20.0  # start-up waits this long at most for the estimator process's first answers


def create_app(
    settings: Settings | None = None,
    clock: Clock | None = None,
    estimator_factory: Callable[[BranchConfig], EstimatorLike | None] = make_estimator,
) -> FastAPI:
    """The app for the configured branches; `clock` is injected by tests (default: the wall clock)."""
    settings = settings or Settings()
    wall: Clock = clock or SystemClock(UTC)  # sessions, tokens and rate limits (in UTC)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.db_url)
        store.migrate()  # every table, the accounts' too (server/migrations)
        accounts = Accounts(store.engine, wall.now, timedelta(hours=settings.session_hours),
                            timedelta(days=settings.device_days))
        # One writer thread on SQLite: it has one write lock anyway, and many
        # threads fighting for it is what makes the p99 explode (../shared
        # notes). On PostgreSQL a few, each with its own connection: commits
        # of different branches then share fsyncs (1 -> 8 connections took
        # 250 -> 1,757 commits/s here); a branch's actions stay one at a time.
        threads = 1 if store.engine.dialect.name == "sqlite" else settings.pg_writer_threads
        writer = (ThreadPoolExecutor(max_workers=threads, thread_name_prefix="branchq-writer")
                  if settings.writer == "thread" else None)
        hub = Hub(settings.ws_queue_size, settings.ws_history)
        # The estimator in a child process unless a test hands in its own
        # (a factory the child could not import) or asks for it in-process.
        estimating = (EstimatorProcess() if settings.estimator and settings.estimator_process
                      and estimator_factory is make_estimator else None)
        if estimating is not None:
            await estimating.start()

        def open_branch(config: BranchConfig) -> BranchService:
            """A running branch: its stored log folded (blocking); in-process, its first estimates made."""
            local = settings.estimator and estimating is None
            svc = BranchService(config, store, hub, clock or SystemClock(config.tz), writer,
                                estimator_factory(config) if local else None, settings.estimate_delay_seconds,
                                remote=estimating.branch(config.branch) if estimating is not None else None)
            svc.load()
            svc.current_view()  # in-process: the first estimates, so the first ticket already has a wait
            return svc

        services = {branch_id: open_branch(config) for branch_id, config in settings.configs().items()}
        app.state.file_branches = frozenset(services)  # the deployment's files; the admin API cannot change them
        for branch_id, config in saved_configs(store).items():
            services.setdefault(branch_id, open_branch(config))
        app.state.settings, app.state.store, app.state.hub = settings, store, hub
        app.state.estimating = estimating
        app.state.services, app.state.screens = services, ScreenRegistry()
        app.state.accounts, app.state.rate_limits = accounts, {
            "kiosk": RateLimiter(settings.kiosk_tickets_per_minute, wall.now, "kiosk"),
            "mobile": RateLimiter(settings.mobile_tickets_per_minute, wall.now, "address"),
            "sign_in": RateLimiter(settings.sign_ins_per_minute, wall.now, "address"),
        }
        app.state.open_branch, app.state.admin_lock = open_branch, asyncio.Lock()
        # The first estimates, so the first ticket already has a wait (the child starts in 1-2 s).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(svc.refresh_estimates() for svc in services.values())),
                                   FIRST_ESTIMATES_WAIT_S)
        COLLECTOR.install()  # full collections must not pause the loop (server/collector.py)
        relay = None
        if settings.redis_url:  # several processes: each tells the others what it stored
            from server.relay import Relay  # redis is an optional extra

            relay = Relay(settings.redis_url, settings.redis_prefix, services, hub)
            relay.start()
        background = [asyncio.create_task(_refresh(services, hub, settings.refresh_seconds)),
                      asyncio.create_task(_turn_days(services, settings.day_check_seconds)),
                      asyncio.create_task(_discover_branches(app, settings.branch_poll_seconds))]
        try:
            yield
        finally:
            if relay is not None:
                await relay.stop()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for svc in list(services.values()):  # (a refresh due now would ask a closed store and writer)
                await svc.stop()
            if writer is not None:
                writer.shutdown(wait=True)
            store.close()
            if estimating is not None:
                await estimating.close()
            COLLECTOR.uninstall()

    app = FastAPI(title="branchq", version="0.1.0", lifespan=lifespan,
                  description="Queue and honest wait-time display for bank branches. See docs/api.md.")
    http_errors.install(app)
    app.include_router(api.router)
    app.include_router(auth_api.router)  # sign-in, sessions, users, device tokens
    app.include_router(admin_api.router)  # branch configs, admins only
    app.include_router(ws.router)
    app.include_router(screen_api.router)  # figures, ticket QR codes, receipt printing
    pages.mount(app, FRONTEND_ROOT)
    app.mount("/reports", Guarded(screen_api.ReportFiles(settings.reports_dir), Permission.MANAGE), name="reports")
    app.add_middleware(BodyLimit, default=settings.max_body_bytes, large=settings.max_import_bytes)
    app.add_middleware(WebSocketCap, per_address=settings.ws_max_per_address, total=settings.ws_max_total)
    web_security.install(app, settings.cors_origins)
    return app


async def _discover_branches(app: FastAPI, every: float) -> None:
    """Open branches that another process added through the admin API (it opened them at once)."""
    while True:
        await asyncio.sleep(every)
        try:
            await add_saved_branches(app)
        except Exception:  # storage down: try again next time
            log.exception("looking for branches added elsewhere failed")


async def add_saved_branches(app: FastAPI) -> list[str]:
    """Open every branch saved in the database that this process does not run yet; their ids."""
    services = app.state.services
    added = []
    for branch_id, config in (await asyncio.to_thread(saved_configs, app.state.store)).items():
        if branch_id in services:
            continue
        async with app.state.admin_lock:
            if branch_id not in services:
                services[branch_id] = await asyncio.to_thread(app.state.open_branch, config)
                added.append(branch_id)
    return added


async def _turn_days(services: dict[str, BranchService], every: float) -> None:
    """Close out each branch's day soon after it turns, not at its first action next morning."""
    while True:
        await asyncio.sleep(every)
        closed = False
        for svc in list(services.values()):  # a copy: branches may be added meanwhile
            try:
                closed |= await svc.close_day_if_due()
            except Exception:  # e.g. storage down: try again next time
                log.exception("closing the day of branch %s failed", svc.id)
        if closed:  # the day's tickets are gone from memory: the night is the time for a whole-heap sweep
            COLLECTOR.sweep()


async def _refresh(services: dict[str, BranchService], hub: Hub, every: float) -> None:
    """Wait texts age without events: resend the view to screens now and then (only with an estimator)."""
    while True:
        await asyncio.sleep(every)
        for svc in list(services.values()):
            if not svc.estimating or hub.subscriber_count(svc.id) == 0:
                continue
            try:
                await svc.publish_refresh(force=True)
            except Exception:  # a bug here must not stop the loop for the other branches
                log.exception("refreshing branch %s failed", svc.id)
