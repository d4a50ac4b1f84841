"""Homes: the list page and /api/homes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from console import data
from console.web import InfluxDep, SessionDep, render

router = APIRouter(tags=["homes"])


@router.get("/api/homes", response_model=data.HomesView)
def homes_json(session: SessionDep, influx: InfluxDep) -> data.HomesView:
    """Every home with last activity, hub state and open alert count."""
    return data.list_homes(session, influx)


@router.get("/", include_in_schema=False)
@router.get("/homes", include_in_schema=False)
def homes_page(request: Request, session: SessionDep, influx: InfluxDep) -> Response:
    """The home list page."""
    view = data.list_homes(session, influx)
    summary = {
        "total": len(view.homes),
        "online": sum(1 for h in view.homes if h.online is True),
        "offline": sum(1 for h in view.homes if h.online is False),
        "alerting": sum(1 for h in view.homes if h.open_alerts),
    }
    return render(request, "homes.html", {"view": view, "summary": summary})
