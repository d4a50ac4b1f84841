"""Family contacts (issue 15, item 6): an optional SMS to a resident's next of kin when an alert opens and when it
ends, with how it ended. Beside the notify stage: written to the outbox in the caller's transaction.

Who is told: the contacts of the home's residents (`residents.contacts`, added by the registry in 0006_registry)
that have `"sms": true`, and only for a resident who gave consent. Only alerts about the person (not device alerts,
not info-level ones), and only once the ladder runs (a held alert tells nobody). The text never carries the
address, the reply code or a link: family members are told, they do not take the alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import templates
from alerts.outbox import PURPOSE_FAMILY, queue_sms
from alerts.timeline import SYSTEM_ACTOR, event
from anxin.db.models import Alert, Home, Resident, SmsOutbox
from anxin.zones import tz_of
from contracts.vocabulary import FindingKind, Severity, TimelineAction

log = logging.getLogger(__name__)

Moment = Literal["opened", "closed"]
# Device trouble is the installer's business, not the family's.
NOT_FOR_FAMILY = frozenset({FindingKind.AGENT_OFFLINE, FindingKind.SENSOR_SILENT, FindingKind.LOW_BATTERY})
MAX_CONTACTS = 10  # per resident, as the registry bounds them


def wants_sms(contact: Mapping[str, Any]) -> bool:
    """A contact who opted in to alert SMS and has a number."""
    return contact.get("sms") is True and isinstance(contact.get("phone"), str) and bool(contact["phone"].strip())


def concerns_family(kind: str, severity: str) -> bool:
    """Whether an alert of this kind and severity is one a family is told about."""
    return kind not in NOT_FOR_FAMILY and severity != Severity.INFO


def _contacts(session: Session, home_id: str) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
    """(resident id, contact index, contact) of every opted-in contact of a consenting resident of the home."""
    for r in session.scalars(select(Resident).where(Resident.home_id == home_id).order_by(Resident.id)):
        if not r.consent or not isinstance(r.contacts, list):
            continue
        for i, c in enumerate(r.contacts[:MAX_CONTACTS]):
            if isinstance(c, Mapping) and wants_sms(c):
                yield r.id, i, c


def tell(session: Session, alert: Alert, home: Home, moment: Moment, now: datetime) -> list[SmsOutbox]:
    """Queue the family SMS for an alert opening or ending (once per contact and moment); returns the rows."""
    if not concerns_family(alert.kind, alert.severity):
        return []
    if moment == "closed" and not _told_opened(session, alert.id):
        return []  # never "it is over" to someone who was never told it began
    rows = []
    for rid, i, c in _contacts(session, home.id):
        lang = templates.lang_of(str(c.get("lang") or "zh-CN"))
        row = queue_sms(
            session,
            key=f"alert:{alert.id}:family_{moment}:resident:{rid}:{i}",
            to=str(c["phone"]).strip(),
            lang=lang,
            body=_body(alert, home, moment, lang, now),
            now=now,
            purpose=PURPOSE_FAMILY,
            alert_id=alert.id,
            responder_id=None,
        )
        if row is not None:
            rows.append(row)
    if rows:
        session.flush()
        event(
            session,
            alert.id,
            now,
            SYSTEM_ACTOR,
            TimelineAction.FAMILY_TOLD,
            {"moment": moment, "contacts": len(rows), "outbox_ids": [r.id for r in rows]},
        )
        log.info("alert %s: %d family contact(s) told it %s", alert.id, len(rows), moment)
    return rows


def _told_opened(session: Session, alert_id: int) -> bool:
    key = f"alert:{alert_id}:family_opened:%"
    return session.scalar(select(SmsOutbox.id).where(SmsOutbox.key.like(key)).limit(1)) is not None


def _body(alert: Alert, home: Home, moment: Moment, lang: str, now: datetime) -> str:
    """The family's text: the home, what happened and since when; or how it ended."""
    what = templates.what_happened(alert.kind, lang)
    if moment == "opened":
        since = templates.since_text(alert.since, now, tz_of(home.timezone))
        return templates.follow_up("family_opened", lang, label=home.label, what=what, since=since)
    outcome = templates.PAGE[lang].get(alert.outcome or "", alert.outcome or "")
    return templates.follow_up("family_closed", lang, label=home.label, what=what, outcome=outcome)
