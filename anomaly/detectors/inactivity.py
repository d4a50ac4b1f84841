"""long_inactivity: the present stillness is improbable under this home's stillness model (anomaly/stillness.py).

Every sensor switching is movement: it teaches the model the silence it ends and makes the moment (`Context`) the next
silence begins after. One alert per quiet episode; it re-arms only once the resident is about again.

Past 400 lines on purpose: `check`, `explain` (why a fall went unraised, for evaluation) and `verdict` (a responder's
answer weighing an alarm's silence again) share the limit's arithmetic and the quiet episode's state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anomaly.const import (
    DAY,
    ECHO_RUN,
    ECHO_S,
    FINE_REARM_S,
    HOLDING_KINDS,
    HOUR,
    MAX_HELD,
    MIN,
    MOTION_HELD_MAX,
    OFF_VALUES,
    ON_VALUES,
    REARM_EVENTS,
    REARM_SENSORS,
    REARM_WINDOW,
    SLEEP_ROOMS,
    STRAY_CONFIRM,
)
from anomaly.limits import Tuning
from anomaly.presence import Presence
from anomaly.stillness import NIGHT_SLOTS, SLOT_S, SLOTS, Context, StillnessModel
from anomaly.strays import Moment, Stray, home_place, is_stray
from contracts import Finding, FindingKind, Severity

if TYPE_CHECKING:
    from anomaly.monitor import HomeMonitor
    from anomaly.roles import Kit


# What `explain` answers: why no long_inactivity is raised at a moment (or when it would be).
WHY_AWAY = "away"  # presence says the resident is out
WHY_OFFLINE = "offline"  # the home's agent is offline: a silence then raises agent_offline, not a fall
WHY_NO_MOMENT = "no_moment"  # no movement seen yet
WHY_QUIET = "quiet"  # an earlier alarm's quiet episode, not re-armed by activity since
WHY_HELD = "held"  # a PIR still on: movement in progress
WHY_LIMIT = "limit"  # the limit after the moment in effect (a stray's too, while one is pending)
WHY_CEILING = "ceiling"  # the same, at the operator's ceiling: the model finds such silences ordinary beyond it
WHY_BLIND = "blind"  # the ceiling, as a silent sensor there may hide the resident (`_blind`)
WHY_ASLEEP = "asleep"  # the ceiling, asleep in the bedroom in the first nights, before any night is learned


@dataclass(slots=True)
class Alarmed:
    """The silence a long_inactivity alarm was raised on, kept for the responder's verdict on it."""

    ctx: Context
    start: float
    weight: float  # what the model learns (or learned) it at: `reported_weight` until a verdict says otherwise
    gap: float | None = None  # its length, once the resident moved again and it was learned


class Inactivity:
    """The stillness model, the moment the present silence began after, and the quiet episode an alert opened."""

    __slots__ = (
        "alarmed",
        "ctx",
        "last",
        "left",
        "model",
        "quiet_events",
        "quiet_sensors",
        "quiet_since",
        "reported",
        "run",
        "seen",
        "stirred",
        "stray",
    )

    def __init__(self, tuning: Tuning) -> None:
        self.model = StillnessModel(
            prior_strength=tuning.prior_strength,
            prior_days=tuning.prior_days,
            warmup_days=tuning.warmup_days,
            tail_k=tuning.tail_k,
            min_spread=tuning.min_spread,
            half_life_days=tuning.half_life_days,
        )
        self.last: float | None = None  # the last movement of any kind (any sensor switching)
        self.ctx: Context | None = None  # ... and the moment it made
        self.seen: float | None = None  # ... and when it saw the resident (a PIR's 0: its hold earlier)
        self.reported: float | None = None
        self.quiet_since: float | None = None  # a quiet episode that raised long_inactivity, until activity resumes
        self.quiet_events = 0
        self.quiet_sensors: list[str] = []
        self.alarmed: dict[str, Alarmed] = {}  # finding id -> its silence and moment, for feedback (the last few)
        self.stirred: tuple[float, str] | None = None  # the last movement, strays included, and its place
        self.stray: Stray | None = None  # a lone trigger not yet confirmed or dismissed (anomaly/strays.py)
        self.left: str | None = None  # the sensor the resident left within ECHO_S for the present moment's room
        self.run = 0  # moments in a row from the sensor in effect, each within ECHO_S of the one before

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        # Checkpoints written before `seen` and `alarmed` existed lack them (and hold `recent`, the moments of the
        # last alarms, which `alarmed` replaced): until the next moment, `last` stands in for `seen`; a false alarm
        # raised before the upgrade scales the limits of its kind only, and a fall's verdict changes nothing.
        self.seen = None
        self.alarmed = {}
        self.stirred, self.stray = None, None  # (before strays: the next trigger is taken at its word)
        self.left, self.run = None, 0  # (before echoes)
        for name, value in state[1].items():
            if name in Inactivity.__slots__:
                setattr(self, name, value)


def event(m: HomeMonitor, t: float, sensor: str, kind: str, value: int | float | str, room: str | None) -> None:
    """Any sensor switching is movement: learn the silence it ends, then note the moment it makes."""
    v = str(value).lower()
    on = v in ON_VALUES
    if not on and v not in OFF_VALUES:
        return  # a reading (a temperature, a power level), not something a person did
    st, kit = m.idle, m.kit
    last = st.last
    s = kit.sensors[sensor]
    # A trailing clear: a PIR's 0 when it last saw the resident before the moment in effect did (the living room's
    # PIR clearing two minutes after they walked on to the bathroom). It says nothing of where they are now, so it is
    # no moment and ends no silence; taken as one, a fall in the bathroom was judged by the living room's long
    # night-time silences. It still counts as activity towards re-arming a quiet episode.
    trailing, seen = False, t
    if kind == "motion" and not on:
        ref = st.seen if st.seen is not None else last
        if sensor in kit.motion_on:
            cleared = kit.cleared(sensor, t)
            if cleared is not None:  # (unknown before the PIR's first 1 -> 0: taken at its word, as a moment)
                seen = cleared
                trailing = ref is not None and cleared < ref
        else:
            trailing = s.reports_clear  # a 0 again (a redelivery, a state report): no movement seen since the last
    elif _echo(m, t, sensor, kind, room):
        # The sensor just left for another room, switching again with nothing between: van Kasteren's toilet flush
        # reported six times in 47 s as the cistern refilled, the last after the bedroom door had closed behind the
        # resident, and the night's stillness was filed under a flush this resident always walks away from (a false
        # alarm at 20 min, then a quiet episode that hid a fall at 04:37). Like a trailing clear, no moment.
        trailing = True
    # A late event: its silence was counted, its state still counts (a pending stray's moments count as the latest).
    newest = max(last, st.stray.moments[-1].start) if st.stray is not None and last is not None else last
    late = newest is not None and t < newest
    before = st.stirred
    moved = before[0] if before is not None else last
    place = room.lower() if room else (s.room or sensor)
    stray = not late and kind == "motion" and is_stray(m, t, sensor, on, place)
    if not late and not trailing:
        st.stirred = (seen, place)  # movement seen, strays included (a clear: when its PIR last saw someone)
    if not late and not trailing and not stray:
        if st.stray is not None:
            _settle(m, t, place)
        _learn(m, t)
    if st.quiet_since is not None and not late:
        if moved is not None and t - moved > REARM_WINDOW:
            st.quiet_events, st.quiet_sensors = 0, []  # lone strays hours apart are not the resident back
        st.quiet_events += 1
        if sensor not in st.quiet_sensors:
            st.quiet_sensors.append(sensor)
        if st.quiet_events >= REARM_EVENTS and len(st.quiet_sensors) >= REARM_SENSORS:
            st.quiet_since = None
        elif (
            not trailing
            and before is not None
            and place != before[1]
            and t - before[0] <= FINE_REARM_S
            and _found_fine(st)
        ):
            # A responder found the resident fine, and here they walk from one place to another: the episode is
            # over, however slowly they go to bed (three triggers 12 min apart left it open all night). Not one
            # trigger, nor a PIR's clear sent again: a stray during an unseen absence, and a clear that is no
            # movement, re-raised the same silence or a new one at once.
            st.quiet_since = None
    if kind == "motion":
        if on:
            kit.motion_on[sensor] = t  # (for a PIR that reports its clears, 1 means movement still going on)
        elif not on:
            s.reports_clear = True
            since = kit.motion_on.pop(sensor, None)
            if since is not None:
                m.where.extend_run(since, t)
    elif kind != "button" and not _front_door(kit, sensor, kind, room):
        # (A button press is a moment, never a held state.)
        was = sensor in kit.held
        if was:
            kit.held.remove(sensor)
        if on and kind in HOLDING_KINDS:
            kit.held.append(sensor)
            if len(kit.held) > MAX_HELD:
                del kit.held[0]
            s.held_since = t
        elif was and kind == "pressure" and not _lay_on(st, sensor, s.held_since):
            since = s.held_since
            d = m.dt(since)
            to_five = (5 * HOUR - (d.hour * HOUR + d.minute * MIN + d.second)) % DAY
            kit.learn_mat(sensor, t - since, t - since >= to_five)  # held through 05:00: slept on
    if room is not None:
        s.room = room.lower()
    if late or trailing:
        return
    held = kit.held[-1] if kit.held else ""
    if held:
        # A mat stepped on (a floor mat) pools with other such moments, not with sleep's and sitting's silences.
        if kit.rests(held):
            st.model.stepped.discard(held)
        else:
            st.model.stepped.add(held)
    slot = int(m.local_s(t) // SLOT_S) % SLOTS
    ctx = Context(sensor, v, held, slot)
    if stray:  # (its 1, then its clear: a stray makes no more moments than a pulse)
        kept = st.stray.moments[:1] if st.stray is not None and st.stray.sensor == sensor and not on else []
        st.stray = Stray(sensor, place, [*kept, Moment(ctx, t, seen)])
        return
    _note_echo_source(st, kit, t, sensor, s.room)
    st.ctx, st.last, st.seen = ctx, t, seen


def _note_echo_source(st: Inactivity, kit: Kit, t: float, sensor: str, room: str) -> None:
    """Before a new moment at `t`: count the run of the sensor in effect, and note it as a source of echoes if the
    resident was just seen leaving it for another room while it was repeating itself (ECHO_S, ECHO_RUN).

    Only a sensor already repeating can echo: a door opened once, a cupboard touched in the hall and the door closing
    again within seconds is the resident going back in, not the door swinging to.
    """
    before, since = st.ctx, st.last  # (after `_settle`: a confirmed stray's moment is the one in effect)
    repeating = st.run >= ECHO_RUN
    st.left = None
    if before is None or since is None or t - since > ECHO_S:
        st.run = 1
    elif before.sensor == sensor:
        st.run += 1
    else:
        st.run = 1
        prev = kit.sensors.get(before.sensor)
        if repeating and prev is not None and prev.room and room and prev.room != room:
            st.left = before.sensor  # (seen in another room at once: what that sensor says next may be an echo)


def _echo(m: HomeMonitor, t: float, sensor: str, kind: str, room: str | None) -> bool:
    """Whether this switch is the echo of the sensor the resident just left for another room (ECHO_S).

    Motion has its own rule (a trailing clear); a mat pressed is a body, a button a person, the front door presence's.
    """
    st = m.idle
    if st.left != sensor or st.last is None or t - st.last > ECHO_S or kind in ("motion", "pressure", "button"):
        return False
    return not _front_door(m.kit, sensor, kind, room)


def _front_door(kit: Kit, sensor: str, kind: str, room: str | None) -> bool:
    """Whether the event is the front door's (presence's to read: away, visitors, exits), not movement inside."""
    return kind == "door" and kit.is_front(sensor, room)


def _learn(m: HomeMonitor, t: float) -> None:
    """Teach the model the present silence, ended at `t` (while at home, with a moment to file it under)."""
    st = m.idle
    last = st.last
    if last is None or st.ctx is None or m.where.presence is not Presence.HOME:
        return
    # A silence that raised an alarm, and what follows until the resident is about again, is learned at a low weight:
    # one real fall must not teach the model that such stillness is normal. A responder's verdict on the alarm sets
    # that weight (`verdict`): in full for a false alarm, not at all for a fall.
    w = 1.0
    if st.quiet_since is not None:
        a = next((a for a in reversed(st.alarmed.values()) if a.start == st.quiet_since), None)
        w = a.weight if a is not None else m.tuning.reported_weight
        if a is not None and a.gap is None and last == a.start:
            a.gap = t - last  # the alarmed silence itself: what a later verdict weighs again
    st.model.learn_one(st.ctx, t - last, w)


def _settle(m: HomeMonitor, t: float, place: str) -> None:
    """A movement at `t` in `place` settles a pending stray: was it the resident?

    Yes if they move again where it fired, or anywhere but where they were within STRAY_CONFIRM: its moments then
    stand as if taken at their word, and the silence before it and each of its own are learned. No if they are seen
    again where they were, however soon (a walk there and back would be two walks no sensor saw, a PIR firing on its
    own none), or elsewhere only later: the silence it interrupted goes on, and is learned whole.
    """
    st = m.idle
    stray, st.stray = st.stray, None
    if stray is None or place == home_place(m):
        return
    if place != stray.place and t - stray.moments[-1].start >= STRAY_CONFIRM:
        return
    for moment in stray.moments:
        _learn(m, moment.start)
        st.ctx, st.last, st.seen = moment.ctx, moment.start, moment.seen


def ceiling(m: HomeMonitor, t: float) -> float:
    """The operator's inactivity ceiling for stillness that began at `t`, in seconds (18-06 h: the night one)."""
    lim = m.limits
    night = not 6 * HOUR <= m.local_s(t) < 18 * HOUR
    return (lim.inactivity_ceiling_night_min if night else lim.inactivity_ceiling_day_min) * MIN


def check(m: HomeMonitor, now: float, out: list[Finding], nxt: list[float]) -> None:
    """Raise long_inactivity (or agent_offline, when the home itself went silent) once per quiet episode."""
    st = m.idle
    last, ctx = st.last, st.ctx
    if last is None or ctx is None or st.quiet_since is not None or last == st.reported:
        # One alert per quiet episode: it re-arms once the resident is moving about again. And one per silence: an
        # episode ended by strays alone (held apart, they end no silence) left the same silence to raise again.
        return
    floor = m.limits.inactivity_floor_min * MIN
    if now < last + floor:
        nxt.append(last + floor)  # no limit is below the floor: nothing to work out yet (most checks end here)
        return
    held = _held_until(m, now, last, floor)
    if held is not None:
        nxt.append(held)
        return
    due, _why, room = _due(m, now, floor)
    if now < due:
        nxt.append(due)
        return
    _raise(m, now, last, ctx, due - last, room, out)


def explain(m: HomeMonitor, now: float) -> tuple[str, float | None]:
    """Why `check` raises nothing at `now` (or that it would), and the limit in minutes when one applies.

    One of WHY_*, asked by evaluation at every check during a labelled fall (evaluation/misses.py). The limit is the
    one `check` uses, counted from where the silence began (with a stray pending, it can pass the ceiling: the
    stray's own limit, from its later moment, decides). It reads the model without keeping what it works out, so
    asking changes nothing `check` later does.
    """
    st = m.idle
    if m.where.presence is not Presence.HOME:
        return WHY_AWAY, None
    if m.devices.agent_offline_since is not None:
        return WHY_OFFLINE, None
    if st.last is None or st.ctx is None:
        return WHY_NO_MOMENT, None
    if st.quiet_since is not None or st.last == st.reported:
        return WHY_QUIET, None
    floor = m.limits.inactivity_floor_min * MIN
    if _held_until(m, now, st.last, floor) is not None:
        return WHY_HELD, None
    # (Judged as at the limit itself, however early it is asked: a silent sensor there then makes it the ceiling.)
    due, why, _room = _due(m, math.inf, floor, peek=True)
    return why, (due - st.last) / MIN


def _may_sleep_in(kit: Kit, room: str) -> bool:
    """Whether a silence begun in `room` may be sleep: a sleeping room, or in a home where no room says it is a
    bedroom (rooms named by code, `r1`..`r5`), any room not known to be another (a kitchen, a bathroom).

    As `sleep` reads it: a home that sees no bed is asleep wherever it is still at night. With its rooms coded, van
    Kasteren A's first night (the bedroom door closed at 00:20, nothing till 08:20) was a fall at the prior's 8 h.
    """
    cls = kit.room_class(room)
    return cls in SLEEP_ROOMS or (not kit.sees_bed and cls == "other")


def _held_until(m: HomeMonitor, now: float, last: float, floor: float) -> float | None:
    """Until when a PIR still reporting 1 holds the stillness off (None: none does).

    A motion sensor still reporting 1 is movement in progress (a PIR that reports intervals), not silence, for up to
    MOTION_HELD_MAX. Past that it may be stuck, and it gets the floor more before an alarm, rather than none (a real
    recording's living-room PIR stayed on 22:17-00:24 while the resident moved about; timed from 22:17, the silence
    had "lasted" two hours the moment the sensor's credit ran out). Only the floor: a PIR kept on by someone moving
    weakly on the floor must not also wait a whole limit.
    """
    kit = m.kit
    credits = [since + MOTION_HELD_MAX for s, since in kit.motion_on.items() if kit.sensors[s].reports_clear]
    busy = [c for c in credits if c > now]
    if busy:
        return min(busy)
    credit = max(credits, default=last)
    return credit + floor if credit > last and now < credit + floor else None


def _due(m: HomeMonitor, now: float, floor: float, peek: bool = False) -> tuple[float, str, str]:
    """When the present silence is an alarm, which kind of limit says so (WHY_*), and the room it began in."""
    st = m.idle
    assert st.last is not None and st.ctx is not None
    limit, why, room = _limit(m, now, st.ctx, st.last, floor, peek)
    due = st.last + limit
    if st.stray is not None:
        # A stray is pending: the resident is where the silence began, or where the stray fired. Only a silence
        # improbable at both is an alarm (went to bed unseen: the bedroom PIR's one trigger is the night's moment).
        alt = st.stray.moments[-1]
        alt_limit, alt_why, _ = _limit(m, now, alt.ctx, alt.start, floor, peek)
        if alt.start + alt_limit > due:
            due, why = alt.start + alt_limit, alt_why
    return due, why, room


def _limit(
    m: HomeMonitor, now: float, ctx: Context, last: float, floor: float, peek: bool = False
) -> tuple[float, str, str]:
    """The stillness limit after moment `ctx` begun at `last` (seconds), whose it is (WHY_*), and the room it began in.

    `peek`: work the model's limit out without keeping it (the model keeps each until it learns more).
    """
    kit = m.kit
    top = _top(m, ctx, last)
    room = kit.sensor_room(ctx.sensor)
    model = m.idle.model
    if m.sleep.asleep and model.days < model.warmup_days and ctx.slot in NIGHT_SLOTS and _may_sleep_in(kit, room):
        # Asleep in the bedroom at night before a night of theirs is known: however long, as someone on a mat at night
        # then is (`StillnessModel._prior_limit`). Without a bed mat the model's prior read a real home's first night
        # (door switches only: the bedroom door closed at 00:20, nothing till 08:20) as a fall after 8 h. Only there:
        # `asleep` holds through a trip to the toilet and after getting up, until the resident is seen about.
        return top, WHY_ASLEEP, room
    scale = m.scale.get(FindingKind.LONG_INACTIVITY, 1.0) * m.scale.get(f"ctx:{ctx.describe()}", 1.0)
    limit = min(max(model.limit(ctx, keep=not peek) * scale, floor), top)
    if limit < top and now >= last + limit and _blind(kit, room):
        return top, WHY_BLIND, room
    return limit, (WHY_LIMIT if limit < top else WHY_CEILING), room


def _top(m: HomeMonitor, ctx: Context, last: float) -> float:
    """The ceiling for stillness after moment `ctx` begun at `last`, in seconds."""
    top = ceiling(m, last)
    held = m.kit.sensors.get(ctx.held) if ctx.held else None
    if held is not None and held.kind == "pressure" and m.idle.model.resting(ctx):
        # Someone is sitting or lying on a mat: a whole afternoon of television is not a day-time stillness, and
        # only the night's ceiling bounds how long a held mat can go unremarked.
        top = max(top, m.limits.inactivity_ceiling_night_min * MIN)
    return top


def _blind(kit: Kit, room: str) -> bool:
    """Whether the resident may be in `room` unseen: a mat there is silent, or a PIR there is and no other PIR works.

    A quiet sensor says something about its own room only, so other rooms keep their limits. A silent PIR blinds its
    room only when no other PIR watches it: a real recording's shower PIR, unused for two days, was reported silent,
    and a fall by the basin, whose PIR had just seen the resident, waited for the 5-h ceiling. A silent mat always
    does: no PIR sees someone lying still on a bed (a dead bed mat read every night as an empty bed, and alarmed).
    """
    here = [s for s in kit.sensors.values() if s.room == room and s.kind in ("motion", "pressure")]
    if any(s.silent and s.kind == "pressure" for s in here):
        return True
    return any(s.silent for s in here) and not any(s.kind == "motion" and not s.silent for s in here)


def _lay_on(st: Inactivity, mat: str, since: float) -> bool:
    """Whether a long_inactivity alarm was raised on a silence begun on `mat` since it was pressed, and no verdict
    said it was ordinary: a body lay on it, and that hold teaches the mat no role. Learned as a seat, a floor mat a
    fallen resident lay on would have every later fall onto it judged as sitting. (From the alarms themselves, not
    the quiet episode: a helper walking in re-arms that before the resident is lifted off the mat.)"""
    return any(a.ctx.held == mat and a.start >= since and a.weight < 1.0 for a in st.alarmed.values())


def _raise(m: HomeMonitor, now: float, last: float, ctx: Context, limit: float, room: str, out: list[Finding]) -> None:
    st, d = m.idle, m.devices
    st.reported = last
    st.quiet_since, st.quiet_events, st.quiet_sensors = last, 0, []
    still = now - last
    key = ctx.describe()
    ev: dict[str, Any] = {
        "last_motion": m.dt(last).isoformat(),
        "room": room,
        "sensor": ctx.sensor,
        "moment": key,
        "still_min": round(still / MIN),
        "limit_min": round(limit / MIN),
        # What a responder weighs: the longest ordinary stillness after such a moment, and how often one as long
        # as this happens in 60 normal days here (the model's calibrated rate; the budget is 1).
        "longest_ordinary_min": round(st.model.longest(ctx) / MIN),
        "normal_per_60d": round(60.0 * st.model.score_one(ctx, still), 4),
        "asleep": m.sleep.asleep,
    }
    if ctx.held:
        ev["held"] = ctx.held
    if st.stray is not None:  # a lone trigger since, elsewhere: the silence was judged there too (`check`)
        ev["stray_sensor"] = st.stray.sensor
        ev["stray_at"] = m.dt(st.stray.moments[0].start).isoformat()
    silent = [k for k, s in m.kit.sensors.items() if s.silent]
    if silent:
        ev["silent_sensors"] = ",".join(silent)[:120]
    if d.agent_offline_since is not None:
        # Not a still person but a silent home: say so rather than raise a fall.
        ev.update(offline_min=round((now - d.agent_offline_since) / MIN), possible_inactivity=True)
        out.append(m.finding(FindingKind.AGENT_OFFLINE, Severity.WARNING, now, d.agent_offline_since, ev))
        d.agent_reported = True
        return
    f = m.finding(FindingKind.LONG_INACTIVITY, Severity.CRITICAL, now, last, ev)
    st.alarmed[f.id] = Alarmed(ctx, last, m.tuning.reported_weight)
    while len(st.alarmed) > 4:
        del st.alarmed[next(iter(st.alarmed))]
    out.append(f)


def episode_alarmed(m: HomeMonitor) -> bool:
    """Whether the quiet episode still open raised long_inactivity (agent_offline opens one too, and does not)."""
    return _episode_alarm(m.idle) is not None


def _found_fine(st: Inactivity) -> bool:
    """Whether a responder found the open episode's long_inactivity alarm false (not pending, not a fall)."""
    a = _episode_alarm(st)
    return a is not None and a.weight >= 1.0


def _episode_alarm(st: Inactivity) -> Alarmed | None:
    if st.quiet_since is None:
        return None
    return next((a for a in st.alarmed.values() if a.start == st.quiet_since), None)


def verdict(m: HomeMonitor, finding_ids: Iterable[str], fine: bool) -> None:
    """A responder's verdict on long_inactivity alarms: a false alarm's silence is ordinary here, a fall's is not.

    The silence an alarm was raised on is learned at `reported_weight` when it ends, for want of knowing which it was.
    A false alarm (`fine`) weighs it in full, so the same stillness after that moment is not raised again; a fall
    weighs it nothing, so it does not teach the model that lying still that long there is normal (a second fall in
    the same place would be found later, or not at all). Verdicts given while the silence lasts set the weight it
    will be learned at. (Counts decay a little by the day: a verdict days late takes back slightly more than is left,
    never below none.)
    """
    st = m.idle
    target = 1.0 if fine else 0.0
    for fid in finding_ids:
        a = st.alarmed.get(fid)
        if a is None or a.weight == target:
            continue
        if a.gap is not None:
            st.model.relearn(a.ctx, a.gap, target - a.weight)
        a.weight = target  # (a fine one ends its quiet episode at the resident's next walk: `event`)


def summary(m: HomeMonitor, top: int = 12) -> list[dict[str, Any]]:
    """The most frequent moments that start a silence of a minute or more, with what is usual after each."""
    model = m.idle.model
    rows = []
    for c in model.contexts():
        node = model.nodes.get((c.sensor, c.value, c.held, c.slot))
        if node is None or node.hist is None:
            continue
        rows.append((float(sum(node.hist)), c))
    rows.sort(key=lambda r: -r[0])
    return [
        {
            "sensor": c.sensor,
            "value": c.value,
            "held": c.held,
            "room": m.kit.sensor_room(c.sensor),
            "hours": f"{c.slot * 6:02d}-{c.slot * 6 + 6:02d}",
            "per_day": round(n / max(model.days, 1.0), 2),
            "longest_min": round(model.longest(c) / MIN),
            "limit_min": round(min(model.limit(c), model.ceiling_s) / MIN),
        }
        for n, c in rows[:top]
    ]
