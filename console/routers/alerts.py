"""Alerts: the list, one alert's page, and the actions (acknowledge, note, resolve, silence) as forms and API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from console import actions, views
from console.accounts import Principal, audit
from console.i18n import translator
from console.queries.alerts import alert_detail, open_alerts, recent_closed_alerts
from console.web import (
    AlertId,
    ApiUser,
    PageUser,
    SessionDep,
    check_csrf,
    now_utc,
    redactor,
    render,
    request_lang,
    require_actor,
)
from contracts.vocabulary import OUTCOMES

router = APIRouter(tags=["alerts"])


@router.get("/api/alerts", response_model=views.AlertsView)
def alerts_json(request: Request, session: SessionDep, user: ApiUser) -> views.AlertsView:
    """Alerts neither resolved nor expired, most severe and oldest first."""
    return open_alerts(session, redactor(request, user))


@router.get("/api/alerts/closed", response_model=views.AlertsView)
def closed_alerts_json(request: Request, session: SessionDep, user: ApiUser) -> views.AlertsView:
    """The newest 50 resolved or expired alerts."""
    return recent_closed_alerts(session, redactor(request, user))


@router.get("/alerts", include_in_schema=False)
def alerts_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    """Open alerts, and the most recently closed."""
    red = redactor(request, user)
    return render(
        request,
        "alerts.html",
        {"view": open_alerts(session, red), "closed": recent_closed_alerts(session, red, 20)},
    )


def _detail(request: Request, session: SessionDep, alert_id: int, who: Principal) -> views.AlertDetail:
    detail = alert_detail(session, alert_id, redactor(request, who))
    if detail is None:
        raise HTTPException(404, f"no alert {alert_id}")
    audit(session, now_utc(), who.actor, "view_alert", f"alert:{alert_id}", {"home": detail.alert.home_id})
    session.commit()
    return detail


@router.get("/api/alerts/{alert_id}", response_model=views.AlertDetail)
def alert_json(request: Request, alert_id: AlertId, session: SessionDep, user: ApiUser) -> views.AlertDetail:
    """One alert: evidence, timeline (each SMS with its delivery status) and its SMS."""
    return _detail(request, session, alert_id, user)


@router.get("/alerts/{alert_id}", include_in_schema=False)
def alert_page(request: Request, alert_id: AlertId, session: SessionDep, user: PageUser) -> Response:
    """One alert's page with its actions."""
    detail = _detail(request, session, alert_id, user)
    return render(
        request,
        "alert.html",
        {"detail": detail, "outcomes": OUTCOMES, "done": request.query_params.get("done"), "error": None},
    )


def _perform(session: SessionDep, action: Callable[[], actions.ActionResult]) -> actions.ActionResult:
    """Run an operator's action; a refused one rolls back and becomes its HTTP status (409 unless mapped)."""
    try:
        return action()
    except actions.ActionError as err:
        session.rollback()
        raise HTTPException(actions.STATUS_OF_CODE.get(err.code, 409), str(err)) from err


@router.post("/api/alerts/{alert_id}/acknowledge", response_model=actions.ActionResult)
def acknowledge_json(request: Request, alert_id: AlertId, session: SessionDep, user: ApiUser) -> actions.ActionResult:
    """Take an alert: the ladder stops and the others paged are told who took it."""
    require_actor(user)
    check_csrf(request, user, None)
    return _perform(session, lambda: actions.acknowledge(session, alert_id, user, now_utc()))


@router.post("/api/alerts/{alert_id}/notes", response_model=actions.ActionResult)
def note_json(
    request: Request, alert_id: AlertId, body: actions.NoteBody, session: SessionDep, user: ApiUser
) -> actions.ActionResult:
    """Add a note to the timeline."""
    require_actor(user)
    check_csrf(request, user, None)
    return _perform(session, lambda: actions.note(session, alert_id, user, body, now_utc()))


@router.post("/api/alerts/{alert_id}/resolve", response_model=actions.ActionResult)
def resolve_json(
    request: Request, alert_id: AlertId, body: actions.ResolveBody, session: SessionDep, user: ApiUser
) -> actions.ActionResult:
    """Close the alert with an outcome (resident_fine, needed_help, emergency_services, false_alarm, device_fault)."""
    require_actor(user)
    check_csrf(request, user, None)
    return _perform(session, lambda: actions.resolve(session, alert_id, user, body, now_utc()))


@router.post("/api/homes/{home_id}/silence", response_model=actions.ActionResult, tags=["homes"])
def silence_json(
    request: Request, home_id: str, body: actions.SilenceBody, session: SessionDep, user: ApiUser
) -> actions.ActionResult:
    """Hold paging for a home for some minutes, with a reason (a panic press still pages)."""
    require_actor(user)
    check_csrf(request, user, None)
    return _perform(session, lambda: actions.silence(session, home_id, user, body, now_utc()))


@router.post("/alerts/{alert_id}/action", include_in_schema=False)
def alert_form(
    request: Request,
    alert_id: AlertId,
    session: SessionDep,
    user: PageUser,
    action: Annotated[str, Form(max_length=16)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
    outcome: Annotated[str, Form(max_length=32)] = "",
    minutes: Annotated[str, Form(max_length=8)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """The alert page's forms; back to the page with a message, or the page with the error."""
    require_actor(user)
    check_csrf(request, user, csrf)
    now = now_utc()
    t = translator(request_lang(request))
    try:
        if action == "ack":
            actions.acknowledge(session, alert_id, user, now)
        elif action == "note":
            actions.note(session, alert_id, user, actions.NoteBody(text=text.strip()), now)
        elif action == "resolve":
            body = actions.ResolveBody(outcome=outcome, note=text.strip() or None)
            actions.resolve(session, alert_id, user, body, now)
        elif action == "silence":
            detail = alert_detail(session, alert_id, redactor(request, user))
            if detail is None:
                raise actions.ActionError("not_found", f"no alert {alert_id}")
            mins = int(minutes) if minutes.isdigit() else 0
            actions.silence(session, detail.alert.home_id, user, actions.SilenceBody(minutes=mins, reason=reason), now)
        else:
            raise actions.ActionError("invalid", f"unknown action {action!r}")
    except (actions.ActionError, ValidationError) as err:
        session.rollback()
        code = err.code if isinstance(err, actions.ActionError) else "invalid"
        detail = alert_detail(session, alert_id, redactor(request, user))
        if detail is None:
            raise HTTPException(404, f"no alert {alert_id}") from err
        message = t(f"action.error.{code}") if t.has(f"action.error.{code}") else t("action.error.invalid")
        status = actions.STATUS_OF_CODE.get(code, 409)
        return render(
            request,
            "alert.html",
            {"detail": detail, "outcomes": OUTCOMES, "done": None, "error": message},
            status_code=status,
        )
    return RedirectResponse(f"/alerts/{alert_id}?done={action}", status_code=303)
