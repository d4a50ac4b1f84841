"""Stage 2, inhibit and silence: whether a home's maintenance, an away silence or an open alert holds a new one."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import escalation
from anxin.db.models import Alert, Home, Silence
from contracts import FindingKind

# A panic press is never held back. An offline hub explains silent sensors and flat batteries, so it inhibits those;
# a device alert never inhibits anything that concerns the person.
K = FindingKind
NEVER_SILENCED = frozenset({K.PANIC})
DEVICE_KINDS = frozenset({K.AGENT_OFFLINE, K.SENSOR_SILENT, K.LOW_BATTERY})
INHIBITS: dict[str, frozenset[str]] = {K.AGENT_OFFLINE: frozenset({K.SENSOR_SILENT, K.LOW_BATTERY})}
# What a resident away by arrangement explains: no activity, not up, a door, no one coming home at night.
AWAY_KINDS = frozenset({K.LONG_INACTIVITY, K.MISSED_MORNING, K.NIGHT_EXIT, K.DOOR_LEFT_OPEN})
# An inhibited alert looks again this often whether what inhibits it has closed.
INHIBIT_RECHECK = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SilenceLike(Protocol):
    """What silence_reason reads of a silence (the SQL row fits)."""

    @property
    def category(self) -> str: ...
    @property
    def kinds(self) -> list[str] | None: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def reason(self) -> str: ...


def silence_reason(kind: str, silences: Iterable[SilenceLike], now: datetime) -> str | None:
    """Why a finding of `kind` is held by one of the silences at `now`, or None; a panic press never is."""
    if kind in NEVER_SILENCED:
        return None
    for s in silences:
        if not (s.starts_at <= now < s.ends_at):
            continue
        if s.kinds:
            if kind not in s.kinds:
                continue
        elif s.category == "away" and kind not in AWAY_KINDS:
            continue
        return f"{s.category}: {s.reason}"[:200]
    return None


def inhibited_by(kind: str, open_kinds: Collection[str]) -> str | None:
    """The open alert kind of the same home that explains a finding of `kind`, or None."""
    for source in sorted(open_kinds):
        if kind in INHIBITS.get(source, frozenset()):
            return source
    return None


@dataclass(frozen=True)
class _Maintenance:
    """A home's `maintenance_until`, read as the silence it is."""

    ends_at: datetime
    category: str = "maintenance"
    kinds: list[str] | None = None
    starts_at: datetime = _EPOCH
    reason: str = "home in maintenance"


# The SQL of this stage: the home's silences and the kinds of its open alerts.


def suppression(session: Session, home: Home, kind: str, now: datetime) -> tuple[str | None, datetime | None]:
    """Why a new alert of `kind` is held (silence, maintenance, inhibition) and until when to look again."""
    silences: list[SilenceLike] = list(
        session.scalars(select(Silence).where(Silence.home_id == home.id, Silence.ends_at > now))
    )
    if home.maintenance_until is not None and home.maintenance_until > now:
        silences.append(_Maintenance(home.maintenance_until))
    why = silence_reason(kind, silences, now)
    if why is not None:
        ends = [s.ends_at for s in silences if silence_reason(kind, [s], now) is not None]
        return why, min(ends)
    open_kinds = set(
        session.scalars(
            select(Alert.kind).where(Alert.home_id == home.id, Alert.state.not_in(escalation.CLOSED_STATES))
        )
    )
    source = inhibited_by(kind, open_kinds)
    if source is not None:
        return f"inhibited by {source}", now + INHIBIT_RECHECK
    return None, None
