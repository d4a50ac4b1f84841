"""`anxin eval --bound`: how far any stillness rule could go on a home's long lies, in hindsight."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from anomaly.const import DEVICE_KINDS, OFF_VALUES, ON_VALUES
from anomaly.recording import events_file, in_order, read_events
from evaluation.homes import home_meta
from evaluation.scoring import read_labels, scored_type


@dataclass
class LieBound:
    """How one long lie compares with the same resident's ordinary stillness (see `stillness_bound`)."""

    kit: str
    room: str  # where it was: the room of the last trigger before the fall (`in_bed` on a pressed bed mat)
    sensors: str  # the kinds of sensor in that room, e.g. `contact+motion`
    outlasted: int  # ordinary stillnesses in the same place and hour at least as long as the lie
    passed_30: bool  # an ordinary stillness there passed the limit a find within 30 min of the fall would need


BOUND_HOUR_S = 5400.0  # "about the same time of day": within 90 minutes


def stillness_bound(home_dir: Path, kit: str | None = None) -> list[LieBound]:
    """Compare each labelled long lie with the ordinary stillness of the same home, in hindsight.

    A trigger is any sensor switching, as the engine reads movement (a PIR clearing, a cupboard closing, a flush),
    not a device report or a reading. The lie's stillness runs from the last trigger before the fall to the label's
    end, in the room of that trigger (a pressed bed mat makes it `in_bed`). Ordinary stillness is every gap of 5 min
    or more between triggers in the same room, starting within 90 min of the same time of day, over the whole file,
    away from every labelled incident but slow trends and dead sensors. A lie outlasted by two or more of them cannot
    be found by any stillness rule without two false alarms in that home, more than the target of one per 60 days
    allows.
    """
    kit = kit if kit is not None else str(home_meta(home_dir).get("kit", ""))
    trig: list[tuple[float, str]] = []  # (time, place: the room, or `in_bed`)
    rooms: list[str] = []  # each trigger's room (`in_bed` is a place in one)
    kinds: dict[str, set[str]] = defaultdict(set)
    bed_mats: set[str] = set()  # pressure mats in a bed room now pressed: someone in bed (a seat mat is not a bed)
    rows, tz = read_events(events_file(home_dir))
    for t, sensor, kind, value, room in in_order(rows)[0]:  # (as the replay reads them)
        v = str(value).lower()
        if kind in DEVICE_KINDS or v not in ON_VALUES | OFF_VALUES:
            continue
        name = (room or "").lower()
        kinds[name].add(kind)
        if kind == "pressure" and "bed" in name:
            (bed_mats.add if v in ON_VALUES else bed_mats.discard)(sensor)
        trig.append((t, "in_bed" if bed_mats and "bed" in name else name))
        rooms.append(name)
    labels = read_labels(home_dir / "labels.csv", tz)
    busy = [
        (lab.start - 3600.0, lab.end + 3 * 3600.0)
        for lab in labels
        if lab.type not in ("illness", "night_restlessness", "sensor_dead")
    ]
    ordinary: dict[str, list[tuple[float, float]]] = defaultdict(list)  # room -> (time of day, gap)
    for (t0, room), (t1, _) in pairwise(trig):
        if t1 - t0 >= 300 and not any(a <= t0 <= b or a <= t1 <= b for a, b in busy):
            ordinary[room].append((t0 % 86400.0, t1 - t0))
    times = [t for t, _ in trig]
    out: list[LieBound] = []
    for lab in labels:
        if scored_type(lab) != "long_lie":  # only the lies a detector is required to find (30 min or more)
            continue
        i = bisect.bisect_right(times, lab.start) - 1
        if i < 0:
            continue
        t0, room = trig[i]
        tod = t0 % 86400.0
        near = [g for x, g in ordinary[room] if min(abs(x - tod), 86400.0 - abs(x - tod)) <= BOUND_HOUR_S]
        lie = lab.end - t0
        need = lab.start - t0 + 30 * 60  # a limit that finds the fall 30 min after it happened
        seen = "+".join(sorted(kinds[rooms[i]])) or "-"
        out.append(LieBound(kit, room, seen, sum(g >= lie for g in near), any(g > need for g in near)))
    return out


def bound_summary(bounds: Iterable[LieBound]) -> dict[str, dict[str, float]]:
    """Per kit and overall: lies, the share outlasted by 1+ and 2+ ordinary stillnesses, and the share a 30-min find
    would need a limit ordinary stillness passed."""
    by: dict[str, list[LieBound]] = defaultdict(list)
    for b in bounds:
        by[b.kit or "-"].append(b)
        by["all"].append(b)
    return {
        kit: {**_outlasted(bs), "passed_30_min": round(sum(b.passed_30 for b in bs) / len(bs), 3)}
        for kit, bs in sorted(by.items())
    }


def _outlasted(bs: list[LieBound]) -> dict[str, float]:
    """Lies, and the shares outlasted by 1+ and 2+ ordinary stillnesses."""
    return {
        "lies": len(bs),
        "outlasted_1": round(sum(b.outlasted >= 1 for b in bs) / len(bs), 3),
        "outlasted_2": round(sum(b.outlasted >= 2 for b in bs) / len(bs), 3),
    }


def bound_rooms(bounds: Iterable[LieBound]) -> dict[str, dict[str, float | str]]:
    """Per room of the last sensor before a lie: lies, the shares outlasted by 1+ and 2+ ordinary stillnesses there, the
    kinds of sensor there.

    Where lies are outlasted twice or more, no stillness rule tells lying on the floor from resting in that room
    within the budget: only a sensor that sees the difference (a floor mat, a PIR aimed at the floor, a worn button)
    would. The room is the last sensor's: behind a door contact the resident may be on either side of it.
    """
    by: dict[str, list[LieBound]] = defaultdict(list)
    for b in bounds:
        by[b.room or "-"].append(b)
    return {
        room: {**_outlasted(bs), "sensors": "/".join(sorted({b.sensors for b in bs}))}
        for room, bs in sorted(by.items(), key=lambda kv: -len(kv[1]))
    }
