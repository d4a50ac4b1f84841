"""Live updates as server-sent events: home states, open alerts and new alerts, pushed when they change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from anxin.db.models import Alert, AlertEvent
from console import overview
from console.i18n import translator
from console.queries.alerts import open_alerts
from console.redaction import Redactor
from console.snapshot import ActivitySnapshot
from console.web import find_principal, get_settings, now_utc, request_lang

router = APIRouter(tags=["live"])
KEEPALIVE_S = 15.0


def _signature(sessions: sessionmaker[Session], snapshot: ActivitySnapshot) -> tuple[Any, ...]:
    with sessions() as s:
        events = s.scalar(select(func.max(AlertEvent.id)))
        alerts = s.execute(select(func.max(Alert.id), func.max(Alert.updated_at), func.count(Alert.id))).one()
    return (events, *alerts, snapshot.get().generation)


def _state(
    sessions: sessionmaker[Session], snapshot: ActivitySnapshot, cache: overview.OverviewCache, lang: str
) -> dict[str, Any]:
    t = translator(lang)
    now = now_utc()
    with sessions() as s:
        homes = cache.get(s, snapshot.get(), now)[0]
        # The stream is the same for every role and carries no code or number: redact as for a viewer.
        alerts = open_alerts(s, Redactor(b"", personal=False)).alerts
        newest = s.scalar(select(func.max(Alert.id))) or 0
        version = s.scalar(select(func.max(AlertEvent.id))) or 0
    return {
        "homes": {
            h.id: {
                "state": h.state,
                "open": h.open_alerts,
                "last": h.last_activity.isoformat() if h.last_activity else None,
                "online": h.online,
            }
            for h in homes.homes
        },
        "counts": homes.counts,
        "open_alerts": len(alerts),
        "newest_alert": newest,
        "alerts_version": version,
        "alerts": [
            {
                "id": a.id,
                "label": a.home_label,
                "district": a.district,
                "kind": t.label("kind", a.kind),
                "severity": a.severity,
                "state": a.state,
            }
            for a in alerts[:20]
        ],
    }


@router.get("/api/stream", response_class=StreamingResponse)
async def stream(request: Request) -> StreamingResponse:
    """Server-sent events: `update` with every home whose state changed, counts, and the open alerts."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    snapshot: ActivitySnapshot = request.app.state.snapshot

    def _auth() -> bool:
        with sessions() as s:
            return find_principal(request, s) is not None

    if not await run_in_threadpool(_auth):
        raise HTTPException(401, "log in, or send an API token", {"WWW-Authenticate": "Bearer"})
    lang = request_lang(request)
    poll_s = get_settings(request).console.stream_poll_s

    async def events() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        last_sig: tuple[Any, ...] | None = None
        sent: dict[str, Any] = {}
        idle = 0.0
        while not await request.is_disconnected():
            sig = await run_in_threadpool(_signature, sessions, snapshot)
            if sig != last_sig:
                state = await run_in_threadpool(_state, sessions, snapshot, request.app.state.overview, lang)
                homes = state["homes"]
                changed = {k: v for k, v in homes.items() if sent.get(k) != v}
                sent = homes
                payload = {**state, "homes": changed, "full": last_sig is None}
                last_sig = sig
                idle = 0.0
                yield f"event: update\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
            elif idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll_s)
            idle += poll_s

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
