"""The registry's plain parts: home ids, the service accounts of a state folder, the staff every district needs.

Nothing here knows the simulator: `firmware_sim.enrol` builds simulated homes on top of these.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.broker import SERVICE_ACL, Credentials
from anxin.db.models import Responder

DISTRICTS = ("新华街道", "东湖社区", "西园社区")


def new_home_id() -> str:
    """An opaque home id: nothing about the home or its resident can be read from it."""
    return "h-" + secrets.token_hex(6)


def credentials_path(state_dir: Path) -> Path:
    """Where the broker accounts of a state folder live."""
    return state_dir / "credentials.json"


def ensure_service_accounts(state_dir: Path) -> Credentials:
    """Create broker accounts for every service (kept in the state folder, 0600)."""
    creds = Credentials.load(credentials_path(state_dir))
    for user in SERVICE_ACL:
        creds.ensure(user)
    creds.save()
    return creds


def ensure_escalation_staff(s: Session, now: datetime) -> None:
    """A grid worker per district and an operator on duty, so demo alerts can climb the whole ladder."""
    have = set(s.scalars(select(Responder.phone)))
    staff = [
        (f"Grid worker {i + 1}", f"+86139100000{i + 1:02d}", "grid_worker", d) for i, d in enumerate(DISTRICTS)
    ] + [("Operator on duty", "+8613920000001", "operator", None)]
    for name, phone, role, district in staff:
        if phone not in have:
            s.add(
                Responder(
                    name=name,
                    phone=phone,
                    lang="zh-CN",
                    role=role,
                    district=district,
                    verified=True,
                    verified_at=now,
                    active=True,
                )
            )
