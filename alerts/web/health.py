"""GET /healthz: the MQTT session, the SQL database, the JetStream consumer (bus = "nats"); the last finding's age."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from alerts.web.context import WebContext, context
from anxin.health import Check, age_s, broker_check, report, session_check, sql_check

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/healthz")
def healthz(ctx: Annotated[WebContext, Depends(context)]) -> JSONResponse:
    """200 when the broker session and the database are up, else 503 with `down` naming them."""
    connected = getattr(ctx.stats, "connected", None)
    if isinstance(connected, threading.Event):
        broker = session_check(connected.is_set())
    else:  # an app without the service (tests, tools): whether the broker answers at all
        broker = broker_check(ctx.settings.mqtt.host, ctx.settings.mqtt.port)
    checks = [broker, sql_check(ctx.sessions)]
    consuming = getattr(ctx.stats, "jetstream", None)
    if isinstance(consuming, threading.Event):  # bus = "nats": findings come from JetStream, not the broker
        checks.append(Check("jetstream", consuming.is_set(), error="" if consuming.is_set() else "not consuming"))
    # Findings are rare (a quiet week has none), so their age is reported for dashboards, never a reason for 503.
    status, body = report(checks, last_finding_age_s=age_s(getattr(ctx.stats, "last_finding_at", None)))
    if status != 200:
        log.warning("health check: %s down", ", ".join(body["down"]))
    return JSONResponse(body, status_code=status)
