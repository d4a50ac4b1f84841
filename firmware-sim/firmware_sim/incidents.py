"""Incidents played into a home's plan, with their ground truth: falls and long lies, night exits, wandering,
a door left open, a late morning, illness, restless nights, dead sensors, agent outages and panic presses."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from firmware_sim.days import outing
from firmware_sim.world import (
    DAY,
    HEALTH_INCIDENTS,
    HOUR,
    INCIDENT_TYPES,
    MIN,
    OUT,
    IncidentPlan,
    Seg,
    at,
    clock,
    overwrite,
)

if TYPE_CHECKING:
    from firmware_sim.model import HomeSim


def schedule(sim: HomeSim, inc: IncidentPlan) -> None:
    if inc.type not in INCIDENT_TYPES:
        raise ValueError(f"unknown incident type {inc.type!r}; known: {', '.join(INCIDENT_TYPES)}")
    r = sim.rng("incident", inc.type, inc.day, inc.at)
    if inc.at is not None:
        inc.day = int(inc.at // DAY)
        if inc.type not in HEALTH_INCIDENTS and inc.at < sim.wake(inc.day):
            inc.day -= 1  # before getting up: the previous day's plan (its night) holds that time
    d = inc.day
    if inc.type == "late_wakeup":
        if inc.at is not None and inc.at > sim.usual_wake(d):
            d = inc.day = d + 1
        sim.late[d] = inc.dur if inc.dur is not None else r.uniform(max(2 * HOUR, 3 * sim.p.wake_sd * MIN),
                                                                    5 * HOUR)  # fmt: skip
        start = sim.usual_wake(d)
        sim.label("late_wakeup", start, sim.wake(d), f"usual={clock(start)}")
        sim.busy.append((start - HOUR, sim.wake(d) + HOUR))
    elif inc.type == "illness":
        sim.ill.update(range(d, d + inc.days))
        sim.label("illness", d * DAY, (d + inc.days) * DAY, f"days={inc.days}")
    elif inc.type == "night_restlessness":
        sim.restless.update(range(d, d + inc.days))
        sim.by_day.setdefault(d, []).append(inc)  # labelled once the bedtimes are known
    elif inc.type == "sensor_dead":
        candidates = [s for s in sim.spec.sensors if s.kind in ("motion", "door", "pressure")]
        s = max(candidates, key=lambda s: (s.kind == "motion", s.room == sim.layout.main, s.id))
        if inc.at is None:
            s = r.choice(candidates)
        t0 = inc.at if inc.at is not None else d * DAY + r.uniform(0, DAY)
        t1 = t0 + (inc.dur if inc.dur is not None else r.uniform(1, 10) * DAY)
        sim.dead[s.id].append((t0, t1))
        sim.replaced[s.id] = t1
        sim.label("sensor_dead", t0, t1, f"sensor={s.id} cause=failure")
    elif inc.type == "agent_offline":
        t0 = inc.at if inc.at is not None else d * DAY + r.uniform(0, DAY)
        dur = inc.dur if inc.dur is not None else min(2 * DAY, math.exp(r.uniform(math.log(600), math.log(DAY))))
        cause = r.choice(("power", "network"))
        sim.offline.append((t0, t0 + dur, cause))
        sim.label("agent_offline", t0, t0 + dur, f"cause={cause}")
    else:
        sim.by_day.setdefault(d, []).append(inc)


def place(sim: HomeSim, inc: IncidentPlan, segs: list[Seg], d: int) -> list[Seg]:
    """Play an incident into day `d`'s plan; returns the new plan and records its label."""
    r = sim.rng("place", inc.type, d, inc.at)
    w, b, w2 = sim.wake(d), sim.bedtime(d), sim.wake(d + 1)
    main = sim.layout.main

    def home_time(lo: float, hi: float, tries: int = 50) -> float | None:
        for _ in range(tries):
            t = r.uniform(lo, hi)
            s = at(segs, t)
            if s is not None and s.place != OUT and s.act not in ("shoes",) and not sim.is_busy(t - HOUR, t + HOUR):
                return t
        return None

    if inc.type == "night_restlessness":
        last = min(d + inc.days - 1, int(sim.end // DAY) + 1)
        sim.label("night_restlessness", b, sim.wake(last + 1), f"nights={inc.days}")
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
        new.append(Seg(end, end + r.uniform(20, 45) * MIN, room, "recover", sim.rates["recover"]))
        sim.force(new, segs)
        sim.quiet.append((t, end))
        sim.busy.append((t - HOUR, end + 2 * HOUR))
        if helper:
            sim.visitor(end, end + r.uniform(30, 90) * MIN, room, r)
        note = f"room={room} when={where}" + (" found_by=visitor" if helper else " found_by=self")
        note += _floor_mat_under(sim, room, where, t, end)
        sim.label(inc.type, t, end, note)
        return overwrite(segs, [s for s in new if s.t0 < w2])
    if inc.type == "night_exit":
        t = inc.at if inc.at is not None else r.uniform(b + HOUR, max(b + HOUR + 1, w2 - 2.5 * HOUR))
        dur = inc.dur if inc.dur is not None else r.uniform(30, 180) * MIN
        new = [Seg(t - 80, t - 40, "bedroom", "dress", sim.rates["dress"]),
               *outing(t, dur, "night_exit", r)]  # fmt: skip
        new[1].t0 = t - 40
        back = t + dur
        new.append(Seg(new[-1].t1, new[-1].t1 + 20 * MIN, "bedroom", "sleep" if back < w2 else "dress",
                       sim.rates["sleep"], bed=back < w2))  # fmt: skip
        sim.busy.append((t - HOUR, back + HOUR))
        sim.label("night_exit", t, back, f"out_min={dur / MIN:.0f}")
        sim.force(new, segs)
        return overwrite(segs, [s for s in new if s.t0 < w2])
    if inc.type == "night_wandering":
        t = inc.at if inc.at is not None else r.uniform(b + HOUR, max(b + HOUR + 1, w2 - 2.5 * HOUR))
        dur = inc.dur if inc.dur is not None else r.uniform(30, 120) * MIN
        new, u = [], t
        rooms = [x for x in sim.layout.rooms if x != "bathroom"] + ["bathroom"]
        while u < t + dur:
            step = min(r.uniform(1, 8) * MIN, t + dur - u)
            new.append(Seg(u, u + step, r.choice(rooms), "wander", sim.rates["wander"]))
            u += step
        new.append(Seg(u, u + 5 * MIN, "bedroom", "sleep" if u < w2 else "dress", sim.rates["sleep"], bed=u < w2))
        sim.busy.append((t - HOUR, t + dur + HOUR))
        sim.label("night_wandering", t, t + dur, f"rooms={len(new) - 1}")
        sim.force(new, segs)
        return overwrite(segs, [s for s in new if s.t0 < w2])
    if inc.type == "door_left_open":
        when = inc.at if inc.at is not None else home_time(w + 2 * HOUR, b - 3 * HOUR)
        if when is None or sim.door is None:
            return segs
        t = when
        dur = inc.dur if inc.dur is not None else math.exp(r.uniform(math.log(15 * MIN), math.log(4 * HOUR)))
        new = [Seg(t - 30, t + 30, "entrance", "potter", sim.rates["potter"])]
        after = [s for s in segs if s.t0 >= t and s.place == OUT]
        if after and after[0].t0 - 60 < t + dur:  # leaving closes the door: keep it open until then
            dur = max(5 * MIN, after[0].t0 - 60 - t)
        sim.raw[sim.door.id] += [(t, "open"), (t + dur, "closed")]
        sim.busy.append((t - HOUR, t + dur + HOUR))
        sim.label("door_left_open", t, t + dur, f"open_min={dur / MIN:.0f}")
        return overwrite(segs, new)
    if inc.type == "panic":
        if sim.button is None:
            return segs
        when = inc.at if inc.at is not None else home_time(w + HOUR, b - HOUR)
        if when is None:
            return segs
        t = when
        sim.raw[sim.button.id].append((t, "press"))
        sim.busy.append((t - HOUR, t + HOUR))
        sim.label("panic", t, t, "")
        return segs
    return segs


# Chance that a fallen body lies on the floor mat beside the bed, by when the fall happened.
MAT_FALL_P = {"getting_up": 0.8, "night": 0.7}


def _floor_mat_under(sim: HomeSim, room: str, where: str, t: float, end: float) -> str:
    """Press a floor mat under the fallen body for the whole lie (maybe); the note's ` under=<mat>` or nothing.

    The mat is pressed as the body lands (just before the labelled start, the last movement) and released as the
    resident gets up (just after the end), so no report falls inside the lie."""
    mat = next((m for m in sim.mats["floor"] if m.room == room), None)
    if mat is None:
        return ""
    r = sim.rng("fall_mat", t)
    if r.random() >= MAT_FALL_P.get(where, 0.2):
        return ""
    sim.raw[mat.id] += [(t - r.uniform(0.1, 0.5), "1"), (end + r.uniform(0.5, 2), "0")]
    sim.mat_falls.add(t)
    return f" under={mat.id}"
