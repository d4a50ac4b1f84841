"""`create_app`: the alerts HTTP app (one router per resource) and a uvicorn server run in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from alerts.config import AlertsSettings
from alerts.store import LinkMaker
from anxin.web_headers import add_security_headers

log = logging.getLogger(__name__)

# Twilio's webhooks and the mobile page's form are a few hundred bytes; anything near this is an attack.
MAX_BODY = 64 * 1024
# The mobile page has one inline style block and no script; Twilio reads XML. Nothing may frame either.
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


@dataclass
class WebContext:
    """What the routers share: settings, sessions, links, the worker's wake-up, counters."""

    settings: AlertsSettings
    sessions: sessionmaker[Session]
    links: LinkMaker | None
    wake: Callable[[], None]
    stats: object | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def incr(self, name: str) -> None:
        """Count something on the service's stats, if any."""
        incr = getattr(self.stats, "incr", None)
        if incr is not None:
            incr(name)


def context(request: Request) -> WebContext:
    """The app's WebContext."""
    ctx: WebContext = request.app.state.ctx
    return ctx


async def body_of(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, read as a stream and refused with 413 past `limit` bytes, before any more is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        _too_large(request, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a chunked body, or one longer than it said
            _too_large(request, size)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: Request, size: int) -> None:
    context(request).incr("body_too_large")
    log.warning("refused %s: body of %d bytes or more, over %d", request.url.path, size, MAX_BODY)
    # Closing the connection stops the client sending the rest; uvicorn would otherwise drain it.
    raise HTTPException(413, f"request body over {MAX_BODY // 1024} KiB", {"Connection": "close"})


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body as a dict (first value of each key), as Twilio and the page post it."""
    raw = (await body_of(request)).decode("utf-8", "replace")
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(k, v)
    return out


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
    from alerts.web import health, mobile, twilio_hooks

    app = FastAPI(title="Anxin alerts", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = WebContext(settings, sessions, links, wake, stats, clock)
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
