"""One model of a home: a resident's days as activities in places, sensors that see them as real hardware does,
and incidents with their ground truth. Files, live MQTT and load tests all play this model.

Time inside the model is float seconds since local midnight of the first day (naive local time). Randomness comes
from string-seeded `random.Random` streams per home, day and purpose, so the same seed gives the same bytes whatever
order homes are generated in.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, timedelta
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

KITS = ("sparse", "basic", "standard", "rich")


@dataclass
class SensorModel:
    """One sensor and how its hardware behaves."""

    id: str
    kind: str
    room: str
    hold_s: float = 0.0  # PIR: stays "occupied" this long after the last movement it saw
    cooldown_s: float = 0.0  # PIR: blind after reporting clear
    miss_p: float = 0.0  # PIR: chance to miss the movement that would have triggered it
    spurious_per_day: float = 0.0  # PIR: false triggers (heat, sunlight, pets of neighbours)
    bounce_p: float = 0.0  # reed switch: chance a transition chatters
    battery_start: float = 0.0  # percent, 0 for mains-powered
    drain_per_day: float = 0.0

    @property
    def battery(self) -> bool:
        """Battery-powered (reports its level daily, can go flat)."""
        return self.battery_start > 0


def kit_sensors(kit: str, layout: Layout, rng: random.Random) -> list[SensorModel]:
    """The sensors of a kit in a layout, each with its own hardware quirks drawn from `rng`."""
    if kit not in KITS:
        raise ValueError(f"unknown sensor kit {kit!r}; known: {', '.join(KITS)}")
    rooms = [r for r in layout.rooms if r != "entrance"]
    if kit == "sparse":
        pir_rooms = [layout.main, "kitchen" if layout.main != "kitchen" else "bathroom"]
    elif kit == "basic":
        pir_rooms = rooms
    else:
        pir_rooms = [*rooms, "entrance"]
    out = [
        SensorModel(
            "front_door",
            "door",
            "entrance",
            bounce_p=rng.choice((0.0, 0.02, 0.05, 0.12)),
            battery_start=rng.uniform(35, 100),
            drain_per_day=rng.uniform(0.05, 0.3),
        )
    ]
    for room in pir_rooms:
        out.append(
            SensorModel(
                f"pir_{room}",
                "motion",
                room,
                hold_s=rng.choice((30.0, 60.0, 60.0, 90.0)),
                cooldown_s=rng.choice((5.0, 10.0, 30.0)),
                miss_p=rng.uniform(0.01, 0.08),
                spurious_per_day=rng.choice((0.05, 0.2, 0.5)),
                battery_start=rng.uniform(35, 100),
                drain_per_day=rng.uniform(0.1, 0.6),
            )
        )
    if kit == "rich":
        out.append(SensorModel("bed_mat", "pressure", "bedroom", battery_start=rng.uniform(50, 100),
                               drain_per_day=rng.uniform(0.05, 0.3)))  # fmt: skip
    if kit in ("basic", "standard", "rich"):
        out.append(SensorModel("panic", "button", "bedroom", battery_start=rng.uniform(60, 100), drain_per_day=0.02))
    return out


@dataclass(frozen=True)
class HomeSpec:
    """Everything that defines a simulated home; with the seed it fixes every event."""

    home: str
    profile: str
    layout: str
    sensors: tuple[SensorModel, ...]
    seed: str
    start: date


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


RATES = {
    "sleep": 0.01, "nap": 0.03, "rest": 0.08, "tv": 0.3, "sit": 0.6, "eat": 0.8, "cook": 3.0, "bathroom": 1.5,
    "dress": 1.5, "potter": 1.2, "shoes": 2.0, "walk": 4.0, "lying": 0.0, "recover": 0.4, "wander": 3.0,
}  # fmt: skip


class HomeSim:
    """Plays one home: plan days, move the resident (and visitors), let the sensors see it, day by day."""

    def __init__(self, spec: HomeSpec, incidents: list[IncidentPlan], end: float = math.inf) -> None:
        self.spec = spec
        self.p = PROFILES[spec.profile]
        self.layout = LAYOUTS[spec.layout]
        self.end = end
        self.sensors = {s.id: s for s in spec.sensors}
        self.pirs = {s.room: s for s in spec.sensors if s.kind == "motion"}
        self.door = next((s for s in spec.sensors if s.kind == "door"), None)
        self.mat = next((s for s in spec.sensors if s.kind == "pressure"), None)
        self.button = next((s for s in spec.sensors if s.kind == "button"), None)
        self.labels: list[Label] = []
        self.quirks: Counter[str] = Counter()
        self.moves: dict[str, list[float]] = {r: [] for r in self.layout.rooms}
        self.raw: dict[str, list[tuple[float, str]]] = {s.id: [] for s in spec.sensors if s.kind != "motion"}
        self.quiet: list[tuple[float, float]] = []
        self.dead: dict[str, list[tuple[float, float]]] = {s.id: [] for s in spec.sensors}
        self.offline: list[tuple[float, float, str]] = []
        self.replaced: dict[str, float] = {}
        self.busy: list[tuple[float, float]] = []  # incident windows: no visitors, no other incidents
        self._wakes: dict[int, float] = {}
        self._beds: dict[int, float] = {}
        self.late: dict[int, float] = {}
        self.ill: set[int] = set()
        self.restless: set[int] = set()
        self.by_day: dict[int, list[IncidentPlan]] = {}
        self._forced: list[Seg] = []
        self._planned_until = 0.0
        self._next_plan = -1
        self._last_room = "bedroom"
        self._last_place = "bedroom"
        self._pir: dict[str, _PirState] = {room: _PirState() for room in self.pirs}
        self.nights: dict[int, int] = {}  # night toilet visits per night (statistics)
        for s in spec.sensors:
            self._battery_life(s)
        for inc in incidents:
            self._schedule(inc)

    # --- randomness -------------------------------------------------------------------------------------------

    def rng(self, *tags: object) -> random.Random:
        """An independent random stream for this home and `tags`."""
        return random.Random(":".join([self.spec.seed, *map(str, tags)]))

    # --- the resident's calendar ------------------------------------------------------------------------------

    def weekday(self, d: int) -> int:
        """Monday 0 ... Sunday 6."""
        return (self.spec.start + timedelta(days=d)).weekday()

    def usual_wake(self, d: int) -> float:
        """The profile's typical getting-up time on day `d` (absolute seconds)."""
        shift = self.p.weekend_shift if self.weekday(d) >= 5 else 0.0
        return d * DAY + self.p.wake_h * HOUR + shift * MIN

    def wake(self, d: int) -> float:
        """When the resident gets up on day `d`."""
        if d not in self._wakes:
            r = self.rng("wake", d)
            spread = max(-2.5 * self.p.wake_sd, min(2.5 * self.p.wake_sd, r.gauss(0, self.p.wake_sd)))
            t = self.usual_wake(d) + spread * MIN
            if d in self.ill:
                t += r.uniform(30, 75) * MIN
            self._wakes[d] = max(t, d * DAY + 3.5 * HOUR) + self.late.get(d, 0.0)
        return self._wakes[d]

    def bedtime(self, d: int) -> float:
        """When the resident goes to bed in the evening of day `d` (may be after midnight)."""
        if d not in self._beds:
            r = self.rng("bed", d)
            shift = self.p.weekend_shift if self.weekday(d) >= 5 else 0.0
            spread = max(-2.5 * self.p.bed_sd, min(2.5 * self.p.bed_sd, r.gauss(0, self.p.bed_sd)))
            t = d * DAY + self.p.bed_h * HOUR + (shift + spread) * MIN
            if d in self.ill:
                t -= r.uniform(30, 90) * MIN
            self._beds[d] = min(max(t, self.wake(d) + 10 * HOUR), self.wake(d + 1) - 4 * HOUR)
        return self._beds[d]

    # --- incidents ----------------------------------------------------------------------------------------------

    def _schedule(self, inc: IncidentPlan) -> None:
        if inc.type not in INCIDENT_TYPES:
            raise ValueError(f"unknown incident type {inc.type!r}; known: {', '.join(INCIDENT_TYPES)}")
        r = self.rng("incident", inc.type, inc.day, inc.at)
        if inc.at is not None:
            inc.day = int(inc.at // DAY)
            if inc.type not in HEALTH_INCIDENTS and inc.at < self.wake(inc.day):
                inc.day -= 1  # before getting up: the previous day's plan (its night) holds that time
        d = inc.day
        if inc.type == "late_wakeup":
            if inc.at is not None and inc.at > self.usual_wake(d):
                d = inc.day = d + 1
            self.late[d] = inc.dur if inc.dur is not None else r.uniform(max(2 * HOUR, 3 * self.p.wake_sd * MIN),
                                                                        5 * HOUR)  # fmt: skip
            start = self.usual_wake(d)
            self._label("late_wakeup", start, self.wake(d), f"usual={_clock(start)}")
            self.busy.append((start - HOUR, self.wake(d) + HOUR))
        elif inc.type == "illness":
            self.ill.update(range(d, d + inc.days))
            self._label("illness", d * DAY, (d + inc.days) * DAY, f"days={inc.days}")
        elif inc.type == "night_restlessness":
            self.restless.update(range(d, d + inc.days))
            self.by_day.setdefault(d, []).append(inc)  # labelled once the bedtimes are known
        elif inc.type == "sensor_dead":
            candidates = [s for s in self.spec.sensors if s.kind in ("motion", "door", "pressure")]
            s = max(candidates, key=lambda s: (s.kind == "motion", s.room == self.layout.main, s.id))
            if inc.at is None:
                s = r.choice(candidates)
            t0 = inc.at if inc.at is not None else d * DAY + r.uniform(0, DAY)
            t1 = t0 + (inc.dur if inc.dur is not None else r.uniform(1, 10) * DAY)
            self.dead[s.id].append((t0, t1))
            self.replaced[s.id] = t1
            self._label("sensor_dead", t0, t1, f"sensor={s.id} cause=failure")
        elif inc.type == "agent_offline":
            t0 = inc.at if inc.at is not None else d * DAY + r.uniform(0, DAY)
            dur = inc.dur if inc.dur is not None else min(2 * DAY, math.exp(r.uniform(math.log(600), math.log(DAY))))
            cause = r.choice(("power", "network"))
            self.offline.append((t0, t0 + dur, cause))
            self._label("agent_offline", t0, t0 + dur, f"cause={cause}")
        else:
            self.by_day.setdefault(d, []).append(inc)

    def _label(self, kind: str, start: float, end: float, note: str) -> None:
        if start < self.end:
            self.labels.append(Label(kind, start, min(end, self.end), note))

    def _battery_life(self, s: SensorModel) -> None:
        if not s.battery or s.drain_per_day <= 0:
            return
        t0 = s.battery_start / s.drain_per_day * DAY
        if t0 < self.end:
            t1 = t0 + self.rng("replace", s.id).uniform(2, 8) * DAY
            self.dead[s.id].append((t0, t1))
            self.replaced[s.id] = t1
            self._label("sensor_dead", t0, t1, f"sensor={s.id} cause=battery")

    def battery(self, s: SensorModel, t: float) -> int | None:
        """The battery level of `s` at `t` (percent), None for mains-powered."""
        if not s.battery:
            return None
        since = self.replaced.get(s.id)
        if since is not None and t >= since:
            return max(1, round(100 - s.drain_per_day * (t - since) / DAY))
        return max(1, round(s.battery_start - s.drain_per_day * t / DAY))

    def alive(self, sensor: str, t: float) -> bool:
        """The sensor works at `t`."""
        return not any(a <= t < b for a, b in self.dead[sensor])

    # --- plans ----------------------------------------------------------------------------------------------------

    def _night(self, d: int, t0: float, t1: float, r: random.Random) -> list[Seg]:
        """From lying down to getting up, with toilet visits (and pottering, for restless sleepers)."""
        p = self.p
        mean = p.night_toilet * (1.2 if (d in self.ill) else 1.0)
        if d in self.restless:
            mean = mean * 2 + 1
        n = _poisson(r, mean * max(0.2, (t1 - t0) / (8 * HOUR)))
        self.nights[d] = n
        lo, hi = t0 + 40 * MIN, t1 - 25 * MIN
        times = sorted(r.uniform(lo, hi) for _ in range(n)) if hi > lo else []
        ups: list[list[Seg]] = []
        for t in times:
            dur = r.uniform(2, 7) * MIN
            ups.append([Seg(t, t + 40, "bedroom", "dress", RATES["dress"]),
                        Seg(t + 40, t + 40 + dur, "bathroom", "bathroom", RATES["bathroom"]),
                        Seg(t + 40 + dur, t + 80 + dur, "bedroom", "dress", RATES["dress"])])  # fmt: skip
        if r.random() < p.restless and hi > lo + HOUR:
            t = r.uniform(lo, hi - HOUR)
            dur = r.uniform(10, 30) * MIN
            ups.append([Seg(t, t + 60, "bedroom", "dress", RATES["dress"]),
                        Seg(t + 60, t + 60 + dur, "kitchen" if r.random() < 0.5 else self.layout.main, "potter",
                            RATES["potter"] * 0.7),
                        Seg(t + 60 + dur, t + 120 + dur, "bedroom", "dress", RATES["dress"])])  # fmt: skip
        segs = [Seg(t0, t1, "bedroom", "sleep", RATES["sleep"], bed=True)]
        last = t0
        for up in sorted(ups, key=lambda u: u[0].t0):
            if up[0].t0 > last:
                segs = overwrite(segs, up)
                last = up[-1].t1 + 60
        for s in segs:
            if s.act == "sleep":
                s.entry = s.t0 == t0
        return segs

    def _outing(self, t: float, dur: float, act: str, r: random.Random) -> list[Seg]:
        shoes = r.uniform(1, 3) * MIN
        back = r.uniform(0.5, 1.5) * MIN
        return [
            Seg(t - shoes, t, "entrance", "shoes", RATES["shoes"]),
            Seg(t, t + dur, OUT, act, 0.0),
            Seg(t + dur, t + dur + back, "entrance", "shoes", RATES["shoes"]),
        ]

    def _day(self, d: int) -> list[Seg]:
        """The resident's plan from getting up on day `d` to getting up on day `d + 1`."""
        p, lay, r = self.p, self.layout, self.rng("day", d)
        w, b, w2 = self.wake(d), self.bedtime(d), self.wake(d + 1)
        ill = d in self.ill
        act = p.activity * (0.3 if ill else 1.0)
        anchors: list[list[Seg]] = []

        def block(t: float, *parts: tuple[float, str, str]) -> list[Seg]:
            segs = []
            for dur, room, what in parts:
                quiet = what in ("sit", "tv", "potter", "eat")  # illness slows these; cooking is cooking
                segs.append(Seg(t, t + dur, room, what, RATES[what] * (act if quiet else p.activity)))
                t += dur
            return segs

        def meal(hour: float, cook: float, eat: float) -> None:
            cook = cook / 3 if ill else cook
            t = d * DAY + hour * HOUR + r.gauss(0, p.meal_sd) * MIN
            anchors.append(
                block(t, (cook * MIN, "kitchen", "cook"), (eat * MIN, r.choice(["kitchen", lay.main]), "eat"))
            )

        morning = block(
            w,
            (r.uniform(1, 4) * MIN, "bedroom", "dress"),
            (r.uniform(5, 15) * MIN, "bathroom", "bathroom"),
            (r.uniform(10, 25) * MIN, "kitchen", "cook"),
            (r.uniform(10, 20) * MIN, r.choice(["kitchen", lay.main]), "eat"),
        )
        evening = block(
            b - r.uniform(15, 30) * MIN,
            (r.uniform(8, 15) * MIN, "bathroom", "bathroom"),
        )
        evening.append(Seg(evening[-1].t1, b, "bedroom", "dress", RATES["dress"] * act))
        meal(12.0 + (p.wake_h - 6.5) / 3, r.uniform(15, 35), r.uniform(15, 25))
        meal(18.0 + (p.bed_h - 22.25) / 2, r.uniform(25, 45), r.uniform(15, 30))
        if r.random() < (0.95 if ill else p.nap_p):
            t = d * DAY + (13.5 + (p.wake_h - 6.5) / 2) * HOUR + r.gauss(0, 20) * MIN
            dur = r.uniform(0.5, 1.5) * p.nap_min * (2 if ill else 1) * MIN
            in_bed = ill or r.random() < 0.5
            anchors.append([Seg(t, t + dur, "bedroom" if in_bed else lay.main, "nap", RATES["nap"], bed=in_bed)])
        if ill:
            t = d * DAY + r.uniform(9.5, 11) * HOUR
            anchors.append([Seg(t, t + r.uniform(60, 120) * MIN, "bedroom", "rest", RATES["rest"], bed=True)])
            t = d * DAY + r.uniform(15.5, 17) * HOUR
            anchors.append([Seg(t, t + r.uniform(45, 90) * MIN, "bedroom", "rest", RATES["rest"], bed=True)])
        # Television in the evening, the longer the later the resident goes to bed.
        tv0 = max(d * DAY + 19.5 * HOUR, b - 4 * HOUR) + r.uniform(0, 30) * MIN
        anchors.append(block(tv0, (max(10 * MIN, b - 40 * MIN - tv0), lay.main, "tv")))
        if not ill:
            wd = self.weekday(d)
            if wd in p.market_days and r.random() < 0.8:
                t = max(w + 60 * MIN, d * DAY + r.uniform(7.5, 9) * HOUR)
                anchors.append(self._outing(t, r.uniform(50, 120) * MIN, "market", r))
            if r.random() < p.walk_p:
                t = max(w + 45 * MIN, d * DAY + (p.walk_h + r.gauss(0, 0.5)) * HOUR)
                anchors.append(self._outing(t, r.uniform(25, 70) * MIN, "walk", r))
            if r.random() < p.shop_p:
                t = d * DAY + r.choice((10.0, 15.5)) * HOUR + r.gauss(0, 30) * MIN
                anchors.append(self._outing(t, r.uniform(35, 90) * MIN, "shopping", r))
            if r.random() < p.visit_out_p * (1.5 if wd >= 5 else 1.0):
                t = d * DAY + r.uniform(9.5, 14.5) * HOUR
                anchors.append(self._outing(t, r.uniform(2, 5) * HOUR, "visiting", r))
        segs = _fill(morning, anchors, evening, d, r, self, act)
        night = self._night(d, b, w2, r)
        if not ill and self.p.night_away_p and r.random() < self.p.night_away_p:
            t = d * DAY + r.uniform(14, 17) * HOUR
            ret = w2 + r.uniform(2, 4) * HOUR
            segs = overwrite(segs + night, self._outing(t, ret - t, "night_away", r))
            self._forced.extend(s for s in segs if s.t1 > w2)
            return clip(segs, w, w2)
        return segs + night

    def _place(self, inc: IncidentPlan, segs: list[Seg], d: int) -> list[Seg]:
        """Play an incident into day `d`'s plan; returns the new plan and records its label."""
        r = self.rng("place", inc.type, d, inc.at)
        w, b, w2 = self.wake(d), self.bedtime(d), self.wake(d + 1)
        main = self.layout.main

        def home_time(lo: float, hi: float, tries: int = 50) -> float | None:
            for _ in range(tries):
                t = r.uniform(lo, hi)
                s = at(segs, t)
                if s is not None and s.place != OUT and s.act not in ("shoes",) and not self._busy(t - HOUR, t + HOUR):
                    return t
            return None

        if inc.type == "night_restlessness":
            last = min(d + inc.days - 1, int(self.end // DAY) + 1)
            self._label("night_restlessness", b, self.wake(last + 1), f"nights={inc.days}")
            return segs
        if inc.type in ("long_lie", "fall_short"):
            where = "day" if inc.at is not None else r.choice(("getting_up", "bathroom", "bathroom", "day", "night"))
            if where in ("getting_up", "night"):
                if where == "getting_up":
                    t, room = w + r.uniform(10, 90), "bedroom"
                else:
                    t, room = r.uniform(b + HOUR, w2 - HOUR), r.choice(("bathroom", "bedroom"))
                s = at(segs, t)
                if s is None or s.place == OUT:
                    return segs  # away overnight (visiting family): nobody at home to fall
            else:
                found = inc.at if inc.at is not None else home_time(w + HOUR, b - HOUR)
                if found is None:
                    return segs
                t = found
                s = at(segs, t)
                room = s.place if s is not None and s.place != OUT else main
                if where == "bathroom":
                    nxt = next((x for x in segs if x.place == "bathroom" and x.t0 > w + HOUR and x.t1 < b), None)
                    if nxt is not None:
                        t, room = nxt.t0 + r.uniform(0.2, 0.8) * (nxt.t1 - nxt.t0), "bathroom"
            if inc.type == "long_lie":
                # A long lie is an hour or more on the floor (the fall literature's definition); shorter falls the
                # resident ends alone are `fall_short`.
                dur = inc.dur if inc.dur is not None else math.exp(r.uniform(math.log(HOUR), math.log(14 * HOUR)))
            else:
                dur = inc.dur if inc.dur is not None else r.uniform(0.5, 5) * MIN
            end = t + dur
            helper = inc.type == "long_lie" and dur > 90 * MIN and r.random() < 0.7
            new = [Seg(t, end, room, "lying", 0.0)]
            new.append(Seg(end, end + r.uniform(20, 45) * MIN, room, "recover", RATES["recover"]))
            self._force(new, segs)
            self.quiet.append((t, end))
            self.busy.append((t - HOUR, end + 2 * HOUR))
            if helper:
                self._visitor(end, end + r.uniform(30, 90) * MIN, room, r)
            note = f"room={room} when={where}" + (" found_by=visitor" if helper else " found_by=self")
            self._label(inc.type, t, end, note)
            return overwrite(segs, [s for s in new if s.t0 < w2])
        if inc.type == "night_exit":
            t = inc.at if inc.at is not None else r.uniform(b + HOUR, max(b + HOUR + 1, w2 - 2.5 * HOUR))
            dur = inc.dur if inc.dur is not None else r.uniform(30, 180) * MIN
            new = [Seg(t - 80, t - 40, "bedroom", "dress", RATES["dress"]),
                   *self._outing(t, dur, "night_exit", r)]  # fmt: skip
            new[1].t0 = t - 40
            back = t + dur
            new.append(Seg(new[-1].t1, new[-1].t1 + 20 * MIN, "bedroom", "sleep" if back < w2 else "dress",
                           RATES["sleep"], bed=back < w2))  # fmt: skip
            self.busy.append((t - HOUR, back + HOUR))
            self._label("night_exit", t, back, f"out_min={dur / MIN:.0f}")
            self._force(new, segs)
            return overwrite(segs, [s for s in new if s.t0 < w2])
        if inc.type == "night_wandering":
            t = inc.at if inc.at is not None else r.uniform(b + HOUR, max(b + HOUR + 1, w2 - 2.5 * HOUR))
            dur = inc.dur if inc.dur is not None else r.uniform(30, 120) * MIN
            new, u = [], t
            rooms = [x for x in self.layout.rooms if x != "bathroom"] + ["bathroom"]
            while u < t + dur:
                step = min(r.uniform(1, 8) * MIN, t + dur - u)
                new.append(Seg(u, u + step, r.choice(rooms), "wander", RATES["wander"]))
                u += step
            new.append(Seg(u, u + 5 * MIN, "bedroom", "sleep" if u < w2 else "dress", RATES["sleep"], bed=u < w2))
            self.busy.append((t - HOUR, t + dur + HOUR))
            self._label("night_wandering", t, t + dur, f"rooms={len(new) - 1}")
            self._force(new, segs)
            return overwrite(segs, [s for s in new if s.t0 < w2])
        if inc.type == "door_left_open":
            when = inc.at if inc.at is not None else home_time(w + 2 * HOUR, b - 3 * HOUR)
            if when is None or self.door is None:
                return segs
            t = when
            dur = inc.dur if inc.dur is not None else math.exp(r.uniform(math.log(15 * MIN), math.log(4 * HOUR)))
            new = [Seg(t - 30, t + 30, "entrance", "potter", RATES["potter"])]
            after = [s for s in segs if s.t0 >= t and s.place == OUT]
            if after and after[0].t0 - 60 < t + dur:  # leaving closes the door: keep it open until then
                dur = max(5 * MIN, after[0].t0 - 60 - t)
            self.raw[self.door.id] += [(t, "open"), (t + dur, "closed")]
            self.busy.append((t - HOUR, t + dur + HOUR))
            self._label("door_left_open", t, t + dur, f"open_min={dur / MIN:.0f}")
            return overwrite(segs, new)
        if inc.type == "panic":
            if self.button is None:
                return segs
            when = inc.at if inc.at is not None else home_time(w + HOUR, b - HOUR)
            if when is None:
                return segs
            t = when
            self.raw[self.button.id].append((t, "press"))
            self.busy.append((t - HOUR, t + HOUR))
            self._label("panic", t, t, "")
            return segs
        return segs

    def _force(self, new: list[Seg], segs: list[Seg]) -> None:
        """Keep the part of an incident that runs past this plan day for the next one."""
        end = segs[-1].t1 if segs else 0.0
        self._forced.extend(s for s in new if s.t1 > end)

    def _busy(self, a: float, b: float) -> bool:
        return any(x < b and a < y for x, y in self.busy)

    def _visitor(self, t0: float, t1: float, room: str, r: random.Random) -> None:
        """Someone comes in through the front door, moves about, leaves: a second person on the sensors."""
        if self.door is not None:
            self.raw[self.door.id] += [(t0, "open"), (t0 + r.uniform(5, 12), "closed")]
            self.raw[self.door.id] += [(t1, "open"), (t1 + r.uniform(5, 12), "closed")]
        self._movements(Seg(t0 + 5, t0 + 60, "entrance", "potter", RATES["potter"]), r)
        t = t0 + 60
        while t < t1 - 60:
            dur = min(r.uniform(10, 40) * MIN, t1 - 60 - t)
            where = room if r.random() < 0.6 else r.choice(self.layout.rooms)
            self._movements(Seg(t, t + dur, where, "sit", 1.0), r)
            t += dur
        self._movements(Seg(t1 - 60, t1, "entrance", "potter", RATES["potter"]), r)

    def _visitors(self, d: int, segs: list[Seg]) -> list[Seg]:
        r = self.rng("visitors", d)
        p = self.p.visitors_p * (1.5 if self.weekday(d) >= 5 else 1.0)
        if r.random() >= p:
            return segs
        t0 = d * DAY + r.uniform(9, 18) * HOUR
        t1 = t0 + r.uniform(30, 180) * MIN
        if t0 < self.wake(d) + HOUR or t1 > self.bedtime(d) - HOUR or self._busy(t0, t1):
            return segs
        if any(s.place == OUT and s.t0 < t1 + 120 and t0 - 120 < s.t1 for s in segs):
            return segs
        self._visitor(t0, t1, self.layout.main, r)
        segs = overwrite(segs, [Seg(t0 - 20, t0 + 60, "entrance", "potter", RATES["potter"])])
        return overwrite(segs, [Seg(t1 - 60, t1 + 20, "entrance", "potter", RATES["potter"])])

    # --- from plan to movements -------------------------------------------------------------------------------

    def _movements(self, s: Seg, r: random.Random) -> None:
        if s.place == OUT:
            return
        moves = self.moves[s.place]
        if s.entry:
            moves.append(s.t0)
        if s.rate > 0:
            lam = s.rate / MIN
            t = s.t0 + r.expovariate(lam)
            while t < s.t1:
                moves.append(t)
                t += r.expovariate(lam)

    def _realise(self, segs: list[Seg], r: random.Random) -> None:
        """Movements, door use and bed occupancy from the plan."""
        for s in segs:
            if s.t1 <= s.t0:
                continue
            here = s.place
            if here != self._last_place:
                frm = "entrance" if self._last_place == OUT else self._last_room
                to = "entrance" if here == OUT else here
                passed = self.layout.path(frm, to)
                if self._last_place == OUT and to != "entrance":
                    passed = ("entrance", *passed)
                # Walking through rooms on the way; after getting up from the floor, not before.
                after = self._last_act == "lying"
                for i, room in enumerate(passed):
                    self.moves[room].append(s.t0 + 2 + 4 * i if after else s.t0 - 4 * (len(passed) - i))
                if (here == OUT) != (self._last_place == OUT) and self.door is not None:
                    self.raw[self.door.id] += [(s.t0, "open"), (s.t0 + r.uniform(4, 15), "closed")]
                shift = 4 * len(passed) if after else 0
                self._movements(Seg(s.t0 + shift, s.t1, here, s.act, s.rate, s.bed, True), r)
            else:
                self._movements(s, r)
            if self.mat is not None:
                if s.bed and not self._in_bed:
                    self.raw[self.mat.id].append((s.t0 + r.uniform(1, 4), "1"))
                elif not s.bed and self._in_bed:
                    self.raw[self.mat.id].append((s.t0 - r.uniform(1, 4), "0"))
            self._in_bed = s.bed
            self._last_place = here
            self._last_act = s.act
            if here != OUT:
                self._last_room = here

    _in_bed = True
    _last_act = "sleep"

    def _plan_next(self) -> None:
        d = self._next_plan
        if d == -1:
            r = self.rng("day", -1)
            lo, hi = 0.0, self.wake(0)
            segs = self._night(-1, lo, hi, r)
            segs[0].entry = False
        else:
            lo, hi = self.wake(d), self.wake(d + 1)
            segs = self._day(d)
            r = self.rng("realise", d)
        forced = [s for s in self._forced if s.t0 < hi and s.t1 > lo]
        if forced:
            segs = overwrite(segs, clip(forced, lo, hi))
            self._forced = [s for s in self._forced if s.t1 > hi]
        for inc in sorted(self.by_day.get(d, []), key=lambda i: INCIDENT_TYPES.index(i.type)):
            segs = self._place(inc, segs, d)
        if d >= 0:
            segs = self._visitors(d, segs)
        self._realise(clip(segs, lo, hi), r)
        self._planned_until = hi
        self._next_plan += 1

    # --- sensors ------------------------------------------------------------------------------------------------

    def day_events(self, k: int) -> list[Event]:
        """Every report of calendar day `k` (local midnight to midnight), in time order."""
        a, b = k * DAY, (k + 1) * DAY
        while self._planned_until < b + 2 * HOUR:
            self._plan_next()
        out: list[Event] = []
        for room, s in self.pirs.items():
            moves, keep = _split(self.moves[room], b)
            self.moves[room] = keep
            self._pir_day(s, self._pir[room], sorted(moves), a, b, out)
        for sid, raw in self.raw.items():
            s = self.sensors[sid]
            now, keep2 = _split_pairs(raw, b)
            self.raw[sid] = keep2
            rr = self.rng("bounce", sid, k)
            for t, v in sorted(now):
                if t < a or not self.alive(sid, t):
                    continue
                out.append(Event(t, sid, s.kind, v, s.room))
                if s.kind == "door" and rr.random() < s.bounce_p:
                    self.quirks["bounce"] += 1
                    other = "closed" if v == "open" else "open"
                    dt = rr.uniform(0.03, 0.2)
                    out.append(Event(t + dt, sid, s.kind, other, s.room))
                    out.append(Event(t + dt + rr.uniform(0.03, 0.3), sid, s.kind, v, s.room))
                if s.kind == "door":
                    self.quirks["door_transitions"] += 1
        rb = self.rng("battery", k)
        for s in self.spec.sensors:
            if s.battery:
                t = a + (3 + 18 * rb.random()) * HOUR
                level = self.battery(s, t)
                if self.alive(s.id, t) and level is not None:
                    out.append(Event(t, s.id, "battery", str(level), s.room))
        for t0, t1, cause in self.offline:
            if cause == "power":
                out = [e for e in out if not t0 <= e.t < t1]
            if a <= t0 < b:
                out.append(Event(t0, "agent", "status", "offline", ""))
            if a <= t1 < b:
                out.append(Event(t1, "agent", "status", "online", ""))
        out.sort(key=lambda e: e.t)
        return out

    def _pir_day(self, s: SensorModel, st: _PirState, moves: list[float], a: float, b: float, out: list[Event]) -> None:
        """A PIR: reports 1 on the first movement it catches, stays occupied while movement goes on, reports 0
        `hold_s` after the last one, then is blind for `cooldown_s`; misses some, invents a few."""
        r = self.rng("pir", s.id, a)
        spurious: list[float] = []
        t = a + r.expovariate(s.spurious_per_day / DAY) if s.spurious_per_day else b
        while t < b:
            if not any(x <= t < y for x, y in self.quiet):
                spurious.append(t)
            t += r.expovariate(s.spurious_per_day / DAY)
        events = [(m, False) for m in moves] + [(m, True) for m in spurious]
        events.sort()
        for t, fake in events:
            if st.occupied and t > st.clear_at:
                self._emit(out, s, st.clear_at, "0")
                st.occupied = False
                st.blind_until = st.clear_at + s.cooldown_s
            if st.occupied:
                if not fake:
                    st.clear_at = t + s.hold_s
                continue
            if t < st.blind_until:
                self.quirks["blind"] += 1
                continue
            if not fake:
                self.quirks["attempts"] += 1
                level = self.battery(s, t)
                if r.random() < s.miss_p * (3 if level is not None and level < 10 else 1):
                    self.quirks["missed"] += 1
                    continue
            else:
                self.quirks["spurious"] += 1
            self._emit(out, s, t, "1")
            st.occupied, st.clear_at = True, t + s.hold_s
        if st.occupied and st.clear_at < b:
            self._emit(out, s, st.clear_at, "0")
            st.occupied = False
            st.blind_until = st.clear_at + s.cooldown_s

    def _emit(self, out: list[Event], s: SensorModel, t: float, v: str) -> None:
        if self.alive(s.id, t):
            out.append(Event(t, s.id, "motion", v, s.room))


@dataclass
class _PirState:
    occupied: bool = False
    clear_at: float = 0.0
    blind_until: float = 0.0


def _fill(morning: list[Seg], anchors: list[list[Seg]], evening: list[Seg], d: int, r: random.Random, sim: HomeSim,
          act: float) -> list[Seg]:  # fmt: skip
    """Place anchored blocks that fit, then fill the gaps with pottering from room to room and toilet visits."""
    placed: list[list[Seg]] = [morning, evening]
    lo, hi = morning[-1].t1, evening[0].t0
    for blk in sorted(anchors, key=lambda x: (x[0].act == "tv", x[0].t0)):
        a, b = blk[0].t0, blk[-1].t1
        if a < lo + 5 * MIN or b > hi - 5 * MIN:
            if blk[0].act == "tv" and b > hi - 5 * MIN and a < hi - 20 * MIN:
                blk = [Seg(a, hi - 5 * MIN, blk[0].place, "tv", blk[0].rate)]
                b = blk[-1].t1
            else:
                continue
        if any(x[0].t0 - 5 * MIN < b and a < x[-1].t1 + 5 * MIN for x in placed):
            continue
        placed.append(blk)
    placed.sort(key=lambda x: x[0].t0)
    lay = sim.layout
    rooms = [x for x in lay.rooms if x not in ("entrance", "bathroom")]
    weights = [5.0 if x == lay.main else 1.5 if x in ("kitchen", "bedroom") else 1.0 for x in rooms]
    toilet = sim.p.toilet_every_h * HOUR
    out: list[Seg] = []
    last_toilet = morning[-1].t1
    for i, blk in enumerate(placed):
        out.extend(blk)
        if i + 1 == len(placed):
            break
        t, end = blk[-1].t1, placed[i + 1][0].t0
        while t < end - 30:
            if t - last_toilet > toilet * r.uniform(0.6, 1.4):
                dur = min(r.uniform(3, 10) * MIN, end - t)
                out.append(Seg(t, t + dur, "bathroom", "bathroom", RATES["bathroom"] * sim.p.activity))
                last_toilet = t
            elif act < 0.5 * sim.p.activity and r.random() < 0.5:  # ill: back to bed for a while
                dur = min(r.uniform(30, 90) * MIN, end - t)
                out.append(Seg(t, t + dur, "bedroom", "rest", RATES["rest"], bed=True))
            else:
                room = r.choices(rooms, weights)[0]
                what = r.choice(("sit", "sit", "potter", "tv")) if room == lay.main else "potter"
                dur = min(max(2 * MIN, r.expovariate(1 / (25 * MIN))), 100 * MIN, end - t)
                out.append(Seg(t, t + dur, room, what, RATES[what] * act))
            t += dur
        if t < end:
            out.append(Seg(t, end, out[-1].place if out[-1].place != OUT else lay.main, "sit", RATES["sit"] * act))
    return out


def clip(segs: list[Seg], lo: float, hi: float) -> list[Seg]:
    """The part of `segs` between `lo` and `hi`; a segment cut at its start does not start with an entry."""
    return [
        Seg(max(s.t0, lo), min(s.t1, hi), s.place, s.act, s.rate, s.bed, s.entry and s.t0 >= lo)
        for s in segs
        if s.t0 < hi and s.t1 > lo
    ]


def _split(xs: list[float], b: float) -> tuple[list[float], list[float]]:
    return [x for x in xs if x < b], [x for x in xs if x >= b]


def _split_pairs(xs: list[tuple[float, str]], b: float) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    return [x for x in xs if x[0] < b], [x for x in xs if x[0] >= b]


def _poisson(r: random.Random, mean: float) -> int:
    n, p, limit = 0, 1.0, math.exp(-mean)
    while True:
        p *= r.random()
        if p <= limit:
            return n
        n += 1


def _clock(t: float) -> str:
    s = int(t % DAY)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}"


# --- homes and their incidents, from a seed ----------------------------------------------------------------------


@dataclass
class HomePlan:
    """A generated home: its spec and its incidents."""

    spec: HomeSpec
    kit: str
    incidents: list[IncidentPlan] = field(default_factory=list)


def plan_home(seed: int, index: int, days: int, start: date, incident_rate: float, types: tuple[str, ...],
              guarantee: bool = True) -> HomePlan:  # fmt: skip
    """Home number `index` of a generated set: profile, layout, kit and incident schedule, all from the seed."""
    r = random.Random(f"{seed}:home:{index}")
    home = f"h-{r.getrandbits(48):012x}"
    profile = list(PROFILES)[index % len(PROFILES)] if index < len(PROFILES) else r.choice(list(PROFILES))
    layout = r.choice(list(LAYOUTS))
    kit = r.choice(KITS)
    wanted: list[str] = []
    if guarantee and types:
        wanted.append(types[index % len(types)])
    n = _poisson(r, incident_rate * days / 30)
    wanted += [r.choice(types) for _ in range(n)] if types else []
    if "panic" in wanted and kit == "sparse":
        kit = "basic"
    sensors = tuple(kit_sensors(kit, LAYOUTS[layout], r))
    spec = HomeSpec(home, profile, layout, sensors, f"{seed}:{index}", start)
    plan = HomePlan(spec, kit)
    taken: set[int] = set()
    for kind in wanted:
        span = 1
        if kind == "illness":
            span = r.randint(3, 7)
        elif kind == "night_restlessness":
            span = 7
        elif kind in HEALTH_INCIDENTS:
            span = 3 if kind == "agent_offline" else 11
        free = [d for d in range(1, days - span - 1) if not any(x in taken for x in range(d - 1, d + span + 1))]
        if not free:
            continue
        d = r.choice(free)
        taken.update(range(d, d + span))
        plan.incidents.append(IncidentPlan(kind, day=d, days=span))
    return plan
