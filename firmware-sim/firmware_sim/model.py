"""One model of a home: a resident's days as activities in places, sensors that see them as real hardware does,
and incidents with their ground truth. Files, live MQTT and load tests all play this model.

Time inside the model is float seconds since local midnight of the first day (naive local time). Randomness comes
from string-seeded `random.Random` streams per home, day and purpose, so the same seed gives the same bytes whatever
order homes are generated in. The parts: `world` (profiles, layouts, plan segments), `sensors` (hardware and kits),
`days` (daily plans), `incidents` (incidents and their labels), `plan` (homes drawn from a seed).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from firmware_sim.days import day_plan, night
from firmware_sim.incidents import place, schedule
from firmware_sim.sensors import (
    FIXTURE_KINDS,
    KITS,
    MAT_ROLES,
    SEATED,
    PirState,
    SensorModel,
    fixture_uses,
    kit_sensors,
    pir_day,
)
from firmware_sim.world import (
    DAY,
    HEALTH_INCIDENTS,
    HOUR,
    INCIDENT_TYPES,
    LAYOUTS,
    MIN,
    OUT,
    PROFILES,
    RATES,
    Event,
    IncidentPlan,
    Label,
    Layout,
    Profile,
    Seg,
    clip,
    overwrite,
)

__all__ = [
    "DAY", "HEALTH_INCIDENTS", "HOUR", "INCIDENT_TYPES", "KITS", "LAYOUTS", "MIN", "PROFILES", "RATES", "Event",
    "HomeSim", "HomeSpec", "IncidentPlan", "Label", "Layout", "Profile", "SensorModel", "kit_sensors",
]  # fmt: skip


@dataclass(frozen=True)
class HomeSpec:
    """Everything that defines a simulated home; with the seed it fixes every event."""

    home: str
    profile: str
    layout: str
    sensors: tuple[SensorModel, ...]
    seed: str
    start: date
    rates: tuple[tuple[str, float], ...] = ()  # movements per minute overriding RATES (micro-activity at rest)
    long_sit_p: float = 0.0  # chance per day of a 4-8 h sitting in the armchair
    trips: tuple[tuple[int, int], ...] = ()  # (first day, days): away visiting family, home empty


class HomeSim:
    """Plays one home: plan days, move the resident (and visitors), let the sensors see it, day by day."""

    def __init__(self, spec: HomeSpec, incidents: list[IncidentPlan], end: float = math.inf) -> None:
        self.spec = spec
        self.p = PROFILES[spec.profile]
        self.layout = LAYOUTS[spec.layout]
        self.rates = {**RATES, **dict(spec.rates)}
        self.trips = dict(spec.trips)
        self.end = end
        self.sensors = {s.id: s for s in spec.sensors}
        self.pirs = {s.room: s for s in spec.sensors if s.kind == "motion"}
        self.door = next((s for s in spec.sensors if s.kind == "door"), None)
        self.mats = {
            role: [s for s in spec.sensors if s.kind == "pressure" and s.mat_role == role] for role in MAT_ROLES
        }
        self.fixtures = [s for s in spec.sensors if s.kind in FIXTURE_KINDS]
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
        self.absences: list[tuple[float, float]] = []  # trips away (not incidents: normal life)
        self.mat_falls: set[float] = set()  # starts of falls onto a floor mat
        self._wakes: dict[int, float] = {}
        self._beds: dict[int, float] = {}
        self.late: dict[int, float] = {}
        self.ill: set[int] = set()
        self.restless: set[int] = set()
        self.by_day: dict[int, list[IncidentPlan]] = {}
        self.forced: list[Seg] = []
        self._planned_until = 0.0
        self._next_plan = -1
        self._last_room = "bedroom"
        self._last_place = "bedroom"
        self._seated_at: float | None = None
        self._pir: dict[str, PirState] = {room: PirState() for room in self.pirs}
        self.nights: dict[int, int] = {}  # night toilet visits per night (statistics)
        for s in spec.sensors:
            self._battery_life(s)
        for inc in incidents:
            schedule(self, inc)

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

    # --- incidents' bookkeeping ----------------------------------------------------------------------------------

    def label(self, kind: str, start: float, end: float, note: str) -> None:
        """Record the ground truth of an incident (clipped to the end of the data)."""
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
            self.label("sensor_dead", t0, t1, f"sensor={s.id} cause=battery")

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

    def force(self, new: list[Seg], segs: list[Seg]) -> None:
        """Keep the part of an incident that runs past this plan day for the next one."""
        end = segs[-1].t1 if segs else 0.0
        self.forced.extend(s for s in new if s.t1 > end)

    def is_busy(self, a: float, b: float) -> bool:
        """Some incident window overlaps [a, b)."""
        return any(x < b and a < y for x, y in self.busy)

    def visitor(self, t0: float, t1: float, room: str, r: random.Random) -> None:
        """Someone comes in through the front door, moves about, leaves: a second person on the sensors."""
        if self.door is not None:
            self.raw[self.door.id] += [(t0, "open"), (t0 + r.uniform(5, 12), "closed")]
            self.raw[self.door.id] += [(t1, "open"), (t1 + r.uniform(5, 12), "closed")]
        self._movements(Seg(t0 + 5, t0 + 60, "entrance", "potter", self.rates["potter"]), r)
        t = t0 + 60
        while t < t1 - 60:
            dur = min(r.uniform(10, 40) * MIN, t1 - 60 - t)
            where = room if r.random() < 0.6 else r.choice(self.layout.rooms)
            self._movements(Seg(t, t + dur, where, "sit", 1.0), r)
            t += dur
        self._movements(Seg(t1 - 60, t1, "entrance", "potter", self.rates["potter"]), r)

    def _visitors(self, d: int, segs: list[Seg]) -> list[Seg]:
        r = self.rng("visitors", d)
        p = self.p.visitors_p * (1.5 if self.weekday(d) >= 5 else 1.0)
        if r.random() >= p:
            return segs
        t0 = d * DAY + r.uniform(9, 18) * HOUR
        t1 = t0 + r.uniform(30, 180) * MIN
        if t0 < self.wake(d) + HOUR or t1 > self.bedtime(d) - HOUR or self.is_busy(t0, t1):
            return segs
        if any(s.place == OUT and s.t0 < t1 + 120 and t0 - 120 < s.t1 for s in segs):
            return segs
        self.visitor(t0, t1, self.layout.main, r)
        segs = overwrite(segs, [Seg(t0 - 20, t0 + 60, "entrance", "potter", self.rates["potter"])])
        return overwrite(segs, [Seg(t1 - 60, t1 + 20, "entrance", "potter", self.rates["potter"])])

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

    def _realise(self, segs: list[Seg], r: random.Random, ra: random.Random) -> None:
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
            for m in self.mats["bed"]:
                if s.bed and not self._in_bed:
                    self._bed_at = s.t0 + r.uniform(1, 4)
                    self.raw[m.id].append((self._bed_at, "1"))
                elif not s.bed and self._in_bed:  # never before the press, however short the lie-down was
                    self.raw[m.id].append((max(self._bed_at + 0.5, s.t0 - r.uniform(1, 4)), "0"))
            self._fixtures(s, ra)
            self._in_bed = s.bed
            self._last_place = here
            self._last_act = s.act
            if here != OUT:
                self._last_room = here

    def _fixtures(self, s: Seg, ra: random.Random) -> None:
        """Mats other than the bed's (a step on the floor mat getting in or out of bed, the seat while sitting) and
        the fridge, cupboards, appliances and flush that the activity uses."""
        if s.bed != self._in_bed and not (s.act == "lying" and s.t0 in self.mat_falls):
            for m in self.mats["floor"]:
                t = s.t0 - ra.uniform(1.7, 2.5)  # a second's step, over before the next activity begins
                self.raw[m.id] += [(t, "1"), (t + ra.uniform(0.5, 1.5), "0")]
        for m in self.mats["seat"]:
            seated = s.place == m.room and s.act in SEATED and not s.bed and s.t1 - s.t0 > 10
            if seated and self._seated_at is None:
                self._seated_at = s.t0 + ra.uniform(1, 3)
                self.raw[m.id].append((self._seated_at, "1"))
            elif not seated and self._seated_at is not None:
                self.raw[m.id].append((max(self._seated_at + 0.5, s.t0 - ra.uniform(1, 3)), "0"))
                self._seated_at = None
        for sid, t, v in fixture_uses(s, self.fixtures, ra) if self.fixtures else ():
            self.raw[sid].append((t, v))

    _in_bed = True
    _bed_at = -math.inf
    _last_act = "sleep"

    def _plan_next(self) -> None:
        d = self._next_plan
        if d == -1:
            r = self.rng("day", -1)
            lo, hi = 0.0, self.wake(0)
            segs = night(self, -1, lo, hi, r)
            segs[0].entry = False
        else:
            lo, hi = self.wake(d), self.wake(d + 1)
            segs = day_plan(self, d)
            r = self.rng("realise", d)
        forced = [s for s in self.forced if s.t0 < hi and s.t1 > lo]
        if forced:
            segs = overwrite(segs, clip(forced, lo, hi))
            self.forced = [s for s in self.forced if s.t1 > hi]
        for inc in sorted(self.by_day.get(d, []), key=lambda i: INCIDENT_TYPES.index(i.type)):
            segs = place(self, inc, segs, d)
        if d >= 0:
            segs = self._visitors(d, segs)
        self._realise(clip(segs, lo, hi), r, self.rng("fixtures", d))
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
            pir_day(self, s, self._pir[room], sorted(moves), a, b, min(keep, default=None), out)
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


def _split(xs: list[float], b: float) -> tuple[list[float], list[float]]:
    return [x for x in xs if x < b], [x for x in xs if x >= b]


def _split_pairs(xs: list[tuple[float, str]], b: float) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    return [x for x in xs if x[0] < b], [x for x in xs if x[0] >= b]
