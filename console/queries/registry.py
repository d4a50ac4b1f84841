"""The registry: districts, homes and their kits, residents, responders, assignments, escalation policies.

One validation path for the console's forms, its JSON API and `anxin registry import`: every change goes through a
function here, is checked against what already exists and is written to the audit log (never a phone number).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.escalation import PolicyError, validate_spec
from alerts.responders import window_error
from anxin.db.models import Assignment, District, EscalationPolicy, Home, HomeSensor, Resident, Responder
from anxin.registry import new_home_id
from anxin.zones import known_zone
from console.accounts import audit
from console.i18n import translator
from contracts.topics import HOME_ID_PATTERN
from contracts.vocabulary import DEFAULT_TIMEZONE, FALSE_ALARM_BUDGET_MAX, FALSE_ALARM_BUDGET_MIN, RoomTypeCode

PHONE = r"^\+[1-9][0-9]{6,14}$"
SENSOR = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ROOM = r"^[a-z][a-z0-9_]{0,31}$"
# The kinds a sensor sends on the wire (contracts/messages.py KNOWN_VALUES): ingest refuses a kit sensor of another.
SENSOR_KINDS = ("motion", "door", "button", "pressure")
RESPONDER_ROLES = ("volunteer", "grid_worker", "operator")
# A motion sensor's hold time the installer can give: PIRs hold for seconds to a few minutes; an hour is a mistake.
HOLD_S_MAX = 3600.0
Text80 = Annotated[str, Field(min_length=1, max_length=80)]


class RegistryError(ValueError):
    """A registry change refused: `key` is its message in the catalogues, `params` fill it in."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DistrictIn(_In):
    """A district to register."""

    name: Text80


class SensorIn(_In):
    """One sensor of a home's kit: its name and kind on the wire, its room, and what it is for."""

    sensor: str = Field(pattern=SENSOR)
    kind: Literal["motion", "door", "button", "pressure"]
    room: str | None = Field(None, pattern=ROOM)
    role: str | None = Field(None, pattern=ROOM, description="e.g. a pressure mat's bed, seat or floor; a fixture")
    room_type: RoomTypeCode | None = Field(None, description="what the room is for, where its name does not say so")
    hold_s: float | None = Field(
        None, ge=0, le=HOLD_S_MAX, allow_inf_nan=False, description="a motion sensor's hold time, in seconds"
    )

    @model_validator(mode="after")
    def _typed_room(self) -> SensorIn:
        # A type says what a room is; without a room it says nothing, and the engine would have nowhere to put it.
        if self.room_type is not None and self.room is None:
            raise ValueError("room_type needs a room")
        return self


class HomeIn(_In):
    """A home: label, address, district, time zone, and optionally its kit."""

    id: str | None = Field(None, pattern=rf"^{HOME_ID_PATTERN}$")
    label: Text80
    district: Text80
    address: str | None = Field(None, max_length=200)
    timezone: str = DEFAULT_TIMEZONE
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    sensors: list[SensorIn] | None = Field(None, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)


class BudgetIn(_In):
    """A home's false-alarm budget: false long_inactivity alarms per 60 days; null returns it to the default."""

    # Required, so that `{}` is a mistake rather than a reset; a number, not `true` nor "1_0".
    budget: float | None = Field(ge=FALSE_ALARM_BUDGET_MIN, le=FALSE_ALARM_BUDGET_MAX, strict=True, allow_inf_nan=False)


class ContactIn(_In):
    """Someone to call about a resident: family, a neighbour, a doctor."""

    name: Text80
    relation: str | None = Field(None, max_length=40)
    phone: str = Field(pattern=PHONE)
    sms: bool = False  # next of kin told by SMS when an alert opens and how it ended (alerts/family.py)


class ResidentIn(_In):
    """A resident of a registered home; personal data."""

    home: str = Field(pattern=rf"^{HOME_ID_PATTERN}$")
    name: str = Field(min_length=1, max_length=120)
    phone: str | None = Field(None, pattern=PHONE)
    notes: str | None = Field(None, max_length=2000)
    consent: bool = False
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10)


class WindowIn(_In):
    """An availability window: weekdays (0 = Monday) and local start and end times, HH:MM."""

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=lambda: list(range(7)), max_length=7)
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ResponderIn(_In):
    """A volunteer, grid worker or operator who can be paged by SMS; the phone number is its key."""

    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(pattern=PHONE)
    role: Literal["volunteer", "grid_worker", "operator"] = "volunteer"
    district: str | None = Field(None, max_length=80)
    lang: Literal["zh-CN", "en"] = "zh-CN"
    skills: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(default_factory=list, max_length=20)
    availability: list[WindowIn] = Field(default_factory=list, max_length=14)
    vetted: bool = False
    opted_in: bool = True
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class AssignmentIn(_In):
    """A responder assigned to a home; lower priority is paged first."""

    home: str = Field(pattern=rf"^{HOME_ID_PATTERN}$")
    phone: str | None = Field(None, pattern=PHONE, description="The responder by phone number (CSV), or by id")
    responder: int | None = Field(None, ge=1)
    priority: int = Field(1, ge=0, le=99)


class PolicyIn(_In):
    """An escalation policy for a district, or an override for one home (merged over its district's)."""

    district: str | None = Field(None, max_length=80)
    home: str | None = Field(None, pattern=rf"^{HOME_ID_PATTERN}$")
    spec: dict[str, Any]


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
                "registry.error.room_type_clash", room=x.room, sensor=sensor, given=room_type, other=x.room_type
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
        return t(err.key, **err.params)
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        field = ".".join(str(p) for p in e["loc"]) or "-"
        # Pydantic's reason is English: said in the page's language when the catalogue knows its type.
        key = f"validation.{e['type']}"
        if e["type"] == "string_pattern_mismatch" and str(e["loc"][-1]).endswith("phone"):
            key = "validation.phone"  # the form a number takes says more than "not in the expected form"
        why = t(key, **e.get("ctx", {})) if t.has(key) else e["msg"]
        return t("registry.error.field", field=field, why=why)
    return str(err)
