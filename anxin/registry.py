"""The registry's plain parts: home ids, the service accounts of a state folder, the staff every district needs.

Nothing here knows the simulator: `firmware_sim.enrol` builds simulated homes on top of these.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.broker import (
    SERVICE_ACL,
    BrokerConfigError,
    Credentials,
    mosquitto_hash,
    new_password,
    reload_running_broker,
)
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


def _locked(path: Path) -> int:
    """An exclusive lock beside the credentials file, so the console and the demo never save over each other."""
    import fcntl
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def install_home_account(creds_file: Path, broker_state: Path, home: str, *, issue: bool) -> str | None:
    """Give a home its broker account (bound to `agent-{home}` on a running broker) and reload the broker.

    The credentials file keeps only the password's hash: with `issue`, a fresh password is made and returned once
    (the caller hands it over and forgets it); without, the account gets an unusable random one. Raises
    BrokerConfigError when no broker config is under `broker_state` or the running broker refuses the binding.
    """
    import os

    if not (broker_state / "mosquitto.conf").exists():
        raise BrokerConfigError(f"no broker configuration under {broker_state} (start the broker once first)")
    if not creds_file.exists():
        # Never start an accounts file from nothing: the password file written from it would lock out the services.
        raise BrokerConfigError(f"no broker accounts file {creds_file}")
    fd = _locked(creds_file)
    try:
        creds = Credentials.load(creds_file)
        password = new_password() if issue else None
        if password is not None or home not in creds.users:
            creds.users[home] = mosquitto_hash(password or new_password())
        creds.save()
        # Binds the new account live through the control topic before the password file lets it in, then SIGHUP.
        if not reload_running_broker(broker_state, dict(creds.users)):
            raise BrokerConfigError(f"no broker runs on {broker_state}: the account is kept for its next start")
        return password
    finally:
        os.close(fd)
