"""Register homes: SQL rows, broker accounts and the simulator's homes file, in one step."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from firmware_sim.homes import SimHome, SimHomes, standard_kit
from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.broker import SERVICE_ACL, Credentials, reload_running_broker
from anxin.db.engine import upgrade, url_session
from anxin.db.models import Assignment, Home, HomeSensor, Responder

DISTRICTS = ("新华街道", "东湖社区", "西园社区")


def new_home_id() -> str:
    """An opaque home id: nothing about the home or its resident can be read from it."""
    return "h-" + secrets.token_hex(6)


def credentials_path(state_dir: Path) -> Path:
    """Where the broker accounts of a state folder live."""
    return state_dir / "credentials.json"


def homes_path(state_dir: Path) -> Path:
    """Where the simulator's homes file of a state folder lives."""
    return state_dir / "sim" / "homes.json"


def ensure_service_accounts(state_dir: Path) -> Credentials:
    """Create broker accounts for every service (kept in the state folder, 0600)."""
    creds = Credentials.load(credentials_path(state_dir))
    for user in SERVICE_ACL:
        creds.ensure(user)
    creds.save()
    return creds


def _ensure_escalation_staff(s: Session, now: datetime) -> None:
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


def _register_kits(s: Session, homes: SimHomes) -> None:
    """Each home's sensors as its registered kit: ingest stores no series outside it (`unknown_sensor`)."""
    have = set(s.execute(select(HomeSensor.home_id, HomeSensor.sensor)).tuples())
    for h in homes.homes:
        for x in h.sensors:
            if (h.home, x.id) not in have:
                s.add(HomeSensor(home_id=h.home, sensor=x.id, kind=x.kind, room=x.room, agent=h.agent))


def register_demo_homes(db_url: str, state_dir: Path, count: int) -> SimHomes:
    """Make sure `count` simulated homes exist, each with a verified volunteer; returns the homes file."""
    upgrade(db_url)
    creds = ensure_service_accounts(state_dir)
    path = homes_path(state_dir)
    homes = SimHomes.load(path) if path.exists() else SimHomes()
    now = datetime.now(UTC)
    with url_session(db_url) as s, s.begin():
        known = set(s.scalars(select(Home.id)))
        while len(homes.homes) < count:
            n = len(homes.homes) + 1
            district = DISTRICTS[n % len(DISTRICTS)]
            home = SimHome(
                home=new_home_id(),
                agent=f"pi-{n:04d}",
                password="",
                label=f"{n // 6 + 1}-{101 + n}",
                district=district,
                sensors=standard_kit(),
            )
            home.password = creds.ensure(home.home)
            homes.homes.append(home)
            lang = "zh-CN" if n % 3 else "en"
            volunteer = Responder(
                name=f"Volunteer {n:02d}",
                phone=f"+861390000{n:04d}",
                lang=lang,
                role="volunteer",
                district=district,
                verified=True,
                verified_at=now,
                active=True,
            )
            s.add(volunteer)
            s.flush()
            s.add(Home(id=home.home, label=home.label, district=district, created_at=now))
            s.add(Assignment(home_id=home.home, responder_id=volunteer.id, priority=1))
        _ensure_escalation_staff(s, now)
        for h in homes.homes:  # a homes file from an earlier run with a fresh database
            if h.home not in known and not s.get(Home, h.home):
                s.add(Home(id=h.home, label=h.label, district=h.district, created_at=now))
            creds.users[h.home] = h.password
        s.flush()
        _register_kits(s, homes)
    creds.save()
    homes.save(path)
    reload_running_broker(state_dir / "mosquitto", creds.users)
    return homes
