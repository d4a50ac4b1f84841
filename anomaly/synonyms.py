"""A recording's own words for the wire contract's kinds and values, read as the contract's.

The live engine only ever sees contract values (`contracts.messages.KNOWN_VALUES`: motion and pressure 1/0, doors
open/closed, buttons press/long_press). A CSV replayed or evaluated comes from elsewhere: CASAS writes ON/OFF and
OPEN/CLOSE, zigbee2mqtt true/false, pandas writes 1.0 for an integer column with a gap in it. Read raw, each of
these looked to the engine like a reading rather than a switch, or a PIR's clear like movement: our own simulator's
lies found went 50/76 -> 0/76 with 1.0/0.0 and -> 12/76 with ON/OFF (docs/anomaly-history.md, "Ninth round"). A
value that maps to nothing is left as it is (lower case): the engine takes it for a reading, as it would any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from itertools import pairwise

from anomaly.const import OFF_VALUES, ON_VALUES, is_entrance
from contracts.messages import KNOWN_VALUES

# Column names other sources use for an events CSV's (`ts,sensor,kind,value,room`); taken only when ours is absent.
COLUMN_ALIASES = {
    "timestamp": "ts",
    "time": "ts",
    "datetime": "ts",
    "date_time": "ts",
    "sensor_id": "sensor",
    "device": "sensor",
    "device_id": "sensor",
    "type": "kind",
    "sensor_type": "kind",
    "state": "value",
    "reading": "value",
    "location": "room",
    "area": "room",
    "place": "room",
}
# Kind names other sources use for the contract's kinds.
KIND_ALIASES = {
    "pir": "motion",
    "occupancy": "motion",
    "movement": "motion",
    "motion_sensor": "motion",
    "pir_sensor": "motion",
    "mat": "pressure",
    "pressure_mat": "pressure",
    # A force-sensing resistor under a mattress or a cushion (ARAS's "Force Sensor"): a mat by another name. Left as
    # written, beds and seats were no mats: Ordonez A's lies found 16 -> 7 of 36 (false alerts 7 -> 18), the peer's
    # 35 -> 32 of 44.
    "force": "pressure",
    "fsr": "pressure",
    "force_sensitive_resistor": "pressure",
    "magnetic": "contact",
    "reed": "contact",
    "reed_switch": "contact",
    "opening": "contact",
    "contact_sensor": "contact",
    "magnet": "contact",
    "panic_button": "button",
    "push_button": "button",
    "emergency_button": "button",
    "call_button": "button",
    "sos": "button",
}
# Words a kind's name may end in without changing what it is (`door sensor`, `motion_detector`, `door_switch`); any
# `<x> mat` is a pressure mat (a door mat is no door).
KIND_SUFFIXES = ("_sensor", "_detector", "_switch")
# A mat's role as installers and other tools name it, as ours (`recording.SENSOR_ROLES`: bed, seat, floor).
ROLE_ALIASES = {
    "bed_mat": "bed",
    "chair": "seat",
    "armchair": "seat",
    "sofa": "seat",
    "couch": "seat",
    "seat_mat": "seat",
    "bedside": "floor",
    "floor_mat": "floor",
    "rug": "floor",
}
# A front door's name (`_says_front`), and the rooms one is in, as recordings write them.
FRONT_WORDS_ZH = ("大门", "入户门", "前门")
# A door named for what it closes off: the house's, the flat's (ARAS's "House Door"), the outer or street door.
FRONT_DOOR_WORDS = frozenset({"front", "main", "house", "apartment", "flat", "outer", "outside", "exterior", "street"})
EXIT_WORDS = frozenset({"back", "rear", "exit", "garage", "patio"})  # other doors out, by name (`doors_out`)
GENERIC_WORDS = frozenset({"door", "sensor", "contact", "reed", "d"})  # words a name may add to a door's
# (Switch words are const.ON_VALUES / OFF_VALUES: the engine's, defined once.)
# Kinds a recording's kind may be read as once a generic last word is dropped: the contract's and the plain contact.
CONTRACT_KINDS = frozenset({*KNOWN_VALUES, "contact"})
_KIND_SPACE = re.compile(r"[\s\-]+")


def columns_of(header: list[str], aliases: Mapping[str, str] = COLUMN_ALIASES) -> dict[str, int]:
    """Where each of our columns is in a CSV header (lower case, a BOM dropped), by its name or else an alias."""
    cols = [c.strip().lstrip("\ufeff").lower() for c in header]
    found = {c: i for i, c in reversed(list(enumerate(cols)))}  # (the first of a repeated name)
    for i, c in reversed(list(enumerate(cols))):
        ours = aliases.get(c)
        if ours is not None and ours not in cols:
            found[ours] = i
    return found


@lru_cache(maxsize=1024)
def kind_of(kind: str) -> str:
    """The contract's name for a recording's kind: lower case, spaces and hyphens as `_`, aliases resolved, and a
    generic last word (`KIND_SUFFIXES`) dropped when what is left is a kind we know (`door sensor` is a door).

    A converted dataset writes "Motion Sensor" or "door-sensor"; left as written, such a kind was no motion (a PIR
    reporting only ON counted once and went quiet: a fall missed) and no front door (every outing a silence).
    """
    k = _KIND_SPACE.sub("_", kind.strip().lower()).strip("_")
    if k in KIND_ALIASES:
        return KIND_ALIASES[k]
    if k.endswith("_mat"):
        return "pressure"
    for suffix in KIND_SUFFIXES:
        stem = k.removesuffix(suffix)
        if stem != k and stem:
            ours = KIND_ALIASES.get(stem, stem)
            if ours in CONTRACT_KINDS:
                return ours
    return k


def role_of(role: str) -> str:
    """Our name for a mat's role as given (lower case, aliases resolved); other roles are left as given."""
    r = role.strip().lower()
    return ROLE_ALIASES.get(r, r)


@lru_cache(maxsize=4096)  # (a replay reads millions of rows with a handful of distinct values)
def value_of(kind: str, text: str) -> int | float | str:
    """The contract's value for a recording's value of a kind already resolved by `kind_of`."""
    low = text.strip().lower()
    number = _number(low)
    if number is not None and number in (0, 1):
        low = str(int(number))  # 1.0 -> "1": a switch, not a reading
    if kind in ("motion", "pressure"):
        if low in ON_VALUES:
            return 1
        if low in OFF_VALUES:
            return 0
    elif kind == "door":
        if low in ON_VALUES:
            return "open"
        if low in OFF_VALUES:
            return "closed"
    elif kind == "button" and low not in ("press", "long_press") and low in ON_VALUES:
        return "press"
    if number is not None:
        return int(number) if number == int(number) and "." not in low and "e" not in low else number
    return low


def front_among(sensors: Mapping[str, str | None]) -> str | None:
    """Which of several door or contact sensors (sensor -> room) is the front door, when no room is called entrance.

    The only one whose name says so (front door, main door, entrance), else the only one in an entrance
    (`const.ENTRANCE_ROOMS`); None rather than a guess. Not any hall: an inner door or a cupboard opens onto a
    hallway, and a contact taken for the front door makes the resident out, and their stillness unwatched, each time
    it closes.
    """
    named = [s for s in sensors if _says_front(s)]
    if len(named) == 1:
        return named[0]
    at_entrance = [s for s, room in sensors.items() if is_entrance(room)]
    return at_entrance[0] if len(at_entrance) == 1 else None


def doors_out(sensors: Mapping[str, str | None]) -> list[str]:
    """The doors (sensor -> room) whose name says they lead out: a front, back, rear, garage or patio door.

    By the whole name: `back_door`, `Garage Door`, `backdoor`, `rear`, not `back_bedroom_door` or `rear_bathroom_door`
    (a door out taken for an inner one hides an outing; an inner one taken for a door out hides a fall behind it).
    """
    return [s for s in sensors if _says_front(s) or _names_door(s, EXIT_WORDS)]


def _says_front(name: str) -> bool:
    low = name.lower()
    words = [w for w in re.split(r"[^a-z0-9]+", low) if w]
    named = bool(set(words) & {"entrance", "entry", "frontdoor", "maindoor"}) or _names_door(name, FRONT_DOOR_WORDS)
    return named or any(w in low for w in FRONT_WORDS_ZH)


def _names_door(name: str, first: set[str] | frozenset[str]) -> bool:
    """Whether the name is a door of one of `first`: `<w> door` (`back_door`, `Back Door 2`), `<w>door`, or `<w>`
    with nothing else but generic words (`rear`, `garage_sensor`)."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    if any(a in first and b == "door" for a, b in pairwise(words)) or any(
        w[:-4] in first for w in words if w.endswith("door")
    ):
        return True
    rest = {w for w in words if w not in GENERIC_WORDS and not w.isdigit()}
    return len(rest) == 1 and next(iter(rest)) in first


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if x == x and x not in (float("inf"), float("-inf")) else None
