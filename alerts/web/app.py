"""`create_app`: the alerts HTTP app (one router per resource) and a uvicorn server run in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from alerts.config import AlertsSettings
from alerts.pipeline import record_status
from alerts.replies import LinkMaker
from alerts.web import health, mobile, twilio_hooks
from alerts.web.context import WebContext
from anxin.web_headers import add_security_headers

log = logging.getLogger(__name__)

# The mobile page has one inline style block and no script; Twilio reads XML. Nothing may frame either.
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


def create_app(
    settings: AlertsSettings,
    sessions: sessionmaker[Session],
    *,
    links: LinkMaker | None = None,
    wake: Callable[[], None] = lambda: None,
    stats: object | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The alerts HTTP app: /twilio/sms, /twilio/status, /l/{token} and /healthz."""
    app = FastAPI(title="Anxin alerts", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = WebContext(settings, sessions, links, wake, stats, clock, record_status)
    add_security_headers(app, CSP)
    app.include_router(health.router)
    app.include_router(twilio_hooks.router)
    app.include_router(mobile.router)
    return app


class WebServer:
    """uvicorn in a daemon thread; a port already taken is logged and the rest of the service keeps running."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self.thread = threading.Thread(target=self._run, name="alerts-http", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except SystemExit:
            log.error("alerts HTTP server could not start on %s:%d; webhooks and links are off", self.host, self.port)

    def start(self) -> None:
        """Start serving."""
        self.thread.start()
        log.info("alerts HTTP server on http://%s:%d (Twilio webhooks, mobile page)", self.host, self.port)

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
