"""Responders: volunteers and grid workers, their assignments, availability, verification and reliability."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from console import views
from console.queries.responders import list_responders
from console.web import ApiUser, PageUser, SessionDep, redactor, render

router = APIRouter(tags=["responders"])


@router.get("/api/responders", response_model=views.RespondersView)
def responders_json(request: Request, session: SessionDep, user: ApiUser) -> views.RespondersView:
    """Every responder; phone numbers (masked) only for admins and operators."""
    return list_responders(session, redactor(request, user))


@router.get("/responders", include_in_schema=False)
def responders_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    """The responders page."""
    return render(request, "responders.html", {"view": list_responders(session, redactor(request, user))})
