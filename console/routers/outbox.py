"""The SMS outbox and ingest's dead letters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from console import views
from console.queries.dead_letters import dead_letters
from console.queries.outbox import outbox
from console.web import MAX_PAGE, ApiUser, PageUser, SessionDep, SettingsDep, redactor, render

router = APIRouter(tags=["outbox"])
Limit = Annotated[int | None, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")]
Status = Annotated[str | None, Query(max_length=16)]


@router.get("/api/outbox", response_model=views.OutboxView)
def outbox_json(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ApiUser,
    limit: Limit = None,
    status: Status = None,
) -> views.OutboxView:
    """The newest SMS: never a link; numbers masked and codes shown to admins and operators only."""
    return outbox(session, limit or settings.console.outbox_limit, redactor(request, user), status or None)


@router.get("/outbox", include_in_schema=False)
def outbox_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    limit: Limit = None,
    status: Status = None,
) -> Response:
    """The outbox page."""
    view = outbox(session, limit or settings.console.outbox_limit, redactor(request, user), status or None)
    return render(request, "outbox.html", {"view": view, "status": status or ""})


@router.get("/api/dead-letters", response_model=views.DeadLettersView)
def dead_letters_json(
    request: Request, session: SessionDep, settings: SettingsDep, user: ApiUser, limit: Limit = None
) -> views.DeadLettersView:
    """What ingest rejected and why, newest first."""
    return dead_letters(session, limit or settings.console.outbox_limit, redactor(request, user))


@router.get("/dead-letters", include_in_schema=False)
def dead_letters_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: PageUser, limit: Limit = None
) -> Response:
    """The dead letters page."""
    view = dead_letters(session, limit or settings.console.outbox_limit, redactor(request, user))
    return render(request, "dead_letters.html", {"view": view})
