"""`anxin sim generate`: simulated homes to files (events.csv, labels.csv, home.json per home)."""

from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from firmware_sim.model import DAY, INCIDENT_TYPES, LAYOUTS, PROFILES, HomeSim
from firmware_sim.plan import HomePlan, plan_home

EVENT_COLUMNS = ("ts", "sensor", "kind", "value", "room")
LABEL_COLUMNS = ("type", "start", "end", "note")
FORMAT_VERSION = 1


class Clock:
    """Turns model seconds into ISO 8601 naive local time with milliseconds, fast."""

    def __init__(self, start: date) -> None:
        self.start = start
        self._days: dict[int, str] = {}

    def iso(self, t: float) -> str:
        """`YYYY-MM-DDTHH:MM:SS.mmm` for model time `t`."""
        ms = round(t * 1000)
        day, ms = divmod(ms, 86_400_000)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = (self.start + timedelta(days=day)).isoformat()
        s, ms = divmod(ms, 1000)
        return f"{prefix}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms:03d}"

    def datetime(self, t: float) -> datetime:
        """Naive local datetime of model time `t`."""
        return datetime.combine(self.start, datetime.min.time()) + timedelta(seconds=t)


@dataclass(frozen=True)
class HomeResult:
    """What writing one home produced."""

    home: str
    profile: str
    events: int
    labels: int


def home_json(plan: HomePlan, sim: HomeSim, days: int, clock: Clock) -> dict[str, object]:
    """The home.json document: profile, layout, sensors and their hardware models, and the quirks that happened."""
    spec = sim.spec
    layout = LAYOUTS[spec.layout]
    doc: dict[str, object] = {
        "format": FORMAT_VERSION,
        "home": spec.home,
        "profile": spec.profile,
        "profile_params": asdict(PROFILES[spec.profile]),
        "layout": {"name": layout.name, "rooms": list(layout.rooms), "doors": [list(d) for d in layout.doors]},
        "kit": plan.kit,
        "sensors": [{k: v for k, v in asdict(s).items() if v not in (0, 0.0, "")} for s in spec.sensors],
        "start": spec.start.isoformat(),
        "days": days,
        "seed": spec.seed,
        "quirks": dict(sorted(sim.quirks.items())),
    }
    if spec.rates or spec.long_sit_p or spec.trips:
        doc["habits"] = {"rates": dict(spec.rates), "long_sit_p": spec.long_sit_p}
        doc["absences"] = [{"start": clock.iso(a), "end": clock.iso(b)} for a, b in sim.absences if a < days * DAY]
    return doc


def write_home(plan: HomePlan, days: int, out: Path) -> HomeResult:
    """Simulate one home for `days` days and write its three files under `out/<home>/`."""
    sim = HomeSim(plan.spec, plan.incidents, end=days * DAY)
    clock = Clock(plan.spec.start)
    folder = out / plan.spec.home
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    buf.write(",".join(EVENT_COLUMNS) + "\n")
    n = 0
    for k in range(days):
        for e in sim.day_events(k):
            buf.write(f"{clock.iso(e.t)},{e.sensor},{e.kind},{e.value},{e.room}\n")
            n += 1
    (folder / "events.csv").write_text(buf.getvalue(), newline="")
    labels = sorted(sim.labels, key=lambda lb: (lb.start, lb.type))
    lbuf = io.StringIO()
    w = csv.writer(lbuf, lineterminator="\n")
    w.writerow(LABEL_COLUMNS)
    for lb in labels:
        w.writerow([lb.type, clock.iso(lb.start), clock.iso(lb.end), lb.note])
    (folder / "labels.csv").write_text(lbuf.getvalue(), newline="")
    doc = home_json(plan, sim, days, clock)
    (folder / "home.json").write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return HomeResult(plan.spec.home, plan.spec.profile, n, len(labels))


def _write_one(args: tuple[HomePlan, int, Path]) -> HomeResult:
    return write_home(*args)


def generate(
    out: Path,
    homes: int,
    days: int,
    seed: int,
    start: date,
    incident_rate: float = 2.0,
    types: tuple[str, ...] = INCIDENT_TYPES,
    jobs: int | None = None,
    variety: str = "rich",
) -> list[HomeResult]:
    """Write `homes` simulated homes of `days` days each; the same arguments give the same bytes."""
    out.mkdir(parents=True, exist_ok=True)
    plans = [plan_home(seed, i, days, start, incident_rate, types, variety=variety) for i in range(homes)]
    jobs = jobs or os.cpu_count() or 1
    work = [(p, days, out) for p in plans]
    if jobs <= 1 or homes <= 1:
        results = [_write_one(w) for w in work]
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, homes)) as pool:
            results = list(pool.map(_write_one, work))
    index = {
        "format": FORMAT_VERSION,
        "seed": seed,
        "days": days,
        "start": start.isoformat(),
        "homes": [
            {"home": r.home, "profile": r.profile, "kit": p.kit, "events": r.events, "labels": r.labels}
            for r, p in zip(results, plans, strict=True)
        ],
    }
    (out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return results
