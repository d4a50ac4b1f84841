"""Homes of a generated set drawn from a seed: profile, layout, kit, habits, trips away and incidents."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from firmware_sim.model import HomeSpec
from firmware_sim.sensors import CLASSIC_HOLDS, CLASSIC_KITS, KITS, RICH_HOLDS, kit_sensors
from firmware_sim.world import CLASSIC_PROFILES, HEALTH_INCIDENTS, LAYOUTS, PROFILES, IncidentPlan, poisson

# `rich` (default): every profile and kit, micro-activity at rest, long sittings, trips away, PIR holds up to 4 min.
# `classic`: the first simulator's homes, byte for byte (to compare detection over time on the same data).
VARIETIES = ("rich", "classic")


@dataclass
class HomePlan:
    """A generated home: its spec and its incidents."""

    spec: HomeSpec
    kit: str
    incidents: list[IncidentPlan] = field(default_factory=list)


def plan_home(seed: int, index: int, days: int, start: date, incident_rate: float, types: tuple[str, ...],
              guarantee: bool = True, variety: str = "rich") -> HomePlan:  # fmt: skip
    """Home number `index` of a generated set: profile, layout, kit and incident schedule, all from the seed."""
    if variety not in VARIETIES:
        raise ValueError(f"unknown variety {variety!r}; known: {', '.join(VARIETIES)}")
    rich = variety == "rich"
    names = list(PROFILES) if rich else list(CLASSIC_PROFILES)
    kits = KITS if rich else CLASSIC_KITS
    r = random.Random(f"{seed}:home:{index}")
    home = f"h-{r.getrandbits(48):012x}"
    profile = names[index % len(names)] if index < len(names) else r.choice(names)
    layout = r.choice(list(LAYOUTS))
    kit = r.choice(kits)
    wanted: list[str] = []
    if guarantee and types:
        wanted.append(types[index % len(types)])
    n = poisson(r, incident_rate * days / 30)
    wanted += [r.choice(types) for _ in range(n)] if types else []
    if "panic" in wanted and kit == "sparse":
        kit = "basic"
    holds = RICH_HOLDS if rich else CLASSIC_HOLDS
    sensors = tuple(kit_sensors(kit, LAYOUTS[layout], r, panic="panic" in wanted, holds=holds))
    spec = HomeSpec(home, profile, layout, sensors, f"{seed}:{index}", start)
    plan = HomePlan(spec, kit)
    taken: set[int] = set()
    for kind in wanted:
        span = 1
        if kind == "illness":
            span = r.randint(3, 7)
        elif kind == "night_restlessness":
            span = 7
        elif kind in HEALTH_INCIDENTS:
            span = 3 if kind == "agent_offline" else 11
        free = [d for d in range(1, days - span - 1) if not any(x in taken for x in range(d - 1, d + span + 1))]
        if not free:
            continue
        d = r.choice(free)
        taken.update(range(d, d + span))
        plan.incidents.append(IncidentPlan(kind, day=d, days=span))
    if rich:
        plan.spec = _habits(spec, plan.incidents, taken, random.Random(f"{seed}:habits:{index}"), days)
    return plan


def micro_rates(r: random.Random) -> tuple[tuple[str, float], ...]:
    """How much this resident stirs (movements a PIR sees per minute): about once a minute resting, napping or
    watching television, far less asleep, and far less resting in bed while ill."""
    rest = round(r.uniform(0.6, 1.5), 3)
    return (
        ("sleep", round(r.uniform(0.01, 0.08), 3)),
        ("nap", round(r.uniform(0.3, 1.0), 3)),
        ("rest", rest),
        ("tv", round(r.uniform(0.5, 1.3), 3)),
        ("ill_rest", round(rest / 10, 3)),
    )


def _habits(spec: HomeSpec, incidents: list[IncidentPlan], taken: set[int], r: random.Random, days: int) -> HomeSpec:
    """The rich world's per-home habits: how much a resting, napping or sleeping resident stirs, how often they sit
    for hours, and trips away (2-5 days) on days clear of the incidents (health incidents may overlap)."""
    rates = micro_rates(r)
    long_sit = r.choice((0.0, 0.0, 0.2, 0.5, 0.8))
    if spec.profile in ("late_riser", "night_owl_extreme"):
        long_sit = max(long_sit, 0.5)
    busy = taken | {
        d for inc in incidents if inc.type not in HEALTH_INCIDENTS for d in range(inc.day, inc.day + inc.days)
    }
    trips: list[tuple[int, int]] = []
    away = 0.0 if PROFILES[spec.profile].visit_out_p == 0 else r.choice((0.0, 0.5, 1.0, 1.5))  # housebound: never
    for _ in range(min(3, poisson(r, days / 60 * away))):
        n = r.randint(2, 5)
        free = [d for d in range(1, days - n - 1) if not any(x in busy for x in range(d - 2, d + n + 2))]
        if not free:
            break
        d = r.choice(free)
        busy.update(range(d, d + n + 1))
        trips.append((d, n))
    return HomeSpec(spec.home, spec.profile, spec.layout, spec.sensors, spec.seed, spec.start, rates, long_sit,
                    tuple(sorted(trips)))  # fmt: skip
