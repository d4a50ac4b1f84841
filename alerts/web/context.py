"""What the alerts web routers share (`WebContext`) and how they read a request body, bounded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from alerts.config import AlertsSettings
from alerts.replies import LinkMaker

log = logging.getLogger(__name__)


class StatusSink(Protocol):
    """Where a Twilio status callback goes (alerts.pipeline.record_status); False for an unknown message sid."""

    def __call__(
        self, session: Session, sid: str, status: str, error_code: str | None, now: datetime, links: LinkMaker | None
    ) -> bool:
        """Record the delivery status of one sent message."""
        ...


def _no_statuses(
    session: Session, sid: str, status: str, error_code: str | None, now: datetime, links: LinkMaker | None
) -> bool:
    return False


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
    record_status: StatusSink = _no_statuses

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
