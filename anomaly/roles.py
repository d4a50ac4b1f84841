"""The home's kit: each sensor's state and place, the rooms seen, the front door, and pressure mats' roles (given or
learned from how long and when they are pressed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from anomaly.const import (
    BED_HOLD,
    BED_ROLE,
    EXIT_ROLE,
    FRONT_ROLE,
    HOLDING_KINDS,
    IN_BED,
    MAT_RESTING_ROLES,
    MAT_STEPS,
    MAX_ROOMS,
    SEAT_HOLD,
    SEAT_ROLE,
    SLEEP_ROOMS,
    STEP_HOLD,
    is_entrance,
    room_class,
)

# A front door no one can tell (several doors, none named or in the entrance): none is learned from the first seen.
NO_FRONT_DOOR = ""


@dataclass(slots=True)
class SensorState:
    """What the monitor remembers of one sensor."""

    kind: str
    first: float  # first seen
    last: float  # last seen
    max_gap: float = 0.0  # the longest silence between two of its reports
    low: bool = False  # battery reported low (until it is back over 30 %)
    silent: bool = False  # reported silent, until it is heard again
    room: str = ""
    held_since: float = 0.0  # when it last switched on (a mat pressed)
    reports_clear: bool = False  # a motion sensor that reports 0: its 1 is movement still going on
    hold: float = math.inf  # a motion sensor's hold time: the installer's `hold_s`, else the shortest 1 -> 0 seen
    state: str | None = None  # a switch's last state (a door's `closed`, a mat's `1`): the same again is no move

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        # Checkpoints written before `hold` or `state` existed lack them: such a sensor learns them again.
        self.hold, self.state = math.inf, None
        for name, value in state[1].items():
            setattr(self, name, value)


class Kit:
    """Sensors, rooms and mats of one home, as the installer gave them or as the events show them."""

    __slots__ = (
        "exits",
        "front_door",
        "front_entrance",
        "held",
        "mat",
        "mat_roles",
        "mat_seen",
        "mat_steps",
        "meta",
        "motion_on",
        "open_exits",
        "rooms",
        "sees_bed",
        "sensors",
        "sleepy",
    )

    def __init__(self) -> None:
        self.sensors: dict[str, SensorState] = {}
        self.meta: dict[str, dict[str, str]] = {}  # installer's kit: sensor -> role, room, hold time
        self.mat_roles: dict[str, str] = {}  # pressure mat -> bed / seat, as given or learned from its holds
        self.mat_steps: dict[str, int] = {}  # pressure mat -> holds as short as a step, counted (see `rests`)
        self.mat = False  # the kit has a bed pressure mat: in bed or not is then known, not guessed
        self.mat_seen = -math.inf  # its last report
        self.rooms: list[str] = []
        self.sleepy: list[bool] = []  # per room: a place where the resident sleeps (bedroom, bed mat)
        self.sees_bed = False
        self.front_door: str | None = None
        self.front_entrance = False
        self.exits: list[str] = []  # other doors out (a back door, a garage's), as given or named
        self.open_exits: dict[str, float] = {}  # doors out open now, since when
        self.held: list[str] = []  # mats holding an "on" state (HOLDING_KINDS), oldest first
        self.motion_on: dict[str, float] = {}  # motion sensors reporting 1, since when

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        # Checkpoints written before only mats held a state (HOLDING_KINDS) may hold a cupboard or a door left open:
        # it would name every moment until it closed. Those from before `exits` take them from the installer's kit.
        self.exits, self.open_exits = [], {}
        self.mat_steps = {}  # (from before `rests`: every mat not yet known a bed or seat rests until stepped on)
        for name, value in state[1].items():
            setattr(self, name, value)
        self._classify_rooms()  # (by today's words and the kit's room types: a checkpoint keeps those of its time)
        if "exits" not in state[1]:
            self._doors_from_meta()
        self.held = [k for k in self.held if k in self.sensors and self.sensors[k].kind in HOLDING_KINDS]

    def room(self, name: str | None) -> int:
        """The index of a room, added on first sight (more than MAX_ROOMS fold into the last)."""
        name = (name or "unknown").lower()
        try:
            return self.rooms.index(name)
        except ValueError:
            if len(self.rooms) >= MAX_ROOMS:
                return MAX_ROOMS - 1
            self.rooms.append(name)
            self._classify_rooms()
            return len(self.rooms) - 1

    def room_class(self, name: str | None) -> str:
        """A room's class: the type the installer gave it (a sensor's `room_type` there), else read from its name."""
        r = (name or "").lower()
        given = (v["room_type"] for v in self.meta.values() if "room_type" in v and v.get("room", "").lower() == r)
        return next(given, None) or room_class(r)

    def _classify_rooms(self) -> None:
        """Which rooms the resident sleeps in, and whether any is a bedroom (on a new room, or a new kit)."""
        classes = [self.room_class(r) for r in self.rooms]
        self.sleepy = [c in SLEEP_ROOMS for c in classes]
        self.sees_bed = any(c in ("bedroom", IN_BED) for c in classes)

    def room_name(self, r: int) -> str:
        """The name of room index `r`."""
        return self.rooms[r] if r < len(self.rooms) else "unknown"

    def is_sleepy(self, r: int) -> bool:
        """Whether room index `r` is a place the resident sleeps."""
        return r < len(self.sleepy) and self.sleepy[r]

    def seen(self, t: float, sensor: str, kind: str, room: str | None) -> SensorState:
        """Note a report of `sensor` at `t`: its longest gap, last seen, heard again."""
        s = self.sensors.get(sensor)
        if s is None:
            s = self.sensors[sensor] = SensorState(kind, t, t, room=(room or "").lower(), held_since=t)
        else:
            gap = t - s.last
            if gap > s.max_gap:
                s.max_gap = gap
            if t > s.last:
                s.last = t
            s.silent = False
        return s

    def sensor_room(self, sensor: str) -> str:
        """The room a sensor was last reported in."""
        s = self.sensors.get(sensor)
        return s.room if s is not None and s.room else "unknown"

    def cleared(self, sensor: str, t: float) -> float | None:
        """A motion sensor's 0 at `t`: when it last saw movement (None if unknown), and what it teaches of its hold.

        A PIR reports 0 its hold time after the last movement it saw, so that is `t` less the hold, never before its
        1. Every 1 -> 0 lasts at least the hold, so the hold is the shortest one seen before this 0, or the
        installer's `hold_s` if shorter (a longer one is a typo the data contradict). Before a first 1 -> 0 and with
        no `hold_s` it is unknown, and so is when this 0 last saw someone.
        """
        since = self.motion_on.get(sensor)
        if since is None:
            return None
        s = self.sensors[sensor]
        hold = min(s.hold, _given_hold(self.meta.get(sensor)))
        if t > since:  # (a 0 stamped before or with its 1 arrived out of order: it says nothing of the hold)
            s.hold = min(s.hold, t - since)
        return max(since, t - hold) if math.isfinite(hold) else None

    def set_meta(self, meta: dict[str, dict[str, str]]) -> None:
        """The installer's description of the kit: sensor -> {kind, room, role (bed/seat/floor), hold_s, room_type}."""
        self.meta = {k: dict(v) for k, v in meta.items()}
        self._doors_from_meta()
        self._classify_rooms()
        if any(v.get("role") == BED_ROLE for v in self.meta.values()):
            self.mat = True

    def _doors_from_meta(self) -> None:
        """The doors out the installer named: the front door (role `front`) and the others (role `exit`)."""
        self.exits = [k for k, v in self.meta.items() if v.get("role") == EXIT_ROLE]
        front = next((k for k, v in self.meta.items() if v.get("role") == FRONT_ROLE), None)
        if front is not None:
            self.front_door, self.front_entrance = front, True

    def mat_role(self, sensor: str) -> str:
        """A pressure mat's role: as the kit says, else as learned, else `bed` only if its id says so."""
        given = self.meta.get(sensor, {}).get("role")
        if given:
            return given
        return self.mat_roles.get(sensor) or (BED_ROLE if "bed" in sensor.lower() else "")

    def learn_mat(self, sensor: str, hold: float, through_dawn: bool) -> None:
        """A mat released after `hold` s: hours held through 05:00 make it a bed, most of an hour otherwise a seat.

        Through the small hours, not merely "at night": an evening in the armchair runs past midnight (a real
        recording's seat was held 20:21-02:06), a night in bed runs past dawn.
        """
        if hold < STEP_HOLD:
            self.mat_steps[sensor] = min(self.mat_steps.get(sensor, 0) + 1, MAT_STEPS)
        if sensor in self.meta and self.meta[sensor].get("role"):
            return  # the installer said
        if hold >= BED_HOLD and through_dawn:
            self.mat_roles[sensor] = BED_ROLE
        elif hold >= SEAT_HOLD and self.mat_roles.get(sensor) != BED_ROLE:
            self.mat_roles[sensor] = SEAT_ROLE

    def rests(self, sensor: str) -> bool:
        """Whether someone held on mat `sensor` is resting there: a bed or a seat, or a mat not yet known stepped on.

        A mat the installer calls anything else (a floor mat), or one pressed MAT_STEPS times for seconds each (less
        than STEP_HOLD) and never held most of an hour (`learn_mat` makes those seats), is stepped on, not rested on:
        pressed, it is a moment like any other, and a body still on it after a fall must not borrow the long silences
        of sleep and sitting. Not after one press, nor after presses of minutes: a bed mat sat on before its first
        night, or a chair sat on briefly, would have the next night or sitting judged as steps.
        """
        role = self.mat_role(sensor)
        if role:
            return role in MAT_RESTING_ROLES
        return self.mat_steps.get(sensor, 0) < MAT_STEPS

    def is_front(self, sensor: str, room: str | None) -> bool:
        """Whether `sensor` is a door out: one of `exits`, or the front door (the first door seen, or the first in a
        room named entrance, `const.ENTRANCE_ROOMS`)."""
        entrance = is_entrance(room)
        if sensor in self.exits:
            return True
        if self.front_door == NO_FRONT_DOOR:
            return False  # (replay, seeing the file whole, found several doors and none it could tell: no guess)
        # (With other doors out known, only a door in the entrance is learned as the front one: the first door seen
        # may be the bathroom's, and taken for the way out it hides a fall behind it.)
        learn = self.front_door is None and (entrance or not self.exits)
        if learn or (entrance and not self.front_entrance):
            old, self.front_door, self.front_entrance = self.front_door, sensor, entrance
            if old is not None and old != sensor and old not in self.exits:
                # An inner door taken for the way out until now: left open, it would hold the home open for good.
                self.open_exits.pop(old, None)
        return sensor == self.front_door


def rooms_typed_twice(meta: Mapping[str, Mapping[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """Rooms of a kit given two room types by their sensors: room (in lower case, as `Kit.room_class` reads it) ->
    each (sensor, room_type) given there, in the kit's order. One type per room: two is a mistake, not settled by
    which sensor comes last (a recording's reader refuses it, the registry's reader leaves the type out)."""
    typed: dict[str, list[tuple[str, str]]] = {}
    for sensor, entry in meta.items():
        if "room_type" in entry:
            typed.setdefault(entry.get("room", "").lower(), []).append((sensor, entry["room_type"]))
    return {room: given for room, given in typed.items() if len({t for _s, t in given}) > 1}


def _given_hold(entry: dict[str, str] | None) -> float:
    """The installer's `hold_s` of a sensor in seconds; infinite when absent or not a finite number >= 0."""
    try:
        hold = float((entry or {})["hold_s"])
    except (KeyError, TypeError, ValueError):
        return math.inf
    return hold if math.isfinite(hold) and hold >= 0 else math.inf
