"""Ingest's dead letters: exact counts from `dead_letter_counts`, and the sample rows kept in `dead_letters`.

Ingest counts every rejected message per (home, reason) but keeps only a rate-limited sample as rows
(ingest/deadletters.py), so totals come from the counts table; counting the rows would show the sample's size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anxin.db.models import DeadLetter, DeadLetterCount
from console.redaction import Redactor
from console.views import DeadLetterRow, DeadLetterSource, DeadLettersView

PAYLOAD_SHOWN = 500  # bytes of a dead letter's payload shown
DETAIL_SHOWN = 2000


def dead_letters(session: Session, limit: int, red: Redactor) -> DeadLettersView:
    """Exact counts per reason and per (home, reason), and the newest `limit` samples with 500 bytes of payload."""
    reasons = {
        reason: int(n or 0)
        for reason, n in session.execute(
            select(DeadLetterCount.reason, func.sum(DeadLetterCount.count))
            .group_by(DeadLetterCount.reason)
            .order_by(DeadLetterCount.reason)
        )
    }
    kept = int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)
    return DeadLettersView(
        total=sum(reasons.values()),
        reasons=reasons,
        kept=kept,
        sources=_sources(session, limit, red),
        letters=_samples(session, limit, red),
    )


def _sources(session: Session, limit: int, red: Redactor) -> list[DeadLetterSource]:
    """The `limit` (home, reason) pairs rejected most recently, with their exact counts."""
    rows = session.execute(
        select(
            DeadLetterCount.home,
            DeadLetterCount.reason,
            DeadLetterCount.count,
            DeadLetterCount.sampled,
            DeadLetterCount.first_at,
            DeadLetterCount.last_at,
            DeadLetterCount.last_topic,
            func.substr(DeadLetterCount.last_detail, 1, DETAIL_SHOWN),
        )
        .order_by(DeadLetterCount.last_at.desc(), DeadLetterCount.home, DeadLetterCount.reason)
        .limit(limit)
    )
    return [
        DeadLetterSource(
            home=home,
            reason=reason,
            count=count,
            sampled=sampled,
            first_at=first,
            last_at=last,
            last_topic=red.text(topic),
            last_detail=red.text(detail or ""),
        )
        for home, reason, count, sampled, first, last, topic, detail in rows
    ]


def _samples(session: Session, limit: int, red: Redactor) -> list[DeadLetterRow]:
    """The newest `limit` sample rows, each with only the start of its payload."""
    # Only the start of each payload leaves the database: a page of whole 64 KiB payloads took hundreds of MB.
    rows = session.execute(
        select(
            DeadLetter.id,
            DeadLetter.received_at,
            DeadLetter.topic,
            DeadLetter.reason,
            func.substr(DeadLetter.detail, 1, DETAIL_SHOWN),
            func.substr(DeadLetter.payload, 1, PAYLOAD_SHOWN),
            func.length(DeadLetter.payload),
        )
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    )
    return [
        DeadLetterRow(
            id=id_,
            received_at=at,
            topic=red.text(topic),  # a topic is the sender's text: a number in it is masked like any other
            reason=reason,
            detail=red.text(detail or ""),
            payload=red.text(_as_text(payload)),
            size=int(size or 0),
        )
        for id_, at, topic, reason, detail, payload, size in rows
    ]


def _as_text(value: Any) -> str:
    """A payload's head as text, whichever type the database driver returned it as."""
    if isinstance(value, str):
        return value
    return bytes(value or b"").decode("utf-8", errors="replace")
