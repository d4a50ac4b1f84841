"""The operator console's FastAPI app: `create_app(settings)`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from anxin.db.engine import make_engine, session_factory
from anxin.health import broker_check, influx_check, report, sql_check
from anxin.influxql import InfluxQL
from anxin.web_headers import add_security_headers
from console.config import ConsoleSettings
from console.hardening import CSP, serve_docs
from console.i18n import translator
from console.overview import OverviewCache
from console.redaction import mask_key
from console.routers import (
    accounts,
    alerts,
    audit,
    auth,
    demo,
    homes,
    live,
    outbox,
    registry,
    registry_install,
    responders,
)
from console.snapshot import ActivitySnapshot
from console.throttle import LoginThrottle
from console.web import STATIC, LoginRequired, login_redirect, make_templates, render, request_lang

log = logging.getLogger(__name__)

DESCRIPTION = (
    "The operators' console of Anxin. Every page has a JSON twin under `/api/`. Authenticate with an API token "
    "(`Authorization: Bearer anx_...`, made with `anxin console token create`) or a browser session; changes made "
    "with a session also need its CSRF token in `X-CSRF-Token`. Residents' personal data is never returned to viewers."
)


def create_app(settings: ConsoleSettings, *, background: bool = True) -> FastAPI:
    """The console app for these settings; activity is refreshed in the background while the app runs."""
    engine = make_engine(settings.database.url)
    token = settings.influx.token.get_secret_value() if settings.influx.token else None
    timeout = min(settings.influx.timeout_s, settings.console.influx_timeout_s)
    influx = InfluxQL(settings.influx.url, settings.influx.database, token, timeout)
    snapshot = ActivitySnapshot(influx, settings.console.refresh_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background:
            _app.state.snapshot.start()
        yield
        _app.state.snapshot.stop()
        engine.dispose()

    app = FastAPI(
        title="Anxin console",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from local files below, never from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.sessions = session_factory(engine)
    app.state.influx = influx
    app.state.snapshot = snapshot
    app.state.overview = OverviewCache()
    app.state.templates = make_templates(settings.console.timezone)
    app.state.mask_key = mask_key(settings.state_dir)
    app.state.throttle = LoginThrottle(settings.console.lockout_after, settings.console.lockout_minutes * 60)
    add_security_headers(app, CSP)
    if not serve_docs(app):
        log.warning("swagger-ui-py is not installed: /api/docs is off (the API is described at /api/openapi.json)")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    for router in (auth, homes, alerts, responders, outbox, audit, accounts, live, registry, registry_install, demo):
        app.include_router(router.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Response:
        """SQL, InfluxDB and the broker (when [mqtt] is set) reachable, newest event age; 503 names what is down."""
        checks = [sql_check(app.state.sessions), influx_check(influx)]
        if settings.mqtt is not None:
            checks.append(broker_check(settings.mqtt.host, settings.mqtt.port))
        age = _newest_event_age(app.state.snapshot) if checks[1].ok else None
        status, body = report(checks, last_event_age_s=age)
        if status != 200:
            log.warning("health check: %s down", ", ".join(body["down"]))
        return JSONResponse(body, status_code=status)

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, err: LoginRequired) -> Response:
        return RedirectResponse(login_redirect(err.next_path), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or err.status_code < 400 or request.method != "GET":
            if not request.url.path.startswith("/api/") and request.method != "GET" and err.status_code in (403, 404):
                return _page_error(request, err)
            return await http_exception_handler(request, err)
        return _page_error(request, err)

    def _page_error(request: Request, err: StarletteHTTPException) -> Response:
        t = translator(request_lang(request))
        key = {403: "error.forbidden", 404: "error.not_found"}.get(err.status_code, "error.generic")
        return render(request, "error.html", {"message": t(key)}, status_code=err.status_code)

    @app.exception_handler(SQLAlchemyError)
    async def database_down(request: Request, err: SQLAlchemyError) -> Response:
        log.error("database error on %s: %s", request.url.path, err)
        if request.url.path.startswith("/api/"):
            message = translator("en")("error.database")
            return JSONResponse({"detail": message}, status_code=503)
        lang = request_lang(request)
        return render(request, "error.html", {"message": translator(lang)("error.database")}, status_code=503)

    return app


def _newest_event_age(snapshot: ActivitySnapshot) -> float | None:
    """Seconds since the newest sensor event any home stored: the whole pipeline's freshness, as the console sees it."""
    activity = snapshot.get()
    if not activity.available or not activity.last_event:
        return None
    return round((datetime.now(UTC) - max(activity.last_event.values())).total_seconds(), 1)


__all__ = ["HTTPException", "create_app"]
