"""The small mobile page a signed SMS link opens: see the alert, take it, close it (zh-CN / en)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from alerts import actions, escalation, notify, templates
from alerts.actions import ActionError
from alerts.inbound import responder_actor
from alerts.replies import LinkClaim, LinkError, verify_link
from alerts.timeline import taker_name
from alerts.web.context import WebContext, context, form_of
from anxin.db.models import Alert, Home, Responder
from anxin.zones import tz_of
from contracts.vocabulary import FindingKind

log = logging.getLogger(__name__)
router = APIRouter(prefix="/l")

# One template, escaped by Jinja; its texts are the catalogue's (alerts/locales, as templates.PAGE).
_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape(["html"])
)


def _lang(request: Request, responder: Responder | None) -> str:
    asked = request.query_params.get("lang")
    if asked:
        return templates.lang_of(asked)
    if responder is not None:
        return templates.lang_of(responder.lang)
    return templates.lang_of(request.headers.get("accept-language", "zh-CN")[:5])


def _page(lang: str, status: int = 200, *, message: str | None = None, **view: Any) -> HTMLResponse:
    """The page in `lang`: a one-line `message`, or the alert `view` (rows, done, token, can_ack, outcomes)."""
    html = _PAGES.get_template("mobile.html").render(lang=lang, t=templates.PAGE[lang], message=message, **view)
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _claim(ctx: WebContext, request: Request, token: str) -> LinkClaim | HTMLResponse:
    lang = _lang(request, None)
    if ctx.links is None:
        return _page(lang, 404, message=templates.PAGE[lang]["link_invalid"])
    try:
        return verify_link(ctx.links.secret, token, ctx.clock())
    except LinkError as err:
        ctx.incr(f"link_{err.reason}")
        log.warning("mobile page: %s link refused", err.reason)
        key = "link_expired" if err.reason == "expired" else "link_invalid"
        return _page(lang, 410 if err.reason == "expired" else 403, message=templates.PAGE[lang][key])


@router.get("/{token}", response_class=HTMLResponse)
def show(token: str, request: Request) -> Response:
    """The alert as the responder may see it, with buttons to take or close it."""
    ctx = context(request)
    claim = _claim(ctx, request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    with ctx.sessions() as session:
        alert = session.get(Alert, claim.alert_id)
        home = session.get(Home, alert.home_id) if alert else None
        responder = session.get(Responder, claim.responder_id) if claim.responder_id else None
        lang = _lang(request, responder)
        t = templates.PAGE[lang]
        if alert is None or home is None:
            return _page(lang, 404, message=t["link_invalid"])
        tz = tz_of(home.timezone)
        now = ctx.clock()
        rows = [
            (t["where"], f"{home.label}, {home.district}"),
            (t["what"], templates.what_happened(alert.kind, lang)),
            (t["since"], templates.since_text(alert.since, now, tz)),
            (t["state"], t.get(f"state.{alert.state}", alert.state)),
        ]
        mine = responder is not None and alert.ack_actor == f"responder:{responder.id}"
        if alert.state == escalation.STATE_ACKNOWLEDGED and not mine:
            rows.append(("", t["taken_by"].format(name=taker_name(session, alert))))
        if mine and home.address:  # the address only for whoever took it
            rows.append((t["address"], home.address))
    is_open = alert.state not in escalation.CLOSED_STATES
    return _page(
        lang,
        rows=rows,
        done=bool(request.query_params.get("done")),
        token=token,
        can_ack=is_open and alert.state != escalation.STATE_ACKNOWLEDGED,
        outcomes=escalation.OUTCOMES if is_open else (),
        rate=is_open and alert.kind == FindingKind.HELP_REQUEST,  # a help request closes with a short rating
    )


def _act(request: Request, token: str, what: str, outcome: str | None, rating: str | None = None) -> Response:
    ctx = context(request)
    claim = _claim(ctx, request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    now = ctx.clock()
    with ctx.sessions() as session:
        responder = session.get(Responder, claim.responder_id) if claim.responder_id else None
        lang = _lang(request, responder)
        if responder is None:
            return _page(lang, 403, message=templates.PAGE[lang]["link_invalid"])
        try:
            if what == "ack":
                actions.acknowledge(session, claim.alert_id, responder_actor(responder), now)
                _send_address(session, claim.alert_id, responder, now)
            else:
                actions.resolve(
                    session, claim.alert_id, responder_actor(responder), outcome or "", now, note="via link"
                )
                if rating:  # optional; anything but 1-5 is refused by actions.rate as invalid
                    score = int(rating) if rating.isdigit() else 0
                    actions.rate(session, claim.alert_id, responder_actor(responder), score, now)
            session.commit()
        except ActionError as err:
            session.rollback()
            ctx.incr(f"link_{what}_{err.code}")
            msg = templates.PAGE[lang]["error"].format(reason=str(err))
            return _page(lang, 409 if err.code != "invalid" else 400, message=msg)
    ctx.incr(f"link_{what}")
    ctx.wake()
    return RedirectResponse(f"/l/{token}?lang={lang}&done=1", status_code=303)


def _send_address(session: Session, alert_id: int, responder: Responder, now: datetime) -> None:
    """Taken on the page: the taker also gets the address by SMS (as a reply to an SMS would), and only they do."""
    alert = session.get(Alert, alert_id)
    home = session.get(Home, alert.home_id) if alert is not None else None
    if alert is None or home is None:
        return
    key = f"alert:{alert.id}:ack_ok:responder:{responder.id}"
    notify.follow_up(session, alert, home, responder, "ack_ok", key, now, address=home.address or "")


@router.post("/{token}/ack")
def ack(token: str, request: Request) -> Response:
    """Take the alert."""
    return _act(request, token, "ack", None)


@router.post("/{token}/resolve")
async def resolve(token: str, request: Request) -> Response:
    """Close the alert with the chosen outcome."""
    form = await form_of(request)
    return _act(request, token, "resolve", form.get("outcome"), form.get("rating"))
