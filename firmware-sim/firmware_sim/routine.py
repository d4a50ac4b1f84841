"""A plausible resident's day, as the sensor events it causes. The simulator issue makes residents realistic."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware_sim.homes import SimSensor

PIR_HOLD = timedelta(seconds=60)


@dataclass(frozen=True, order=True)
class SimEvent:
    """One sensor report in simulated time."""

    ts: datetime
    sensor: str
    kind: str
    value: int | str
    room: str


class Resident:
    """Generates a resident's days: sleep with night toilet visits, rooms by day, an outing or two."""

    def __init__(self, sensors: list[SimSensor], rng: random.Random) -> None:
        self.rng = rng
        self.motion = {s.room: s.id for s in sensors if s.kind == "motion"}
        self.door = next((s.id for s in sensors if s.kind == "door"), None)
        self.wake = timedelta(hours=rng.uniform(6.0, 7.5))
        self.bed = timedelta(hours=rng.uniform(21.5, 23.0))

    def _stay(self, room: str, t0: datetime, t1: datetime, mean_gap_s: float, out: list[SimEvent]) -> None:
        """PIR reports while someone stays in a room: active, clear after the hold time, again on movement."""
        sensor = self.motion.get(room)
        if sensor is None:
            return
        t = t0
        while t < t1:
            out.append(SimEvent(t, sensor, "motion", 1, room))
            clear = t + PIR_HOLD
            out.append(SimEvent(clear, sensor, "motion", 0, room))
            t = clear + timedelta(seconds=self.rng.expovariate(1 / mean_gap_s))

    def _outing(self, t0: datetime, length: timedelta, out: list[SimEvent]) -> None:
        self._stay("entrance", t0 - timedelta(seconds=30), t0, 600, out)
        if self.door:
            out.append(SimEvent(t0, self.door, "door", "open", "entrance"))
            out.append(SimEvent(t0 + timedelta(seconds=15), self.door, "door", "closed", "entrance"))
            back = t0 + length
            out.append(SimEvent(back, self.door, "door", "open", "entrance"))
            out.append(SimEvent(back + timedelta(seconds=12), self.door, "door", "closed", "entrance"))
        self._stay("entrance", t0 + length + timedelta(seconds=5), t0 + length + timedelta(seconds=40), 600, out)

    def day(self, midnight: datetime) -> list[SimEvent]:
        """Every event of one day, midnight to midnight, in time order."""
        r, out = self.rng, list[SimEvent]()
        wake = midnight + self.wake + timedelta(minutes=r.gauss(0, 20))
        bed = midnight + self.bed + timedelta(minutes=r.gauss(0, 25))
        # Night toilet visits before waking.
        for _ in range(r.choice((0, 1, 1, 2))):
            t = midnight + timedelta(hours=r.uniform(1, 5))
            self._stay("bedroom", t, t + timedelta(minutes=1), 600, out)
            self._stay("bathroom", t + timedelta(minutes=1), t + timedelta(minutes=r.uniform(3, 8)), 90, out)
        outings = sorted(midnight + timedelta(hours=r.uniform(9, 17)) for _ in range(r.choice((0, 1, 1, 2))))
        t = wake
        away_until: datetime | None = None
        rooms = [room for room in self.motion if room != "entrance"] or ["entrance"]
        while t < bed:
            if outings and t >= outings[0]:
                length = timedelta(minutes=r.uniform(30, 150))
                self._outing(outings.pop(0), length, out)
                away_until = t + length + timedelta(minutes=1)
                t = away_until
                continue
            room = r.choice(rooms)
            dwell = timedelta(minutes=r.expovariate(1 / 20))
            end = min(t + dwell, bed)
            self._stay(room, t, end, 240 if room != "bathroom" else 90, out)
            t = end + timedelta(seconds=r.uniform(5, 40))
        self._stay("bedroom", bed, bed + timedelta(minutes=5), 120, out)
        return sorted(e for e in out if midnight <= e.ts < midnight + timedelta(days=1))

    def events(self, start: datetime) -> Iterator[SimEvent]:
        """Events from `start` on, forever, in time order."""
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while True:
            for e in self.day(midnight):
                if e.ts >= start:
                    yield e
            midnight += timedelta(days=1)
