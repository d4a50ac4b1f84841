"""The small mobile page a signed SMS link opens: see the alert, take it, close it (zh-CN / en)."""

from __future__ import annotations

import logging
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerts import actions, escalation, store, templates
from alerts.actions import ActionError
from alerts.inbound import responder_actor
from alerts.replies import LinkClaim, LinkError, verify_link
from alerts.web.app import WebContext, context, form_of
from anxin.db.models import Alert, Home, Responder

log = logging.getLogger(__name__)
router = APIRouter(prefix="/l")

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:28rem}"
    "h1{font-size:1.3rem}dt{color:#555;font-size:.85rem}dd{margin:0 0 .6rem 0;font-size:1.1rem}"
    "button,select{font-size:1.1rem;padding:.7rem;width:100%;margin:.3rem 0}"
    ".ack{background:#0a7d32;color:#fff;border:0}.note{color:#555}"
)


def _lang(request: Request, responder: Responder | None) -> str:
    asked = request.query_params.get("lang")
    if asked:
        return templates.lang_of(asked)
    if responder is not None:
        return templates.lang_of(responder.lang)
    return templates.lang_of(request.headers.get("accept-language", "zh-CN")[:5])


def _page(lang: str, body: str, status: int = 200) -> HTMLResponse:
    t = templates.PAGE[lang]
    html = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(t["title"])}</title><style>{_STYLE}</style></head>'
        f"<body><h1>{escape(t['title'])}</h1>{body}<p class=note>{escape(t['emergency'])}</p></body></html>"
    )
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _claim(ctx: WebContext, request: Request, token: str) -> LinkClaim | HTMLResponse:
    lang = _lang(request, None)
    if ctx.links is None:
        return _page(lang, f"<p>{escape(templates.PAGE[lang]['link_invalid'])}</p>", 404)
    try:
        return verify_link(ctx.links.secret, token, ctx.clock())
    except LinkError as err:
        ctx.incr(f"link_{err.reason}")
        log.warning("mobile page: %s link refused", err.reason)
        key = "link_expired" if err.reason == "expired" else "link_invalid"
        return _page(lang, f"<p>{escape(templates.PAGE[lang][key])}</p>", 410 if err.reason == "expired" else 403)


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
            return _page(lang, f"<p>{escape(t['link_invalid'])}</p>", 404)
        tz = store.tz_of(home.timezone)
        now = ctx.clock()
        rows = [
            (t["where"], f"{home.label}, {home.district}"),
            (t["what"], templates.what_happened(alert.kind, lang)),
            (t["since"], templates.since_text(alert.since, now, tz)),
            (t["state"], t.get(f"state.{alert.state}", alert.state)),
        ]
        mine = responder is not None and alert.ack_actor == f"responder:{responder.id}"
        if alert.state == escalation.STATE_ACKNOWLEDGED and not mine:
            rows.append(("", t["taken_by"].format(name=store.taker_name(session, alert))))
        if mine and home.address:  # the address only for whoever took it
            rows.append((t["address"], home.address))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    body = f"<dl>{items}</dl>"
    done = request.query_params.get("done")
    if done:
        body = f"<p><strong>{escape(t['done'])}</strong></p>" + body
    if alert.state not in escalation.CLOSED_STATES:
        q = f"?lang={lang}"
        if alert.state != escalation.STATE_ACKNOWLEDGED:
            body += f'<form method=post action="/l/{token}/ack{q}"><button class=ack>{escape(t["ack"])}</button></form>'
        options = "".join(f'<option value="{o}">{escape(t[o])}</option>' for o in escalation.OUTCOMES)
        body += (
            f'<form method=post action="/l/{token}/resolve{q}"><label>{escape(t["outcome"])}'
            f"<select name=outcome>{options}</select></label><button>{escape(t['resolve'])}</button></form>"
        )
    return _page(lang, body)


def _act(request: Request, token: str, what: str, outcome: str | None) -> Response:
    ctx = context(request)
    claim = _claim(ctx, request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    now = ctx.clock()
    with ctx.sessions() as session:
        responder = session.get(Responder, claim.responder_id) if claim.responder_id else None
        lang = _lang(request, responder)
        if responder is None:
            return _page(lang, f"<p>{escape(templates.PAGE[lang]['link_invalid'])}</p>", 403)
        try:
            if what == "ack":
                actions.acknowledge(session, claim.alert_id, responder_actor(responder), now)
            else:
                actions.resolve(
                    session, claim.alert_id, responder_actor(responder), outcome or "", now, note="via link"
                )
            session.commit()
        except ActionError as err:
            session.rollback()
            ctx.incr(f"link_{what}_{err.code}")
            msg = templates.PAGE[lang]["error"].format(reason=str(err))
            return _page(lang, f"<p>{escape(msg)}</p>", 409 if err.code != "invalid" else 400)
    ctx.incr(f"link_{what}")
    ctx.wake()
    return RedirectResponse(f"/l/{token}?lang={lang}&done=1", status_code=303)


@router.post("/{token}/ack")
def ack(token: str, request: Request) -> Response:
    """Take the alert."""
    return _act(request, token, "ack", None)


@router.post("/{token}/resolve")
async def resolve(token: str, request: Request) -> Response:
    """Close the alert with the chosen outcome."""
    form = await form_of(request)
    return _act(request, token, "resolve", form.get("outcome"))
