"""SMS replies from responders: acknowledge, resolve, HELP, STOP; every reply gets a helpful answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import actions, escalation, notify, templates
from alerts.actions import ActionError, Actor
from alerts.redact import mask_phone
from alerts.replies import ReplyKind, parse_reply
from alerts.timeline import taker_name
from anxin.db.models import Alert, Home, Responder, SmsInbound
from anxin.zones import tz_of
from contracts.vocabulary import FindingKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundResult:
    """What a reply did (`result`, stored and counted) and the answer to text back ("" for none)."""

    result: str
    answer: str
    alert_id: int | None = None


def responder_actor(r: Responder) -> Actor:
    """The actor for a responder acting by SMS or link."""
    return Actor("responder", str(r.id), r.name)


def handle_sms(session: Session, from_number: str, body: str, message_sid: str, now: datetime) -> InboundResult:
    """Apply one inbound SMS and commit; a MessageSid seen before changes nothing and gets no second answer."""
    if session.scalar(select(SmsInbound.id).where(SmsInbound.message_sid == message_sid)) is not None:
        session.rollback()
        return InboundResult("duplicate", "")
    responder = session.scalars(select(Responder).where(Responder.phone == from_number)).first()
    if responder is None:
        out = InboundResult("unknown_sender", templates.follow_up("unknown_sender", "zh-CN"))
    else:
        out = _apply(session, responder, body, now)
    session.add(
        SmsInbound(
            message_sid=message_sid[:64],
            responder_id=responder.id if responder else None,
            alert_id=out.alert_id,
            body=body[:1600],
            result=out.result,
            received_at=now,
        )
    )
    session.commit()
    log.info("sms reply from %s: %s (alert %s)", mask_phone(from_number), out.result, out.alert_id)
    return out


def _apply(session: Session, r: Responder, body: str, now: datetime) -> InboundResult:
    reply = parse_reply(body)
    lang = r.lang
    if reply.kind is ReplyKind.STOP:
        r.opted_out = True
        return InboundResult("stop", templates.follow_up("stopped", lang))
    if reply.kind is ReplyKind.START:
        r.opted_out = False
        return InboundResult("start", templates.follow_up("started", lang))
    if reply.kind is ReplyKind.HELP:
        return InboundResult("help", templates.follow_up("help", lang))
    if reply.code is None:
        return InboundResult("unknown", templates.follow_up("unknown", lang))
    code = reply.code
    alert = session.scalars(
        select(Alert).where(Alert.code == code, Alert.state.not_in(escalation.CLOSED_STATES)).order_by(Alert.id.desc())
    ).first()
    if alert is None or reply.kind is ReplyKind.UNKNOWN:
        ended = session.scalars(select(Alert).where(Alert.code == code).order_by(Alert.id.desc())).first()
        if ended is not None and reply.rating is not None and ended.acknowledged_by == r.id:
            # "2 <code> <1-5>" after it was closed: the taker rates how the help went.
            actions.rate(session, ended.id, responder_actor(r), reply.rating, now)
            return InboundResult("rated", templates.follow_up("rated_ok", lang, code=code), ended.id)
        if ended is not None and reply.kind is not ReplyKind.UNKNOWN:
            home = session.get(Home, ended.home_id)
            at = ended.resolved_at or ended.updated_at
            when = templates.since_text(at, now, tz_of(home.timezone if home else None))
            return InboundResult("stale_code", templates.follow_up("stale", lang, code=code, when=when), ended.id)
        return InboundResult("unknown_code", templates.follow_up("unknown_code", lang, code=code))
    if r.id not in notify.paged_responders(session, alert.id) and r.role != "operator":
        return InboundResult("not_yours", templates.follow_up("not_yours", lang, code=code), alert.id)
    actor = responder_actor(r)
    home = session.get(Home, alert.home_id)
    try:
        if reply.kind is ReplyKind.ACK:
            actions.acknowledge(session, alert.id, actor, now)
            address = (home.address or "") if home else ""
            return InboundResult(
                "acknowledged", templates.follow_up("ack_ok", lang, code=code, address=address), alert.id
            )
        # "2 <code>" on a help request means the help was given; on any other alert, the resident is fine.
        outcome = "needed_help" if alert.kind == FindingKind.HELP_REQUEST else "resident_fine"
        actions.resolve(session, alert.id, actor, outcome, now, note="resolved by SMS reply")
        if reply.rating is not None:
            actions.rate(session, alert.id, actor, reply.rating, now)
        done = "helped_ok" if alert.kind == FindingKind.HELP_REQUEST else "resolved_ok"
        return InboundResult("resolved", templates.follow_up(done, lang, code=code), alert.id)
    except ActionError as err:
        if err.code == "already_acknowledged":
            name = taker_name(session, alert)
            return InboundResult(
                "already_taken", templates.follow_up("already_taken", lang, code=code, name=name), alert.id
            )
        return InboundResult("stale_code", templates.follow_up("stale", lang, code=code, when="-"), alert.id)
