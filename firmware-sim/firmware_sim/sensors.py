"""Sensors as hardware behaves: the kits, PIRs (hold-time and interval), mats by role, reed switches, and the
appliances and contacts that a resident's chores touch."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firmware_sim.world import DAY, Event, Layout, Seg

if TYPE_CHECKING:
    from firmware_sim.model import HomeSim

# The kits of the first simulator version (`--variety classic` draws only these).
CLASSIC_KITS = ("sparse", "basic", "standard", "rich")
KITS = (*CLASSIC_KITS, "nodoor", "floor_mat", "ordonez")
CLASSIC_HOLDS = (30.0, 60.0, 60.0, 90.0)
# Real installs hold 30 s to 4 min (the peer simulator's README); drawn for `--variety rich`.
RICH_HOLDS = (30.0, 60.0, 60.0, 90.0, 120.0, 240.0)
MAT_ROLES = ("bed", "seat", "floor")
# Kinds that are the resident using the home's fixtures: written as events, never during a lie.
FIXTURE_KINDS = ("contact", "power", "flush")
# Activities on a seat (sofa, armchair) when done in the room of a seat mat and not in bed.
SEATED = ("tv", "sit", "nap", "rest")
# Kinds whose `1`/`0` values go on the wire as numbers (the contract's motion and pressure, and ours).
INT_KINDS = ("motion", "pressure", "power", "flush")


@dataclass
class SensorModel:
    """One sensor and how its hardware behaves."""

    id: str
    kind: str
    room: str
    hold_s: float = 0.0  # PIR `hold` mode: stays "occupied" this long after the last movement it saw
    cooldown_s: float = 0.0  # PIR: blind after reporting clear
    miss_p: float = 0.0  # PIR: chance to miss the movement that would have triggered it
    spurious_per_day: float = 0.0  # PIR: false triggers (heat, sunlight, pets of neighbours)
    bounce_p: float = 0.0  # reed switch: chance a transition chatters
    battery_start: float = 0.0  # percent, 0 for mains-powered
    drain_per_day: float = 0.0
    mode: str = ""  # PIR: `hold` (fixed hold time) or `interval` (1 while movement goes on, 0 when it stops)
    gap_s: float = 0.0  # PIR `interval` mode: movements closer than this are one interval
    tail_s: float = 0.0  # PIR `interval` mode: reports 0 this long after the last movement
    role: str = ""  # pressure mat: bed, seat or floor; fixtures: fridge, cupboard, cabinet, microwave, toilet...

    @property
    def battery(self) -> bool:
        """Battery-powered (reports its level daily, can go flat)."""
        return self.battery_start > 0

    @property
    def interval(self) -> bool:
        """A PIR that reports intervals of movement rather than a fixed hold time."""
        return self.mode == "interval"

    @property
    def mat_role(self) -> str:
        """A pressure mat's role; an unlabelled mat is a bed mat (the first simulator had only those)."""
        return self.role or "bed"


def _pir(room: str, rng: random.Random, holds: tuple[float, ...], interval: bool = False) -> SensorModel:
    if interval:
        # Interval PIRs (UCI ADL style): on while movement goes on, off a few seconds after it stops.
        return SensorModel(f"pir_{room}", "motion", room, cooldown_s=rng.choice((2.0, 5.0)),
                           miss_p=rng.uniform(0.01, 0.05), spurious_per_day=rng.choice((0.05, 0.2, 0.5)),
                           battery_start=rng.uniform(35, 100), drain_per_day=rng.uniform(0.1, 0.6), mode="interval",
                           gap_s=rng.uniform(60, 240), tail_s=rng.uniform(2, 10))  # fmt: skip
    return SensorModel(
        f"pir_{room}",
        "motion",
        room,
        hold_s=rng.choice(holds),
        cooldown_s=rng.choice((5.0, 10.0, 30.0)),
        miss_p=rng.uniform(0.01, 0.08),
        spurious_per_day=rng.choice((0.05, 0.2, 0.5)),
        battery_start=rng.uniform(35, 100),
        drain_per_day=rng.uniform(0.1, 0.6),
    )


def _mat(sid: str, room: str, role: str, rng: random.Random) -> SensorModel:
    return SensorModel(sid, "pressure", room, battery_start=rng.uniform(50, 100), drain_per_day=rng.uniform(0.05, 0.3),
                       role=role)  # fmt: skip


def _fixture(sid: str, kind: str, room: str, role: str, rng: random.Random) -> SensorModel:
    if kind == "power":  # a smart plug: mains-powered
        return SensorModel(sid, kind, room, role=role)
    return SensorModel(sid, kind, room, battery_start=rng.uniform(40, 100), drain_per_day=rng.uniform(0.03, 0.2),
                       role=role)  # fmt: skip


def kit_sensors(
    kit: str, layout: Layout, rng: random.Random, panic: bool = False, holds: tuple[float, ...] = CLASSIC_HOLDS
) -> list[SensorModel]:
    """The sensors of a kit in a layout, each with its own hardware quirks drawn from `rng`; `panic` adds a button
    to kits that have none."""
    if kit not in KITS:
        raise ValueError(f"unknown sensor kit {kit!r}; known: {', '.join(KITS)}")
    rooms = [r for r in layout.rooms if r != "entrance"]
    if kit == "sparse":
        pir_rooms = [layout.main, "kitchen" if layout.main != "kitchen" else "bathroom"]
    elif kit in ("basic", "floor_mat"):
        pir_rooms = rooms
    elif kit == "ordonez":
        pir_rooms = ["bathroom", "kitchen"]
    else:
        pir_rooms = [*rooms, "entrance"]
    out = []
    if kit != "nodoor":
        out.append(SensorModel("front_door", "door", "entrance", bounce_p=rng.choice((0.0, 0.02, 0.05, 0.12)),
                               battery_start=rng.uniform(35, 100), drain_per_day=rng.uniform(0.05, 0.3)))  # fmt: skip
    out += [_pir(room, rng, holds, interval=kit == "ordonez") for room in pir_rooms]
    if kit in ("rich", "ordonez"):
        out.append(_mat("bed_mat", "bedroom", "bed", rng))
    if kit == "floor_mat":
        out.append(_mat("floor_mat", "bedroom", "floor", rng))
    if kit == "ordonez":
        out.append(_mat("seat_mat", layout.main, "seat", rng))
        out += [
            _fixture("fridge", "contact", "kitchen", "fridge", rng),
            _fixture("cupboard", "contact", "kitchen", "cupboard", rng),
            _fixture("cabinet", "contact", "bathroom", "cabinet", rng),
            _fixture("microwave", "power", "kitchen", "microwave", rng),
            _fixture("toaster", "power", "kitchen", "toaster", rng),
            _fixture("toilet_flush", "flush", "bathroom", "toilet", rng),
        ]
    if kit in ("basic", "standard", "rich", "nodoor", "floor_mat") or panic:
        out.append(SensorModel("panic", "button", "bedroom", battery_start=rng.uniform(60, 100), drain_per_day=0.02))
    return out


# --- PIRs -----------------------------------------------------------------------------------------------------


@dataclass
class PirState:
    """A PIR's state carried from one day to the next."""

    occupied: bool = False
    clear_at: float = 0.0  # hold: when it reports 0; interval: movement after this starts a new interval
    blind_until: float = 0.0
    last: float = 0.0  # last movement it saw


def _off_at(s: SensorModel, st: PirState) -> float:
    return st.last + s.tail_s if s.interval else st.clear_at


def pir_day(sim: HomeSim, s: SensorModel, st: PirState, moves: list[float], a: float, b: float, nxt: float | None,
            out: list[Event]) -> None:  # fmt: skip
    """One PIR over [a, b): reports 1 on the first movement it catches and stays occupied while movement goes on;
    `hold` mode reports 0 `hold_s` after the last movement, `interval` mode `tail_s` after it once no movement
    follows within `gap_s`; then it is blind for `cooldown_s`. It misses some movements and invents a few.
    `nxt` is the first movement after `b` (to end an interval that runs up to midnight)."""
    r = sim.rng("pir", s.id, a)
    keep = s.gap_s if s.interval else s.hold_s
    spurious: list[float] = []
    t = a + r.expovariate(s.spurious_per_day / DAY) if s.spurious_per_day else b
    while t < b:
        if not any(x <= t < y for x, y in sim.quiet):
            spurious.append(t)
        t += r.expovariate(s.spurious_per_day / DAY)
    events = [(m, False) for m in moves] + [(m, True) for m in spurious]
    events.sort()
    for t, fake in events:
        if st.occupied and t > st.clear_at:
            _clear(sim, s, st, out)
        if st.occupied:
            if not fake:
                st.clear_at, st.last = t + keep, t
            continue
        if t < st.blind_until:
            sim.quirks["blind"] += 1
            continue
        if not fake:
            sim.quirks["attempts"] += 1
            level = sim.battery(s, t)
            if r.random() < s.miss_p * (3 if level is not None and level < 10 else 1):
                sim.quirks["missed"] += 1
                continue
        else:
            sim.quirks["spurious"] += 1
        _emit(sim, out, s, t, "1")
        st.occupied, st.clear_at, st.last = True, t + keep, t
    # A hold ends at its clear time; an interval ends today if no movement already planned continues it.
    ends = st.clear_at < b if not s.interval else _off_at(s, st) < b and (nxt is None or nxt > st.clear_at)
    if st.occupied and ends:
        _clear(sim, s, st, out)


def _clear(sim: HomeSim, s: SensorModel, st: PirState, out: list[Event]) -> None:
    off = _off_at(s, st)
    _emit(sim, out, s, off, "0")
    st.occupied = False
    st.blind_until = off + s.cooldown_s


def _emit(sim: HomeSim, out: list[Event], s: SensorModel, t: float, v: str) -> None:
    if sim.alive(s.id, t):
        out.append(Event(t, s.id, "motion", v, s.room))


# --- fixtures: what chores touch ------------------------------------------------------------------------------


def fixture_uses(seg: Seg, fixtures: list[SensorModel], r: random.Random) -> list[tuple[str, float, str]]:
    """(sensor, time, value) reports of the fridge, cupboards, appliances and toilet flush that the activity `seg`
    uses, all inside the segment (an appliance left running is not modelled)."""
    out: list[tuple[str, float, str]] = []
    lo, hi = seg.t0 + 5, seg.t1 - 5
    if hi - lo < 20:
        return out
    for f in fixtures:
        if f.room != seg.place:
            continue
        free = lo  # one use at a time: a fridge opened again is closed first
        for t0, dur in _uses(f, seg, lo, hi, r):
            t0 = max(t0, free)
            t1 = min(t0 + dur, hi)
            if t1 - t0 < 1:
                continue
            on, off = ("open", "closed") if f.kind == "contact" else ("1", "0")
            out += [(f.id, t0, on), (f.id, t1, off)]
            free = t1 + 1
    return out


def _uses(f: SensorModel, seg: Seg, lo: float, hi: float, r: random.Random) -> list[tuple[float, float]]:
    """Start times and durations of the uses of fixture `f` during `seg`."""
    act = seg.act
    if f.role == "toilet":
        return [(max(lo, hi - r.uniform(10, 40)), r.uniform(2, 6))] if act == "bathroom" and r.random() < 0.85 else []
    if f.role == "cabinet":
        return [(r.uniform(lo, hi), r.uniform(3, 20))] if act == "bathroom" and r.random() < 0.3 else []
    if f.role in ("fridge", "cupboard"):
        n = {"cook": r.randint(1, 3), "eat": int(r.random() < 0.3), "potter": int(r.random() < 0.25)}.get(act, 0)
        return sorted((r.uniform(lo, hi), r.uniform(3, 40)) for _ in range(n))
    if f.kind == "power" and act == "cook" and r.random() < 0.4:
        return [(r.uniform(lo, max(lo, hi - 60)), r.uniform(1, 5) * 60)]
    return []
