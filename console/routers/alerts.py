"""Open alerts: the page and /api/alerts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from console import data
from console.web import SessionDep, render

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts", response_model=data.AlertsView)
def alerts_json(session: SessionDep) -> data.AlertsView:
    """Alerts neither resolved nor expired."""
    return data.open_alerts(session)


@router.get("/alerts", include_in_schema=False)
def alerts_page(request: Request, session: SessionDep) -> Response:
    """The open alerts page."""
    return render(request, "alerts.html", {"view": data.open_alerts(session)})
