"""Strays: a lone motion trigger away from where the resident was, held apart until what follows settles it.

Used by the long_inactivity detector (detectors/inactivity.py), which keeps the state (`Inactivity.stirred`,
`Inactivity.stray`), settles a stray with the next movement and judges a silence both ways while one is pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from anomaly.const import MOTION_HELD_MAX, STRAY_CONFIRM
from anomaly.stillness import Context

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor


@dataclass(slots=True)
class Moment:
    """A moment and when it began: its context, the event's time, and when it saw the resident (a clear: earlier)."""

    ctx: Context
    start: float
    seen: float


@dataclass(slots=True)
class Stray:
    """A lone trigger away from where the resident was (`is_stray`), and the moments it made: its 1, then its clear."""

    sensor: str
    place: str
    moments: list[Moment]


def home_place(m: HomeMonitor) -> str | None:
    """Where the present silence began: the room of the moment in effect (its sensor's name when it has no room)."""
    ctx, kit = m.idle.ctx, m.kit
    if ctx is None or ctx.sensor not in kit.sensors:
        return None
    return kit.sensors[ctx.sensor].room or ctx.sensor


def is_stray(m: HomeMonitor, t: float, sensor: str, on: bool, place: str) -> bool:
    """Whether a motion sensor's `1` (or `0`) at `t` is a stray: a lone trigger away from where the resident was.

    The resident cannot reach another room unseen by the sensors on the way, but a PIR can fire on its own (sunlight, a
    draught, a pet; our simulator's PIRs do so a few times a week). Taken at its word, a kitchen PIR firing at 02:46
    while the resident slept was "the kitchen at night", whose silences end within minutes as the resident walks back
    to bed, and it raised long_inactivity 20 min later (the larger part of our simulator's false alerts;
    docs/anomaly-history.md "Seventh round"). A trigger after STRAY_CONFIRM without movement, in a place other than
    where the present silence began and where the last movement was, is therefore held apart until what follows
    settles it (detectors/inactivity.py `_settle`); meanwhile an alarm needs the silence to be improbable both where
    the resident was and where the stray fired (`check` there). The clear of a pending stray is part of it. Always
    taken at their word: any other kind of sensor switching (not asked here), and a trigger while another PIR reports
    movement in progress (one that reports its clears: a PIR that only ever says `1` is never "in progress").
    """
    st, kit = m.idle, m.kit
    if not on:
        return st.stray is not None and st.stray.sensor == sensor
    stirred, home = st.stirred, home_place(m)
    return (
        stirred is not None
        and home is not None
        and t - stirred[0] >= STRAY_CONFIRM
        and place not in (home, stirred[1])
        and not any(
            o != sensor and kit.sensors[o].reports_clear and t - since < MOTION_HELD_MAX
            for o, since in kit.motion_on.items()
        )
    )
