"""The world a simulated resident lives in: time units, profiles, layouts, activities (plan segments) and the
records the model produces. No behaviour of sensors or incidents here (see `sensors`, `incidents`)."""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from functools import cache

MIN = 60.0
HOUR = 3600.0
DAY = 86400.0

INCIDENT_TYPES = (
    "long_lie",
    "fall_short",
    "night_exit",
    "night_wandering",
    "door_left_open",
    "late_wakeup",
    "illness",
    "night_restlessness",
    "sensor_dead",
    "agent_offline",
    "panic",
)
HEALTH_INCIDENTS = ("sensor_dead", "agent_offline")
OUT = "out"


@dataclass(frozen=True)
class Profile:
    """How one kind of resident lives; times in hours after midnight (bed may pass 24), spreads in minutes."""

    name: str
    wake_h: float
    wake_sd: float
    bed_h: float
    bed_sd: float
    weekend_shift: float  # minutes later on Saturday and Sunday
    night_toilet: float  # mean visits per night
    toilet_every_h: float  # daytime bathroom visits, mean hours apart
    nap_p: float
    nap_min: float
    walk_p: float
    walk_h: float  # usual hour of the daily walk
    shop_p: float
    market_days: tuple[int, ...]  # weekdays (Monday 0) with a market morning
    visit_out_p: float  # goes visiting for hours
    night_away_p: float
    visitors_p: float  # someone comes round
    activity: float  # movement intensity multiplier
    meal_sd: float
    restless: float  # chance per night of getting up to potter (irregular sleepers)


# The profiles of the first simulator version (`--variety classic` draws only these).
CLASSIC_PROFILES = (
    "regular", "early_riser", "night_owl", "night_toilet", "housebound", "very_active", "irregular",
)  # fmt: skip

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("regular", 6.5, 20, 22.25, 25, 20, 0.8, 2.5, 0.4, 40, 0.6, 9.0, 0.3, (2, 5), 0.06, 0.01, 0.25, 1.0,
                20, 0.02),
        Profile("early_riser", 5.0, 15, 20.75, 20, 0, 0.7, 2.5, 0.5, 30, 0.85, 6.0, 0.3, (0, 3, 5), 0.05, 0.01,
                0.2, 1.1, 15, 0.02),
        Profile("night_owl", 8.75, 35, 24.75, 40, 45, 0.6, 2.5, 0.2, 45, 0.45, 16.0, 0.35, (5,), 0.08, 0.02, 0.3,
                0.95, 35, 0.05),
        Profile("night_toilet", 6.25, 20, 21.75, 25, 15, 3.0, 1.6, 0.5, 40, 0.5, 9.5, 0.25, (1, 4), 0.04, 0.0,
                0.25, 0.9, 20, 0.05),
        Profile("housebound", 7.25, 30, 21.5, 30, 0, 1.2, 2.2, 0.85, 70, 0.0, 10.0, 0.0, (), 0.0, 0.0, 0.45, 0.6,
                30, 0.05),
        Profile("very_active", 6.0, 20, 22.5, 25, 30, 0.5, 2.8, 0.15, 25, 0.95, 7.0, 0.6, (1, 3, 5), 0.25, 0.04,
                0.3, 1.4, 20, 0.01),
        Profile("irregular", 8.0, 90, 23.5, 100, 30, 1.5, 2.0, 0.5, 60, 0.35, 11.0, 0.2, (), 0.05, 0.02, 0.3, 0.9,
                60, 0.25),
        # Real recordings (UCI ADL, CASAS): up at 10:00-12:00, to bed at 01:00-03:00.
        Profile("late_riser", 10.5, 40, 25.25, 40, 20, 0.8, 2.5, 0.3, 40, 0.4, 16.0, 0.3, (), 0.06, 0.01, 0.3, 0.9,
                30, 0.05),
        Profile("night_owl_extreme", 11.75, 45, 26.75, 45, 30, 0.6, 2.5, 0.2, 40, 0.3, 17.5, 0.3, (), 0.05, 0.01,
                0.25, 0.85, 40, 0.08),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """Rooms and which open into which; `main` is where the day is spent."""

    name: str
    rooms: tuple[str, ...]
    doors: tuple[tuple[str, str], ...]
    main: str

    def path(self, a: str, b: str) -> tuple[str, ...]:
        """Rooms passed through between `a` and `b`, both excluded."""
        return _path(self, a, b)


@cache
def _path(layout: Layout, a: str, b: str) -> tuple[str, ...]:
    prev: dict[str, str] = {a: a}
    todo = deque([a])
    while todo:
        r = todo.popleft()
        for x, y in layout.doors:
            for u, v in ((x, y), (y, x)):
                if u == r and v not in prev:
                    prev[v] = r
                    todo.append(v)
    if b not in prev:
        return ()
    out: list[str] = []
    r = prev[b]
    while r != a:
        out.append(r)
        r = prev[r]
    return tuple(reversed(out))


LAYOUTS: dict[str, Layout] = {
    "studio": Layout(
        "studio",
        ("entrance", "bedroom", "kitchen", "bathroom"),
        (("entrance", "bedroom"), ("entrance", "kitchen"), ("bedroom", "kitchen"), ("entrance", "bathroom")),
        "bedroom",
    ),
    "one_bedroom": Layout(
        "one_bedroom",
        ("entrance", "living", "kitchen", "bathroom", "bedroom"),
        (("entrance", "living"), ("living", "kitchen"), ("living", "bathroom"), ("living", "bedroom")),
        "living",
    ),
    "two_bedroom": Layout(
        "two_bedroom",
        ("entrance", "living", "kitchen", "bathroom", "bedroom", "study"),
        (("entrance", "living"), ("living", "kitchen"), ("living", "bathroom"), ("living", "bedroom"),
         ("living", "study"), ("bedroom", "bathroom")),
        "living",
    ),
}  # fmt: skip

# Movements per minute that a PIR can see, per activity; a home's `rates` may override some (micro-activity).
RATES = {
    "sleep": 0.01, "nap": 0.03, "rest": 0.08, "tv": 0.3, "sit": 0.6, "eat": 0.8, "cook": 3.0, "bathroom": 1.5,
    "dress": 1.5, "potter": 1.2, "shoes": 2.0, "walk": 4.0, "lying": 0.0, "recover": 0.4, "wander": 3.0,
    "ill_rest": 0.08,  # resting in bed while ill
}  # fmt: skip


@dataclass
class IncidentPlan:
    """An incident to play: on a day (placed by the model) or at a given time, for a duration or a drawn one."""

    type: str
    day: int = 0
    at: float | None = None
    dur: float | None = None
    days: int = 1


@dataclass(frozen=True)
class Label:
    """Ground truth of one incident (see docs/sim.md for what start and end mean per type)."""

    type: str
    start: float
    end: float
    note: str


@dataclass(frozen=True)
class Event:
    """One sensor report; value as written to events.csv."""

    t: float
    sensor: str
    kind: str
    value: str
    room: str


@dataclass
class Seg:
    """The resident somewhere doing something: movements per minute, in bed or not."""

    t0: float
    t1: float
    place: str
    act: str
    rate: float
    bed: bool = False
    entry: bool = True


def overwrite(segs: list[Seg], new: list[Seg]) -> list[Seg]:
    """`segs` with the time covered by `new` replaced by `new` (both sorted, contiguous within themselves)."""
    if not new:
        return segs
    a, b = new[0].t0, new[-1].t1
    out: list[Seg] = []
    for s in segs:
        if s.t1 <= a or s.t0 >= b:
            out.append(s)
            continue
        if s.t0 < a:
            out.append(Seg(s.t0, a, s.place, s.act, s.rate, s.bed, s.entry))
        if s.t1 > b:
            out.append(Seg(b, s.t1, s.place, s.act, s.rate, s.bed, False))
    out.extend(new)
    out.sort(key=lambda s: s.t0)
    return out


def at(segs: list[Seg], t: float) -> Seg | None:
    """The segment going on at `t`."""
    for s in segs:
        if s.t0 <= t < s.t1:
            return s
    return None


def clip(segs: list[Seg], lo: float, hi: float) -> list[Seg]:
    """The part of `segs` between `lo` and `hi`; a segment cut at its start does not start with an entry."""
    return [
        Seg(max(s.t0, lo), min(s.t1, hi), s.place, s.act, s.rate, s.bed, s.entry and s.t0 >= lo)
        for s in segs
        if s.t0 < hi and s.t1 > lo
    ]


def poisson(r: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; means here are small)."""
    n, p, limit = 0, 1.0, math.exp(-mean)
    while True:
        p *= r.random()
        if p <= limit:
            return n
        n += 1


def clock(t: float) -> str:
    """`HH:MM` of model time `t`."""
    s = int(t % DAY)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}"
