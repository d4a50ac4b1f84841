"""Helpers for anomaly tests: a home's events built by hand, as SensorEvents or as replay CSV text."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.engine import HomeMonitor, Options
from contracts import SensorEvent

TZ = ZoneInfo("Asia/Shanghai")
HOME = "h-aaaaaa"


class Agent:
    """Makes a home's events with increasing seq numbers."""

    def __init__(self, home: str = HOME) -> None:
        self.home = home
        self.seq = 0

    def __call__(self, ts: datetime, sensor: str, kind: str, value: int | str, room: str | None) -> SensorEvent:
        self.seq += 1
        return SensorEvent(
            home=self.home, agent="pi-1", seq=self.seq, ts=ts, sensor=sensor, kind=kind, value=value, room=room
        )


def routine_day(m: HomeMonitor, midnight: datetime, *, afternoon_nap_h: float = 0.0) -> list[str]:
    """Feed one ordinary day (wake 07:00, bed 22:00, a toilet visit at 03:00) to a monitor; returns finding kinds."""
    kinds: list[str] = []

    def at(h: float, room: str) -> None:
        t = (midnight + timedelta(hours=h)).timestamp()
        while m.next_check <= t:
            kinds.extend(f.kind for f in m.tick_at(m.next_check))
        kinds.extend(f.kind for f in m.observe_at(t, f"pir_{room}", "motion", 1, room))

    at(3.0, "bedroom")
    at(3.02, "bathroom")
    at(3.1, "bathroom")
    at(3.15, "bedroom")
    h = 7.0
    rooms = ("kitchen", "living", "bathroom", "living")
    i = 0
    while h < 22.0:
        if afternoon_nap_h and 14.0 <= h < 14.1:
            at(h, "living")
            h += afternoon_nap_h
            continue
        at(h, rooms[i % len(rooms)])
        i += 1
        h += 0.1
    at(22.0, "bedroom")
    return kinds


def monitor(options: Options | None = None) -> HomeMonitor:
    """A fresh monitor for HOME in TZ."""
    o = options or Options(tz=TZ)
    return HomeMonitor(HOME, o.tz, o.limits, o.tuning)
