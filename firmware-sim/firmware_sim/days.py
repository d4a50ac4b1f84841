"""A resident's days as plans: getting up, meals, naps, outings, television, pottering, toilet visits, nights
(with toilet visits), long sittings and trips away."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from firmware_sim.world import DAY, HOUR, MIN, OUT, RATES, Seg, clip, overwrite, poisson

if TYPE_CHECKING:
    from firmware_sim.model import HomeSim


def night(sim: HomeSim, d: int, t0: float, t1: float, r: random.Random) -> list[Seg]:
    """From lying down to getting up, with toilet visits (and pottering, for restless sleepers)."""
    p = sim.p
    mean = p.night_toilet * (1.2 if (d in sim.ill) else 1.0)
    if d in sim.restless:
        mean = mean * 2 + 1
    n = poisson(r, mean * max(0.2, (t1 - t0) / (8 * HOUR)))
    sim.nights[d] = n
    lo, hi = t0 + 40 * MIN, t1 - 25 * MIN
    times = sorted(r.uniform(lo, hi) for _ in range(n)) if hi > lo else []
    ups: list[list[Seg]] = []
    for t in times:
        dur = r.uniform(2, 7) * MIN
        ups.append([Seg(t, t + 40, "bedroom", "dress", sim.rates["dress"]),
                    Seg(t + 40, t + 40 + dur, "bathroom", "bathroom", sim.rates["bathroom"]),
                    Seg(t + 40 + dur, t + 80 + dur, "bedroom", "dress", sim.rates["dress"])])  # fmt: skip
    if r.random() < p.restless and hi > lo + HOUR:
        t = r.uniform(lo, hi - HOUR)
        dur = r.uniform(10, 30) * MIN
        ups.append([Seg(t, t + 60, "bedroom", "dress", sim.rates["dress"]),
                    Seg(t + 60, t + 60 + dur, "kitchen" if r.random() < 0.5 else sim.layout.main, "potter",
                        sim.rates["potter"] * 0.7),
                    Seg(t + 60 + dur, t + 120 + dur, "bedroom", "dress", sim.rates["dress"])])  # fmt: skip
    segs = [Seg(t0, t1, "bedroom", "sleep", sim.rates["sleep"], bed=True)]
    last = t0
    for up in sorted(ups, key=lambda u: u[0].t0):
        if up[0].t0 > last:
            segs = overwrite(segs, up)
            last = up[-1].t1 + 60
    for s in segs:
        if s.act == "sleep":
            s.entry = s.t0 == t0
    return segs


def outing(t: float, dur: float, act: str, r: random.Random) -> list[Seg]:
    """Shoes on in the entrance, out (the door opens and closes), back in the entrance."""
    shoes = r.uniform(1, 3) * MIN
    back = r.uniform(0.5, 1.5) * MIN
    return [
        Seg(t - shoes, t, "entrance", "shoes", RATES["shoes"]),
        Seg(t, t + dur, OUT, act, 0.0),
        Seg(t + dur, t + dur + back, "entrance", "shoes", RATES["shoes"]),
    ]


def day_plan(sim: HomeSim, d: int) -> list[Seg]:
    """The resident's plan from getting up on day `d` to getting up on day `d + 1`."""
    p, lay, r = sim.p, sim.layout, sim.rng("day", d)
    w, b, w2 = sim.wake(d), sim.bedtime(d), sim.wake(d + 1)
    ill = d in sim.ill
    act = p.activity * (0.3 if ill else 1.0)
    anchors: list[list[Seg]] = []

    def block(t: float, *parts: tuple[float, str, str]) -> list[Seg]:
        segs = []
        for dur, room, what in parts:
            quiet = what in ("sit", "tv", "potter", "eat")  # illness slows these; cooking is cooking
            segs.append(Seg(t, t + dur, room, what, sim.rates[what] * (act if quiet else p.activity)))
            t += dur
        return segs

    def meal(hour: float, cook: float, eat: float) -> None:
        cook = cook / 3 if ill else cook
        t = d * DAY + hour * HOUR + r.gauss(0, p.meal_sd) * MIN
        anchors.append(block(t, (cook * MIN, "kitchen", "cook"), (eat * MIN, r.choice(["kitchen", lay.main]), "eat")))

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
    evening.append(Seg(evening[-1].t1, b, "bedroom", "dress", sim.rates["dress"] * act))
    meal(12.0 + (p.wake_h - 6.5) / 3, r.uniform(15, 35), r.uniform(15, 25))
    meal(18.0 + (p.bed_h - 22.25) / 2, r.uniform(25, 45), r.uniform(15, 30))
    if r.random() < (0.95 if ill else p.nap_p):
        t = d * DAY + (13.5 + (p.wake_h - 6.5) / 2) * HOUR + r.gauss(0, 20) * MIN
        dur = r.uniform(0.5, 1.5) * p.nap_min * (2 if ill else 1) * MIN
        in_bed = ill or r.random() < 0.5
        anchors.append(
            [
                Seg(
                    t,
                    t + dur,
                    "bedroom" if in_bed else lay.main,
                    "nap",
                    min(sim.rates["nap"], sim.rates["ill_rest"]) if ill else sim.rates["nap"],
                    bed=in_bed,
                )
            ]
        )
    if ill:
        t = d * DAY + r.uniform(9.5, 11) * HOUR
        anchors.append([Seg(t, t + r.uniform(60, 120) * MIN, "bedroom", "rest", sim.rates["ill_rest"], bed=True)])
        t = d * DAY + r.uniform(15.5, 17) * HOUR
        anchors.append([Seg(t, t + r.uniform(45, 90) * MIN, "bedroom", "rest", sim.rates["ill_rest"], bed=True)])
    # Television in the evening, the longer the later the resident goes to bed.
    tv0 = max(d * DAY + 19.5 * HOUR, b - 4 * HOUR) + r.uniform(0, 30) * MIN
    anchors.append(block(tv0, (max(10 * MIN, b - 40 * MIN - tv0), lay.main, "tv")))
    if not ill:
        wd = sim.weekday(d)
        if wd in p.market_days and r.random() < 0.8:
            t = max(w + 60 * MIN, d * DAY + r.uniform(7.5, 9) * HOUR)
            anchors.append(outing(t, r.uniform(50, 120) * MIN, "market", r))
        if r.random() < p.walk_p:
            t = max(w + 45 * MIN, d * DAY + (p.walk_h + r.gauss(0, 0.5)) * HOUR)
            anchors.append(outing(t, r.uniform(25, 70) * MIN, "walk", r))
        if r.random() < p.shop_p:
            t = d * DAY + r.choice((10.0, 15.5)) * HOUR + r.gauss(0, 30) * MIN
            anchors.append(outing(t, r.uniform(35, 90) * MIN, "shopping", r))
        if r.random() < p.visit_out_p * (1.5 if wd >= 5 else 1.0):
            t = d * DAY + r.uniform(9.5, 14.5) * HOUR
            anchors.append(outing(t, r.uniform(2, 5) * HOUR, "visiting", r))
    segs = fill(morning, anchors, evening, d, r, sim, act)
    if sim.spec.long_sit_p and not ill:
        segs = long_sitting(sim, d, segs)
    sleep = night(sim, d, b, w2, r)
    if d in sim.trips:
        return trip(sim, d, segs + sleep)
    if not ill and sim.p.night_away_p and r.random() < sim.p.night_away_p:
        t = d * DAY + r.uniform(14, 17) * HOUR
        ret = w2 + r.uniform(2, 4) * HOUR
        segs = overwrite(segs + sleep, outing(t, ret - t, "night_away", r))
        sim.forced.extend(s for s in segs if s.t1 > w2)
        return clip(segs, w, w2)
    return segs + sleep


def long_sitting(sim: HomeSim, d: int, segs: list[Seg]) -> list[Seg]:
    """Some days an afternoon and evening of 4-8 h in the armchair (television, a TV dinner), with at most a couple
    of toilet breaks: the long seat-mat presses of real recordings."""
    r = sim.rng("long_sit", d)
    if r.random() >= sim.spec.long_sit_p:
        return segs
    p, main = sim.p, sim.layout.main
    t = d * DAY + (13.0 + (p.wake_h - 6.5) / 3 + r.uniform(0, 1.5)) * HOUR
    end = min(t + r.uniform(4, 8) * HOUR, sim.bedtime(d) - 45 * MIN)
    if end - t < 3 * HOUR or t < sim.wake(d) + 30 * MIN:
        return segs
    if any(s.place == OUT and s.t0 < end + 10 * MIN and t - 10 * MIN < s.t1 for s in segs):
        return segs
    breaks = sorted(r.uniform(t + 30 * MIN, end - 30 * MIN) for _ in range(r.choice((0, 0, 1, 2))))
    new: list[Seg] = []
    u = t
    for x in breaks:
        if x < u + 20 * MIN:
            continue
        dur = r.uniform(3, 8) * MIN
        new += [Seg(u, x, main, "tv", sim.rates["tv"]), Seg(x, x + dur, "bathroom", "bathroom", sim.rates["bathroom"])]
        u = x + dur
    new.append(Seg(u, end, main, "tv", sim.rates["tv"]))
    return overwrite(segs, new)


def trip(sim: HomeSim, d: int, segs: list[Seg]) -> list[Seg]:
    """Leaves on day `d` in the morning to visit family and comes back `sim.trips[d]` days later in the day."""
    r = sim.rng("trip", d)
    w, w2, days = sim.wake(d), sim.wake(d + 1), sim.trips[d]
    t = w + r.uniform(1.5, 4) * HOUR
    ret = max((d + days) * DAY + r.uniform(11, 19) * HOUR, sim.wake(d + days) + HOUR)
    segs = overwrite(segs, outing(t, ret - t, "trip", r))
    sim.forced.extend(s for s in segs if s.t1 > w2)
    sim.absences.append((t, ret))
    return clip(segs, w, w2)


def fill(morning: list[Seg], anchors: list[list[Seg]], evening: list[Seg], d: int, r: random.Random, sim: HomeSim,
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
                out.append(Seg(t, t + dur, "bathroom", "bathroom", sim.rates["bathroom"] * sim.p.activity))
                last_toilet = t
            elif act < 0.5 * sim.p.activity and r.random() < 0.5:  # ill: back to bed for a while
                dur = min(r.uniform(30, 90) * MIN, end - t)
                out.append(Seg(t, t + dur, "bedroom", "rest", sim.rates["ill_rest"], bed=True))
            else:
                room = r.choices(rooms, weights)[0]
                what = r.choice(("sit", "sit", "potter", "tv")) if room == lay.main else "potter"
                dur = min(max(2 * MIN, r.expovariate(1 / (25 * MIN))), 100 * MIN, end - t)
                out.append(Seg(t, t + dur, room, what, sim.rates[what] * act))
            t += dur
        if t < end:
            out.append(Seg(t, end, out[-1].place if out[-1].place != OUT else lay.main, "sit", sim.rates["sit"] * act))
    return out
