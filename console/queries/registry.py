"""The registry: districts, homes and their kits, residents, responders, assignments, escalation policies.

One validation path for the console's forms, its JSON API and `anxin registry import`: every change goes through a
function here, is checked against what already exists and is written to the audit log (never a phone number).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.escalation import PolicyError, validate_spec
from alerts.responders import window_error
from anxin.db.models import Assignment, District, EscalationPolicy, Home, HomeSensor, Resident, Responder
from anxin.registry import new_home_id
from console.accounts import audit
from console.i18n import translator
from console.queries.registry_input import (
    NUMBER,
    PHONE,
    RESPONDER_ROLES,
    ROOM,
    SENSOR,
    SENSOR_KINDS,
    AssignmentIn,
    BudgetIn,
    ContactIn,
    DistrictIn,
    HomeIn,
    PolicyIn,
    ResidentIn,
    ResponderIn,
    SensorIn,
    Text80,
    WindowIn,
    typed_number,
)

# The models are the registry's words (registry_input.py), named here too: callers say `reg.SensorIn`, `reg.add_sensor`.
__all__ = [
    "NUMBER",
    "PHONE",
    "RESPONDER_ROLES",
    "ROOM",
    "SENSOR",
    "SENSOR_KINDS",
    "AssignmentIn",
    "BudgetIn",
    "ContactIn",
    "DistrictIn",
    "HomeIn",
    "PolicyIn",
    "RegistryError",
    "ResidentIn",
    "ResponderIn",
    "SensorIn",
    "Text80",
    "WindowIn",
    "add_district",
    "add_resident",
    "add_sensor",
    "assign",
    "problem",
    "save_home",
    "save_responder",
    "set_budget",
    "set_kit",
    "set_policy",
    "typed_number",
    "unassign",
]


class RegistryError(ValueError):
    """A registry change refused: `key` is its message in the catalogues, `params` fill it in."""

    def __init__(self, key: str, labels: dict[str, str] | None = None, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
        self.labels = labels or {}  # param -> the label group its code is shown with (t.label)


def _district(s: Session, name: str | None) -> None:
    if name and s.get(District, name) is None:
        raise RegistryError("registry.error.unknown_district", district=name)


def _home(s: Session, home_id: str) -> Home:
    home = s.get(Home, home_id)
    if home is None:
        raise RegistryError("registry.error.unknown_home", home=home_id)
    return home


def add_district(s: Session, d: DistrictIn, actor: str, now: datetime) -> District:
    """Register a district (an existing one is left as it is)."""
    found = s.get(District, d.name)
    if found is not None:
        return found
    district = District(name=d.name, created_at=now)
    s.add(district)
    audit(s, now, actor, "district_added", f"district:{d.name}", {})
    return district


def save_home(s: Session, h: HomeIn, actor: str, now: datetime) -> tuple[Home, bool]:
    """Create a home (a fresh opaque id unless one is given) or update it; returns it and whether it is new."""
    _district(s, h.district)
    home = s.get(Home, h.id) if h.id else None
    new = home is None
    if home is None:
        home = Home(id=h.id or new_home_id(), created_at=now)
        s.add(home)
    home.label, home.district, home.address, home.timezone = h.label, h.district, h.address or None, h.timezone
    home.latitude, home.longitude = h.latitude, h.longitude
    s.flush()
    fields = {"label": h.label, "district": h.district, "timezone": h.timezone, "address": bool(h.address)}
    audit(s, now, actor, "home_added" if new else "home_changed", f"home:{home.id}", fields)
    if h.sensors is not None:
        set_kit(s, home.id, h.sensors, actor, now)
    return home, new


def set_kit(s: Session, home_id: str, sensors: list[SensorIn], actor: str, now: datetime) -> None:
    """Replace a home's kit: ingest stores no series outside it (unknown_sensor)."""
    _home(s, home_id)
    names = [x.sensor for x in sensors]
    if len(set(names)) != len(names):
        raise RegistryError("registry.error.duplicate_sensor", home=home_id)
    typed: list[tuple[str, str | None, str | None]] = []
    for x in sensors:
        _check_room_type(typed, x)
        typed.append((x.sensor, x.room, x.room_type))
    s.execute(delete(HomeSensor).where(HomeSensor.home_id == home_id))
    s.add_all([_sensor_row(home_id, x) for x in sensors])
    s.flush()
    kit = [_sensor_line(x) for x in sensors]
    audit(s, now, actor, "kit_set", f"home:{home_id}", {"sensors": kit})


def add_sensor(s: Session, home_id: str, x: SensorIn, actor: str, now: datetime) -> None:
    """Add one sensor to a home's kit, or change its kind, room, role, room type and hold time."""
    _home(s, home_id)
    others = s.execute(
        select(HomeSensor.sensor, HomeSensor.room, HomeSensor.room_type).where(
            HomeSensor.home_id == home_id, HomeSensor.sensor != x.sensor
        )
    )
    _check_room_type([(k, r, rt) for k, r, rt in others], x)
    row = s.get(HomeSensor, (home_id, x.sensor))
    if row is None:
        s.add(_sensor_row(home_id, x))
    else:
        row.kind, row.room, row.role, row.room_type, row.hold_s = x.kind, x.room, x.role, x.room_type, x.hold_s
    s.flush()
    detail: dict[str, Any] = {"sensor": x.sensor, "kind": x.kind, "room": x.room, "role": x.role}
    detail |= {"room_type": x.room_type, "hold_s": x.hold_s}
    audit(s, now, actor, "sensor_set", f"home:{home_id}", detail)


def _sensor_row(home_id: str, x: SensorIn) -> HomeSensor:
    return HomeSensor(
        home_id=home_id, sensor=x.sensor, kind=x.kind, room=x.room, role=x.role, room_type=x.room_type, hold_s=x.hold_s
    )


def _sensor_line(x: SensorIn) -> str:
    """A kit sensor for the audit log: sensor:kind:room:role[:room_type:hold_s]."""
    line = f"{x.sensor}:{x.kind}:{x.room or ''}:{x.role or ''}"
    if x.room_type is not None or x.hold_s is not None:
        line += f":{x.room_type or ''}:{'' if x.hold_s is None else f'{x.hold_s:g}'}"
    return line


def _check_room_type(kit: list[tuple[str, str | None, str | None]], x: SensorIn) -> None:
    """One type per room: a sensor giving its room another type than the kit's (sensor, room, room_type) is refused.

    Two types for one room is a mistake to say, not one to settle by which sensor came last (as replay's sensors.csv).
    """
    if x.room_type is None:
        return
    for sensor, room, room_type in kit:
        if room == x.room and room_type is not None and room_type != x.room_type:
            raise RegistryError(
                "registry.error.room_type_clash",
                {"given": "room", "other": "room"},
                room=x.room,
                sensor=sensor,
                given=room_type,
                other=x.room_type,
            )


def set_budget(s: Session, home_id: str, b: BudgetIn, actor: str, now: datetime) -> None:
    """Set (or clear) a home's false-alarm budget; the anomaly service reads it with the kits."""
    home = _home(s, home_id)
    home.false_alarm_budget = b.budget
    s.flush()
    audit(s, now, actor, "budget_set", f"home:{home_id}", {"budget": b.budget})


def add_resident(s: Session, r: ResidentIn, actor: str, now: datetime) -> Resident:
    """Register a resident of a home, or update the one of that name (personal data: the audit names no one)."""
    _home(s, r.home)
    found = s.scalar(select(Resident).where(Resident.home_id == r.home, Resident.full_name == r.name))
    resident = found or Resident(home_id=r.home, full_name=r.name)
    if found is None:
        s.add(resident)
    if r.consent and not resident.consent:
        resident.consent_at = now
    elif not r.consent:
        resident.consent_at = None
    resident.phone, resident.notes, resident.consent = r.phone, r.notes or None, r.consent
    resident.contacts = [c.model_dump() for c in r.contacts] or None
    s.flush()
    detail = {"consent": r.consent, "contacts": len(r.contacts)}
    audit(s, now, actor, "resident_added", f"resident:{resident.id}@{r.home}", detail)
    return resident


def save_responder(s: Session, r: ResponderIn, actor: str, now: datetime) -> tuple[Responder, bool]:
    """Register a responder, or update the one with this phone number; vetting records who and when."""
    _district(s, r.district)
    windows = [w.model_dump() for w in r.availability]
    bad = next((e for e in map(window_error, windows) if e), None)
    if bad:
        raise RegistryError("registry.error.bad_window", why=bad)
    found = s.scalar(select(Responder).where(Responder.phone == r.phone))
    new = found is None
    resp = found or Responder(phone=r.phone)
    if new:
        s.add(resp)
    resp.name, resp.role, resp.district, resp.lang = r.name, r.role, r.district or None, r.lang
    resp.skills, resp.availability = r.skills or None, windows or None
    resp.latitude, resp.longitude = r.latitude, r.longitude
    resp.active, resp.opted_out = True, not r.opted_in
    if r.vetted and not resp.verified:
        resp.verified, resp.verified_at, resp.vetted_by = True, now, actor[:160]
    elif not r.vetted:
        resp.verified, resp.verified_at, resp.vetted_by = False, None, None
    s.flush()
    detail = {"role": r.role, "district": r.district, "vetted": r.vetted, "opted_in": r.opted_in, "skills": r.skills}
    audit(s, now, actor, "responder_added" if new else "responder_changed", f"responder:{resp.id}", detail)
    return resp, new


def _responder(s: Session, a: AssignmentIn) -> Responder:
    """The home must exist; the responder, by id or phone number, too."""
    _home(s, a.home)
    if a.responder is not None:
        resp = s.get(Responder, a.responder)
    else:
        resp = s.scalar(select(Responder).where(Responder.phone == a.phone)) if a.phone else None
    if resp is None:
        raise RegistryError("registry.error.unknown_responder")
    return resp


def assign(s: Session, a: AssignmentIn, actor: str, now: datetime) -> Assignment:
    """Assign a responder (by phone number) to a home with a priority, or change the priority."""
    resp = _responder(s, a)
    row = s.scalar(select(Assignment).where(Assignment.home_id == a.home, Assignment.responder_id == resp.id))
    if row is None:
        row = Assignment(home_id=a.home, responder_id=resp.id)
        s.add(row)
    row.priority = a.priority
    s.flush()
    audit(s, now, actor, "assigned", f"home:{a.home}", {"responder": resp.id, "priority": a.priority})
    return row


def unassign(s: Session, a: AssignmentIn, actor: str, now: datetime) -> None:
    """Remove a responder (by id or phone number) from a home; RegistryError when they were not assigned."""
    resp = _responder(s, a)
    gone = s.execute(delete(Assignment).where(Assignment.home_id == a.home, Assignment.responder_id == resp.id))
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise RegistryError("registry.error.not_assigned")
    audit(s, now, actor, "unassigned", f"home:{a.home}", {"responder": resp.id})


def set_policy(s: Session, p: PolicyIn, actor: str, now: datetime) -> EscalationPolicy:
    """Set the escalation policy of a district or a home; alerts freeze it onto each new alert (alerts/route.py)."""
    if (p.district is None) == (p.home is None):
        raise RegistryError("registry.error.policy_target")
    try:
        validate_spec(p.spec)
    except PolicyError as err:
        raise RegistryError("registry.error.bad_policy", why=str(err)) from err
    if p.home:
        _home(s, p.home)
        where = EscalationPolicy.home_id == p.home
    else:
        _district(s, p.district)
        where = (EscalationPolicy.district == p.district) & EscalationPolicy.home_id.is_(None)
    row = s.scalar(select(EscalationPolicy).where(where))
    if row is None:
        row = EscalationPolicy(district=None if p.home else p.district, home_id=p.home)
        s.add(row)
    row.spec, row.updated_at = p.spec, now
    s.flush()
    audit(s, now, actor, "policy_set", f"home:{p.home}" if p.home else f"district:{p.district}", {"spec": p.spec})
    return row


def problem(err: Exception, lang: str) -> str:
    """One line saying what is wrong with a change, in the caller's language."""
    t = translator(lang)
    if isinstance(err, RegistryError):
        shown = {k: t.label(err.labels[k], str(v)) if k in err.labels else v for k, v in err.params.items()}
        return t(err.key, **shown)
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        field = ".".join(str(p) for p in e["loc"]) or "-"
        # Pydantic's reason is English: said in the page's language when the catalogue knows its type.
        key = f"validation.{e['type']}"
        if e["type"] == "string_pattern_mismatch" and str(e["loc"][-1]).endswith("phone"):
            key = "validation.phone"  # the form a number takes says more than "not in the expected form"
        ctx = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in e.get("ctx", {}).items()}
        why = t(key, **ctx) if t.has(key) else e["msg"]  # (a bound of 0.0 is said 0)
        return t("registry.error.field", field=field, why=why)
    return str(err)
