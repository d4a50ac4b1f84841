"""A home's monitor fed by hand, day after day of one routine: the fixture of the engine's stillness tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from anomaly.engine import HomeLimits, Options
from contracts import Finding
from tests.support.anomaly_fixtures import TZ, monitor

DAY0 = datetime(2026, 11, 2, tzinfo=TZ)
MIN, SEC = timedelta(minutes=1), timedelta(seconds=1)


class Home:
    """One monitor fed by hand: every check due runs before each event, as the service's ticks would."""

    def __init__(self, limits: HomeLimits | None = None) -> None:
        self.m = monitor(Options(tz=TZ, limits=limits or HomeLimits()))
        self.found: list[Finding] = []

    def until(self, t: datetime) -> list[Finding]:
        """Run the checks due up to `t`; the findings they raise."""
        new: list[Finding] = []
        while self.m.next_check <= t.timestamp():
            new += self.m.tick_at(self.m.next_check)
        self.found += new
        return new

    def ev(self, t: datetime, sensor: str, value: int | str, room: str, kind: str = "motion") -> None:
        """One event at `t`."""
        self.until(t)
        self.found += self.m.observe_at(t.timestamp(), sensor, kind, value, room)

    def pir(self, t: datetime, room: str) -> None:
        """A PIR pulse: `1`, and `0` when its 5-s hold ends."""
        self.ev(t, f"pir_{room}", 1, room)
        self.ev(t + 5 * SEC, f"pir_{room}", 0, room)

    def alarms(self, after: datetime = DAY0) -> list[Finding]:
        """long_inactivity findings raised after `after`."""
        return [f for f in self.found if f.kind == "long_inactivity" and f.ts > after]


def live_day(h: Home, midnight: datetime, **kit: Any) -> None:
    """From 07:00 to the next 07:00: a brisk day (a PIR every 6 min), to bed at 22:00, blips in bed every 10 min.

    `kit` options: bed_mat (released on getting up, pressed in bed), floor_mat (beside the bed, stepped on in
    passing), tv_h (hours on the sofa's seat mat before bed, not moving), nap_h (an afternoon nap in the living
    room), night_up (off the bed at 03:00 for the toilet), long_gap (one 40-minute silence in bed), bedroom_pir,
    stop (the hour after that midnight, up to 31, at which the day is cut short: an incident's moment).
    """

    def at(hours: float) -> datetime:
        return midnight + timedelta(hours=hours)

    pir = kit.get("bedroom_pir", True)

    def bedroom(t: datetime) -> None:
        if kit.get("floor_mat"):
            h.ev(t - 2 * SEC, "floor_mat", 1, "bedroom", "pressure")
            h.ev(t - SEC, "floor_mat", 0, "bedroom", "pressure")
        if pir:
            h.pir(t, "bedroom")

    if kit.get("bed_mat"):
        h.ev(at(7), "bed_mat", 0, "bedroom", "pressure")
    bedroom(at(7) + 3 * SEC)
    h.ev(at(7.1), "wardrobe", "open", "bedroom", "contact")
    h.ev(at(7.1) + 30 * SEC, "wardrobe", "closed", "bedroom", "contact")
    t, i, tv, stop = 7.2, 0, 22.0 - kit.get("tv_h", 0.0), kit.get("stop", 99.0)
    while t < min(tv, stop) - 0.01:  # (the last pulse's `0` must not come after the next moment's event)
        if kit.get("nap_h") and 14.0 <= t < 14.1:
            h.pir(at(t), "living")
            t += kit["nap_h"]
        h.pir(at(t), ("kitchen", "living", "bathroom", "living")[i % 4])
        i, t = i + 1, t + 0.1
    if stop < 22.0:
        return
    if kit.get("tv_h"):
        h.ev(at(tv), "seat_mat", 1, "living", "pressure")
        h.ev(at(21.99), "seat_mat", 0, "living", "pressure")
    bedroom(at(22))
    if kit.get("bed_mat"):
        h.ev(at(22) + 30 * SEC, "bed_mat", 1, "bedroom", "pressure")
    t = 22 + 1 / 6
    while t < min(30.9, stop) - 0.01:
        if kit.get("long_gap") and 25.0 <= t < 25.6:
            t = 25 + 40 / 60
        if kit.get("night_up") and abs(t - 27.0) < 0.05:
            getting_up(h, at(27), bed_mat=kit.get("bed_mat", False))
        elif pir:
            h.pir(at(t), "bedroom")
        t += 1 / 6


def getting_up(h: Home, t: datetime, *, bed_mat: bool) -> None:
    """Off the bed at night: walking within seconds, the toilet, back to bed."""
    if bed_mat:
        h.ev(t, "bed_mat", 0, "bedroom", "pressure")
    h.pir(t + 3 * SEC, "bedroom")
    for k in range(4):
        h.pir(t + timedelta(minutes=1 + k), "bathroom")
    h.pir(t + 6 * MIN, "bedroom")
    if bed_mat:
        h.ev(t + 6 * MIN + 30 * SEC, "bed_mat", 1, "bedroom", "pressure")


def learned(days: int = 14, limits: HomeLimits | None = None, stop_last: float = 0.0, **kit: Any) -> Home:
    """A home after `days` days of the same routine, and the next day's until `stop_last` if given."""
    h = Home(limits)
    for d in range(days):
        live_day(h, DAY0 + timedelta(days=d), **kit)
    if stop_last:
        live_day(h, DAY0 + timedelta(days=days), stop=stop_last, **kit)
    return h


def num(f: Finding, key: str) -> float:
    """A number in a finding's evidence."""
    value = f.evidence[key]
    assert isinstance(value, int | float)
    return value
