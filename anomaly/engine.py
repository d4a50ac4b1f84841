"""Per-home detection as pure state machines: `observe(event)` and `tick(now)` return findings, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from contracts import Finding, SensorEvent, Severity

DETECTOR = "spine-fixed-limits"
# An event this far behind the clock comes from an agent replaying its queue; inactivity waits until it has settled.
REPLAY_LAG = timedelta(minutes=2)
REPLAY_SETTLE = timedelta(seconds=60)


class Presence(StrEnum):
    """Where the resident is, as far as the sensors tell."""

    HOME = "home"
    AWAY = "away"


def is_front_door(event: SensorEvent) -> bool:
    """The front door: a door sensor in the entrance (or with no room given)."""
    return event.kind == "door" and (event.room is None or event.room.lower() == "entrance")


@dataclass(frozen=True)
class NightRule:
    """A longer limit while the resident is probably asleep: last seen in the bedroom during the night hours."""

    limit: timedelta
    start_hour: int
    end_hour: int
    tz: ZoneInfo

    def applies(self, last_motion: datetime, room: str | None) -> bool:
        """Whether stillness since `last_motion` in `room` looks like sleep."""
        if room != "bedroom":
            return False
        h = last_motion.astimezone(self.tz).hour
        return (
            h >= self.start_hour or h < self.end_hour
            if self.start_hour > self.end_hour
            else (self.start_hour <= h < self.end_hour)
        )


@dataclass
class HomeMonitor:
    """One home's state: presence from door and motion, last movement, and what was already reported."""

    home: str
    inactivity_limit: timedelta
    exit_grace: timedelta
    night: NightRule
    presence: Presence = Presence.HOME
    last_motion: datetime | None = None
    last_motion_room: str | None = None
    door_closed_at: datetime | None = None
    reported_inactivity_for: datetime | None = None
    replaying_at: datetime | None = None

    def observe(self, event: SensorEvent, received: datetime | None = None) -> list[Finding]:
        """Update state from one event, received at `received`; a panic press is a finding at once."""
        out: list[Finding] = []
        if received is not None and received - event.ts > REPLAY_LAG:
            self.replaying_at = received
        if event.kind == "button" and event.value in ("press", "long_press"):
            out.append(
                Finding(
                    id=f"{event.home}:panic:{event.agent}:{event.seq}",
                    home=event.home,
                    kind="panic",
                    severity=Severity.CRITICAL,
                    ts=event.ts,
                    since=event.ts,
                    detector=DETECTOR,
                    evidence={"sensor": event.sensor, "room": event.room, "press": str(event.value)},
                )
            )
        elif event.kind in ("motion", "pressure") and event.value == 1:
            if self.last_motion is None or event.ts >= self.last_motion:
                self.last_motion, self.last_motion_room = event.ts, event.room
            self.presence = Presence.HOME
            if self.door_closed_at is not None and event.ts >= self.door_closed_at:
                self.door_closed_at = None
        elif is_front_door(event):
            if event.value == "closed":
                self.door_closed_at = event.ts
            # Any door use is movement too: someone is there to open it.
            if self.last_motion is None or event.ts >= self.last_motion:
                self.last_motion, self.last_motion_room = event.ts, event.room
        return out

    def tick(self, now: datetime) -> list[Finding]:
        """Advance the clock: settle presence and report inactivity past the limit, once per stillness."""
        if self.door_closed_at is not None and now - self.door_closed_at >= self.exit_grace:
            self.presence = Presence.AWAY
            self.door_closed_at = None
        if self.presence is not Presence.HOME or self.last_motion is None:
            return []
        if self.replaying_at is not None and now - self.replaying_at < REPLAY_SETTLE:
            return []  # the agent is still replaying its queue: stillness so far is only a gap in what arrived
        still = now - self.last_motion
        limit = (
            self.night.limit if self.night.applies(self.last_motion, self.last_motion_room) else self.inactivity_limit
        )
        if still < limit or self.reported_inactivity_for == self.last_motion:
            return []
        self.reported_inactivity_for = self.last_motion
        return [
            Finding(
                id=f"{self.home}:long_inactivity:{int(self.last_motion.timestamp())}",
                home=self.home,
                kind="long_inactivity",
                severity=Severity.CRITICAL,
                ts=now,
                since=self.last_motion,
                detector=DETECTOR,
                evidence={
                    "last_motion": self.last_motion.isoformat(),
                    "room": self.last_motion_room,
                    "still_min": round(still.total_seconds() / 60),
                    "limit_min": round(limit.total_seconds() / 60),
                },
            )
        ]


@dataclass
class Engine:
    """All homes' monitors; a home is created on its first event."""

    inactivity_limit: timedelta
    exit_grace: timedelta
    night: NightRule
    homes: dict[str, HomeMonitor] = field(default_factory=dict)

    def monitor(self, home: str) -> HomeMonitor:
        """The monitor of a home, created on first use."""
        m = self.homes.get(home)
        if m is None:
            m = self.homes[home] = HomeMonitor(home, self.inactivity_limit, self.exit_grace, self.night)
        return m

    def observe(self, event: SensorEvent, received: datetime | None = None) -> list[Finding]:
        """Feed one event to its home."""
        return self.monitor(event.home).observe(event, received)

    def tick(self, now: datetime) -> list[Finding]:
        """Advance every home's clock."""
        return [f for m in self.homes.values() for f in m.tick(now)]
