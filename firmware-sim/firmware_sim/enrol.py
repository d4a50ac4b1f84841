"""Enrol simulated homes: SQL rows, broker accounts and the simulator's homes file, in one step."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.broker import reload_running_broker
from anxin.db.engine import upgrade, url_session
from anxin.db.models import Assignment, Home, HomeSensor, Responder
from anxin.registry import DISTRICTS, ensure_escalation_staff, ensure_service_accounts, new_home_id
from firmware_sim.homes import SimHome, SimHomes, standard_kit


def homes_path(state_dir: Path) -> Path:
    """Where the simulator's homes file of a state folder lives."""
    return state_dir / "sim" / "homes.json"


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
        ensure_escalation_staff(s, now)
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
