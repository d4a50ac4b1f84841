"""The audit log, newest first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anxin.db.models import AuditLog
from console.views import AuditRow, AuditView


def audit_entries(session: Session, limit: int, offset: int = 0, actor: str | None = None) -> AuditView:
    """Audit entries, newest first."""
    where = AuditLog.actor == actor if actor else AuditLog.id.is_not(None)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(where)) or 0
    rows = session.scalars(select(AuditLog).where(where).order_by(AuditLog.id.desc()).limit(limit).offset(offset))
    return AuditView(
        total=total,
        entries=[
            AuditRow(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target, detail=r.detail or {})
            for r in rows
        ],
    )
