"""The operator console's FastAPI app: `create_app(settings)`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from anxin.db.engine import make_engine, session_factory
from anxin.influxql import InfluxQL
from console.config import ConsoleSettings
from console.i18n import translator
from console.routers import alerts, homes, outbox
from console.web import SessionDep, make_templates, render, request_lang

log = logging.getLogger(__name__)


def create_app(settings: ConsoleSettings) -> FastAPI:
    """The console app for these settings; the engine is disposed when the app shuts down."""
    engine = make_engine(settings.database.url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(title="Anxin console", version="0.1.0", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    token = settings.influx.token.get_secret_value() if settings.influx.token else None
    timeout = min(settings.influx.timeout_s, settings.console.influx_timeout_s)
    app.state.settings = settings
    app.state.sessions = session_factory(engine)
    app.state.influx = InfluxQL(settings.influx.url, settings.influx.database, token, timeout)
    app.state.templates = make_templates(settings.console.timezone)

    app.include_router(homes.router)
    app.include_router(alerts.router)
    app.include_router(outbox.router)

    @app.get("/healthz", tags=["health"])
    def healthz(session: SessionDep) -> Response:
        """Whether the console can reach its SQL database."""
        try:
            session.execute(text("SELECT 1"))
        except SQLAlchemyError as err:
            log.warning("health check: database unreachable: %s", err)
            return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
        return JSONResponse({"status": "ok", "database": True})

    @app.exception_handler(SQLAlchemyError)
    async def database_down(request: Request, err: SQLAlchemyError) -> Response:
        log.error("database error on %s: %s", request.url.path, err)
        if request.url.path.startswith("/api/"):
            message = translator("en")("error.database")
            return JSONResponse({"detail": message}, status_code=503)
        lang = request_lang(request)
        return render(request, "error.html", {"message": translator(lang)("error.database")}, status_code=503)

    return app
