"""The audit log: who viewed or changed what (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from console import views
from console.queries.audit import audit_entries
from console.web import MAX_PAGE, ApiUser, Offset, PageUser, SessionDep, render, require_admin

router = APIRouter(tags=["audit"])
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ActorQ = Annotated[str | None, Query(max_length=64)]


@router.get("/api/audit", response_model=views.AuditView)
def audit_json(
    session: SessionDep, user: ApiUser, limit: Limit = 200, offset: Offset = 0, actor: ActorQ = None
) -> views.AuditView:
    """Audit entries, newest first."""
    require_admin(user)
    return audit_entries(session, limit, offset, actor or None)


@router.get("/audit", include_in_schema=False)
def audit_page(
    request: Request, session: SessionDep, user: PageUser, offset: Offset = 0, actor: ActorQ = None
) -> Response:
    """The audit page, 200 entries at a time."""
    require_admin(user)
    view = audit_entries(session, 200, offset, actor or None)
    return render(request, "audit.html", {"view": view, "offset": offset, "actor": actor or ""})
