"""The SMS outbox: the page and /api/outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from console import data
from console.web import SessionDep, SettingsDep, render

router = APIRouter(tags=["outbox"])
Limit = Annotated[int | None, Query(ge=1, le=5000)]


@router.get("/api/outbox", response_model=data.OutboxView)
def outbox_json(session: SessionDep, settings: SettingsDep, limit: Limit = None) -> data.OutboxView:
    """The newest SMS, numbers masked."""
    return data.outbox(session, limit or settings.console.outbox_limit)


@router.get("/outbox", include_in_schema=False)
def outbox_page(request: Request, session: SessionDep, settings: SettingsDep, limit: Limit = None) -> Response:
    """The outbox page."""
    return render(request, "outbox.html", {"view": data.outbox(session, limit or settings.console.outbox_limit)})
