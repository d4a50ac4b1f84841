"""The SMS outbox: each message with its status, its number masked and its code redacted for the caller."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.db.models import Alert, Responder, SmsOutbox
from console.redaction import Redactor
from console.views import OutboxRow, OutboxView


def outbox_rows(session: Session, where: Any, limit: int | None, red: Redactor) -> list[OutboxRow]:
    """SMS matching `where`, newest first, redacted for the caller."""
    query = (
        select(SmsOutbox, Responder.name, Alert.code)
        .outerjoin(Responder, SmsOutbox.responder_id == Responder.id)
        .outerjoin(Alert, SmsOutbox.alert_id == Alert.id)
        .where(where)
        .order_by(SmsOutbox.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        OutboxRow(
            id=sms.id,
            created_at=sms.created_at,
            sent_at=sms.sent_at,
            to=red.number(sms.to_number),
            responder=name,
            alert_id=sms.alert_id,
            alert_code=red.code(code),
            lang=sms.lang,
            status=sms.delivery_status or sms.status,
            provider=sms.provider,
            attempts=sms.attempts,
            body=red.text(sms.body, [code]),
            error=red.text(sms.error, [code]) if sms.error else None,
        )
        for sms, name, code in session.execute(query)
    ]


def outbox(session: Session, limit: int, red: Redactor, status: str | None = None) -> OutboxView:
    """The newest `limit` SMS of the outbox, redacted for the caller (never a link; no number or code for viewers)."""
    where = SmsOutbox.status == status if status else SmsOutbox.id.is_not(None)
    return OutboxView(limit=limit, messages=outbox_rows(session, where, limit, red))
