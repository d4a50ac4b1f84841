"""Twilio webhooks: incoming SMS replies and message status callbacks, each with its signature checked."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response

from alerts.inbound import handle_sms
from alerts.outbox import UNDELIVERED
from alerts.web.context import WebContext, context, form_of

log = logging.getLogger(__name__)
router = APIRouter(prefix="/twilio")

TWIML = "application/xml"


def _verified(ctx: WebContext, request: Request, form: dict[str, str]) -> Response | None:
    """None when the request carries a valid Twilio signature, else the refusal to send."""
    token = ctx.settings.alerts.twilio.auth_token
    if token is None:
        ctx.incr("webhook_unconfigured")
        return Response("Twilio is not configured", status_code=503, media_type="text/plain")
    from twilio.request_validator import RequestValidator

    # Twilio signs the URL it was told to call: the public one, not whatever a proxy forwards to us.
    url = ctx.settings.alerts.base_url() + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not signature or not RequestValidator(token.get_secret_value()).validate(url, form, signature):
        ctx.incr("webhook_forged")
        log.warning("refused %s: %s Twilio signature", request.url.path, "missing" if not signature else "bad")
        return Response("invalid signature", status_code=403, media_type="text/plain")
    return None


def _twiml(message: str) -> Response:
    body = f"<Response><Message>{escape(message)}</Message></Response>" if message else "<Response/>"
    return Response('<?xml version="1.0" encoding="UTF-8"?>' + body, media_type=TWIML)


@router.post("/sms")
async def incoming_sms(request: Request) -> Response:
    """A responder's reply; answered with TwiML in their language."""
    ctx = context(request)
    form = await form_of(request)
    refused = _verified(ctx, request, form)
    if refused is not None:
        return refused
    sid, sender, body = form.get("MessageSid", ""), form.get("From", ""), form.get("Body", "")
    if not sid or not sender:
        ctx.incr("webhook_invalid")
        log.warning("incoming SMS without MessageSid or From: ignored")
        return Response("MessageSid and From are required", status_code=400, media_type="text/plain")
    with ctx.sessions() as session:
        out = handle_sms(session, sender, body, sid, ctx.clock())
    ctx.incr(f"reply_{out.result}")
    if out.result in ("acknowledged", "resolved"):
        ctx.wake()  # "X took it" and "resolved" SMS are queued: send them now
    return _twiml(out.answer)


@router.post("/status")
async def status_callback(request: Request) -> Response:
    """Delivery status of a message we sent; an undelivered page moves on to the next person."""
    ctx = context(request)
    form = await form_of(request)
    refused = _verified(ctx, request, form)
    if refused is not None:
        return refused
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if not sid or not status:
        ctx.incr("webhook_invalid")
        return Response("MessageSid and MessageStatus are required", status_code=400, media_type="text/plain")
    with ctx.sessions() as session:
        found = ctx.record_status(session, sid, status, form.get("ErrorCode") or None, ctx.clock(), ctx.links)
    ctx.incr("status_callback" if found else "status_unknown_sid")
    if found and status in UNDELIVERED:
        ctx.wake()
    return Response(status_code=204)
