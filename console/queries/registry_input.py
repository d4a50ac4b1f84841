"""What a registry change may say: the models of the console's request bodies, forms and `anxin registry import`.

Checked before anything is read or written (console/queries/registry.py checks a change against what exists). Apart
from the changes themselves so that each file stays one job: the words a change may use, and what it does.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from anxin.zones import known_zone
from contracts.topics import HOME_ID_PATTERN
from contracts.vocabulary import (
    DEFAULT_TIMEZONE,
    FALSE_ALARM_BUDGET_MAX,
    FALSE_ALARM_BUDGET_MIN,
    HOLD_S_MAX,
    RoomTypeCode,
)

PHONE = r"^\+[1-9][0-9]{6,14}$"
SENSOR = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
ROOM = r"^[a-z][a-z0-9_]{0,31}$"
# The kinds a sensor sends on the wire (contracts/messages.py KNOWN_VALUES): ingest refuses a kit sensor of another.
SENSOR_KINDS = ("motion", "door", "button", "pressure")
RESPONDER_ROLES = ("volunteer", "grid_worker", "operator")
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")  # as a person (or repr) writes one
Text80 = Annotated[str, Field(min_length=1, max_length=80)]


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
    # Strict: a number, not `true` nor "1_0" (forms and sheets convert what a person typed with `typed_number`).
    hold_s: float | None = Field(
        None, ge=0, le=HOLD_S_MAX, strict=True, allow_inf_nan=False, description="a motion sensor's hold time, in s"
    )

    @field_validator("room_type")
    @classmethod
    def _typed_room(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A type says what a room is; without a room it says nothing, and the engine would have nowhere to put it.
        if value is not None and "room" in info.data and not info.data["room"]:  # (a room refused is said already)
            raise PydanticCustomError("room_type_without_room", "a room type needs a room")
        return value

    @field_validator("hold_s")
    @classmethod
    def _motion_hold(cls, value: float | None, info: ValidationInfo) -> float | None:
        # Only a motion sensor stays on after seeing someone; on a door or a mat the number would mean nothing.
        if value is not None and "kind" in info.data and info.data["kind"] != "motion":
            raise PydanticCustomError("hold_s_not_motion", "only a motion sensor has a hold time")
        return None if value is None else value + 0.0  # (-0.0 is 0)


def typed_number(raw: str | None) -> float | str | None:
    """A number as a person typed it in a form or a sheet; else the text itself, which a strict model refuses with
    the field named ("1_0" is not 10, "nan" no number)."""
    text = (raw or "").strip()
    if not text:
        return None
    return float(text) if NUMBER.fullmatch(text) else text


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
