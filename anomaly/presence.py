"""Presence: home or away, the front door, visitors, stray triggers, and where and when the resident last moved."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING

from anomaly import sleep
from anomaly.const import (
    HOUR,
    MIN,
    RUN_GAP,
    SETTLE,
    SMALL_HOURS_END,
    STIR_S,
    STRAY_CONFIRM,
    VISIT_LEAVE,
    VISIT_STILL,
    is_entrance,
)
from anomaly.quantile import WindowQuantiles, carried_over

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor

CAP = 1_000_000


class Presence(StrEnum):
    """Where the resident is, as far as the sensors tell."""

    HOME = "home"
    AWAY = "away"


class Whereabouts:
    """Where the resident is and last moved, the front door's state, and learned outing lengths."""

    __slots__ = (
        "away_since",
        "door_closed_at",
        "door_open_since",
        "door_reported",
        "exit_pending",
        "exit_reported",
        "in_bed",
        "last_act",
        "last_front_event",
        "last_room",
        "n_night_out",
        "night_outs",
        "outings",
        "presence",
        "run_last",
        "run_start",
        "stirred_at",
        "stray_at",
        "visitor_at",
    )

    def __init__(self) -> None:
        self.presence = Presence.HOME
        self.away_since: float | None = None
        self.stray_at: float | None = None  # a lone trigger while away with the front door unused: not yet a return
        self.last_act: float | None = None
        self.last_room = 0
        self.in_bed = False
        self.run_start = -math.inf
        self.run_last = -math.inf
        self.door_open_since: float | None = None
        self.door_closed_at: float | None = None
        self.last_front_event = -math.inf
        self.exit_pending: float | None = None
        self.exit_reported: float | None = None  # the night exit a finding was raised for
        self.door_reported: float | None = None  # the door opening a door_left_open was raised for
        self.visitor_at: float | None = None
        self.stirred_at = -math.inf  # when the last stillness of VISIT_STILL or more ended
        self.outings = WindowQuantiles()  # outings' lengths, seconds
        self.night_outs = WindowQuantiles()  # ... of those begun at night
        self.n_night_out = 0

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        values = dict(state[1])
        # Checkpoints written before the windows kept river's P-square Quantiles: their estimates seed the windows.
        if "outings" not in values:
            self.outings = carried_over(values.pop("outing_q", None))
            self.night_outs = carried_over(values.pop("night_out_q", None))
        for name, value in values.items():
            setattr(self, name, value)

    def touch(self, t: float, room: int) -> None:
        """Movement at `t` in `room`: restart the stillness clock and extend or start a run of activity."""
        last = self.last_act
        if last is not None and t > last:
            if t - last > VISIT_STILL:
                self.stirred_at = t  # (a resident on the floor may stir the moment help comes through the door)
            if t - self.run_last > RUN_GAP:
                self.run_start = t
            self.run_last = t
        if last is None or t >= last:
            self.last_act = t
            self.last_room = room

    def extend_run(self, since: float, t: float) -> None:
        """A motion sensor reported movement from `since` until `t` (a PIR that reports intervals: a quarter of an
        hour in the shower is one report): a run of activity alive at `since` goes on until `t`."""
        if since - self.run_last <= RUN_GAP and t > self.run_last:
            self.run_last = t


def night_for_exit(m: HomeMonitor, t: float) -> bool:
    """Whether a door opening at `t` may be a night exit: in the resident's own night (deep night, or asleep in the
    evening), or in the clock's small hours whatever their night (SMALL_HOURS_END).

    A late riser (to bed about 01:20) went out at 01:01 and stayed out 165 min: before her own night, so it was no
    exit. Her walks then are night outings like any other: their lengths set the limit (`night_exit.limit`), within
    the operator's ceiling, which is the knob for a resident whose small hours are their own.
    """
    if sleep.deep_night(m, t) or m.local_s(t) < SMALL_HOURS_END:
        return True
    s = m.sleep
    nb = sleep.wake_value(m, t)
    return s.asleep and s.bed_nb() - HOUR <= nb <= s.wake_lo_nb() - 30 * MIN


def front_door(m: HomeMonitor, t: float, value: str) -> None:
    """The front door opened or closed: visitors, a possible exit at night, movement at the door."""
    w = m.where
    w.last_front_event = t
    if value == "open":
        if w.door_open_since is None:
            w.door_open_since = t
            if (
                w.presence is Presence.HOME
                and w.last_act is not None
                and (t - w.last_act > VISIT_STILL or t - w.stirred_at < STIR_S)
            ):
                # Opened with nobody stirring inside first: someone came in from outside (a carer, a neighbour).
                w.visitor_at = t
        if w.exit_pending is not None and t - w.exit_pending > SETTLE:
            w.exit_pending = None  # opened again: coming back in
        elif (
            w.presence is Presence.HOME
            and w.exit_pending is None
            and night_for_exit(m, t)
            and not (w.visitor_at is not None and 0 <= t - w.visitor_at < VISIT_LEAVE)
        ):
            # Not someone coming in, nor, within hours of that, the door opening again: them leaving.
            w.exit_pending = t
    else:
        w.door_open_since = None
        w.door_closed_at = t
    # Someone is at the door: that is movement, though maybe on the way out.
    if w.presence is Presence.HOME:
        if m.sleep.asleep:
            sleep.up_sign(m, t, None)
        door = m.kit.sensors.get(m.kit.front_door or "")
        at_door = door.room if door is not None and door.room else "entrance"  # (the door's own room: 玄关, foyer)
        w.touch(t, m.kit.room(at_door) if m.kit.front_entrance else w.last_room)
    m.schedule(t)


def activity(m: HomeMonitor, t: float, room_name: str | None, body: bool = False) -> None:
    """Movement in a room: a return home, a stray trigger, or the resident about (and maybe up from sleep).

    `body`: a mat pressed, someone's weight on it, which no sunlight or draught fakes as it does a PIR's trigger.
    """
    w = m.where
    room = m.kit.room(room_name)
    if t - w.last_front_event < SETTLE and is_entrance(room_name):
        # Passing through the entrance around a door event: movement, but not yet proof of who is inside.
        if w.presence is Presence.HOME:
            w.touch(t, room)
        return
    if w.presence is Presence.AWAY:
        if w.away_since is not None and w.last_front_event <= w.away_since + SETTLE:
            # Nobody came through the front door: one trigger is more likely a PIR's false one than the resident
            # back (a return opens the door); a second within STRAY_CONFIRM confirms it.
            if w.stray_at is None or t - w.stray_at > STRAY_CONFIRM:
                w.stray_at = t
                return
            t0 = w.stray_at
            w.stray_at = None
            returned(m, t0)
            w.touch(t0, room)
        else:
            returned(m, t)
    elif w.door_closed_at is not None and w.door_open_since is None and m.tuning.exit_stray:
        # The front door just closed: one trigger inside may be a PIR's false one rather than the resident still
        # at home; a second before the resident would be taken for gone confirms they stayed in. A mat pressed since
        # is someone sitting down: Ordonez A's resident let someone out at 20:38 and sat down again for three hours,
        # read as gone, so a fall on getting up from that seat would have been an empty home's silence. (A press
        # delivered late, from before the door closed, says nothing of after.)
        sat_down = body and t >= w.door_closed_at
        if not sat_down and (w.stray_at is None or w.stray_at < w.door_closed_at):
            w.stray_at = t
            return
        w.stray_at = None
    m.trends.today_active += 1
    w.door_closed_at = None
    w.exit_pending = None
    w.exit_reported = None
    prev_room = w.last_room
    w.touch(t, room)
    if m.sleep.asleep:
        sleep.up_sign(m, t, room)
        sleep.night_activity(m, t, room != prev_room)
    m.schedule(t)


def returned(m: HomeMonitor, t: float) -> None:
    """Back home at `t`: learn the outing's length."""
    w = m.where
    if w.away_since is not None:
        length = t - w.away_since
        m.trends.today_away_s += length
        w.outings.update(length)
        if night_for_exit(m, w.away_since):
            w.n_night_out = min(w.n_night_out + 1, CAP)
            w.night_outs.update(length)
    w.presence = Presence.HOME
    w.away_since = None
    w.stray_at = None
    w.last_act = t


def check_away(m: HomeMonitor, now: float, nxt: list[float]) -> None:
    """Away once the front door closed and nobody moved inside since."""
    w = m.where
    if w.door_closed_at is not None and w.presence is Presence.HOME and w.door_open_since is None:
        grace = m.tuning.exit_grace_s
        if now - w.door_closed_at >= grace:
            w.presence = Presence.AWAY
            w.away_since = w.door_closed_at
            w.door_closed_at = None
            m.sleep.asleep = False
            m.sleep.end_episode(w.last_act)
        else:
            nxt.append(w.door_closed_at + grace)
