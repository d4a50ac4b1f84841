"""What the registry holds, as the console shows it (redacted per role) and as `anxin registry export` writes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from anxin.db.models import Assignment, District, EscalationPolicy, Home, HomeSensor, Resident, Responder
from console.redaction import Redactor


class SensorRow(BaseModel):
    """A sensor of a home's kit."""

    sensor: str
    kind: str
    room: str | None
    role: str | None
    room_type: str | None = None
    hold_s: float | None = None


class ContactRow(BaseModel):
    """A resident's contact, phone masked."""

    name: str
    relation: str | None
    phone: str | None
    sms: bool = False


class RegResident(BaseModel):
    """A resident, for roles that may see personal data."""

    id: int
    name: str
    phone: str | None
    notes: str | None
    consent: bool
    contacts: list[ContactRow]


class RegHome(BaseModel):
    """A registered home with its kit, residents (when allowed) and assigned responders."""

    id: str
    label: str
    district: str
    address: str | None
    timezone: str
    sensors: list[SensorRow]
    residents: list[RegResident] | None
    assigned: list[tuple[int, str, int]]
    bundle_issued_at: datetime | None
    policy: dict[str, Any] | None
    false_alarm_budget: float | None = None  # per 60 days, set in the console; None: the deployment's default


class RegResponder(BaseModel):
    """A responder with vetting and availability; phone masked, or absent for viewers."""

    id: int
    name: str
    role: str
    district: str | None
    phone: str | None
    skills: list[str]
    availability: list[dict[str, Any]]
    vetted: bool
    vetted_at: datetime | None
    vetted_by: str | None
    opted_in: bool


class RegistryView(BaseModel):
    """Districts (with their policies), homes and responders."""

    districts: list[str]
    policies: dict[str, dict[str, Any]]
    homes: list[RegHome]
    responders: list[RegResponder]


def registry_view(s: Session, red: Redactor) -> RegistryView:
    """Everything registered; residents only for roles that may see personal data, phones masked."""
    kits: dict[str, list[SensorRow]] = {}
    for k in s.scalars(select(HomeSensor).order_by(HomeSensor.home_id, HomeSensor.sensor)):
        kits.setdefault(k.home_id, []).append(
            SensorRow(sensor=k.sensor, kind=k.kind, room=k.room, role=k.role, room_type=k.room_type, hold_s=k.hold_s)
        )
    people: dict[str, list[RegResident]] = {}
    if red.personal:
        for r in s.scalars(select(Resident).order_by(Resident.id)):
            contacts = [
                ContactRow(
                    name=c.get("name", ""),
                    relation=c.get("relation"),
                    phone=red.number(c.get("phone")),
                    sms=c.get("sms") is True,
                )
                for c in r.contacts or []
            ]
            row = RegResident(
                id=r.id,
                name=r.full_name,
                phone=red.number(r.phone),
                notes=r.notes,
                consent=bool(r.consent),
                contacts=contacts,
            )
            people.setdefault(r.home_id, []).append(row)
    assigned: dict[str, list[tuple[int, str, int]]] = {}
    q = select(Assignment.home_id, Responder.id, Responder.name, Assignment.priority).join(Responder)
    for home_id, rid, name, prio in s.execute(q.order_by(Assignment.priority)):
        assigned.setdefault(home_id, []).append((rid, name, prio))
    policies = {
        f"district:{p.district}" if p.home_id is None else f"home:{p.home_id}": p.spec
        for p in s.scalars(select(EscalationPolicy))
    }
    homes = [
        RegHome(
            id=h.id,
            label=h.label,
            district=h.district,
            address=h.address if red.personal else None,
            timezone=h.timezone,
            sensors=kits.get(h.id, []),
            residents=people.get(h.id, []) if red.personal else None,
            assigned=assigned.get(h.id, []),
            bundle_issued_at=h.bundle_issued_at,
            policy=policies.get(f"home:{h.id}"),
            false_alarm_budget=h.false_alarm_budget,
        )
        for h in s.scalars(select(Home).order_by(Home.district, Home.label))
    ]
    responders = [
        RegResponder(
            id=r.id,
            name=r.name,
            role=r.role,
            district=r.district,
            phone=red.number(r.phone),
            skills=list(r.skills or []),
            availability=list(r.availability or []),
            vetted=r.verified,
            vetted_at=r.verified_at,
            vetted_by=r.vetted_by,
            opted_in=not r.opted_out,
        )
        for r in s.scalars(select(Responder).order_by(Responder.role, Responder.name))
    ]
    districts = sorted(set(s.scalars(select(District.name))) | {h.district for h in homes})
    return RegistryView(districts=districts, policies=policies, homes=homes, responders=responders)
