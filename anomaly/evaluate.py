"""`anxin eval`: replay simulated homes and score findings against their ground-truth labels (docs/anomaly.md)."""

from __future__ import annotations

import bisect
import csv
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from anomaly.engine import Tuning
from anomaly.replay import REPLAY_TZ, read_rows, replay_file

# Which finding kinds detect each labelled incident type, and how long after the label's end a finding still counts.
DETECTS: dict[str, tuple[frozenset[str], float]] = {
    "long_lie": (frozenset({"long_inactivity", "panic"}), 0.0),
    "fall_short": (frozenset({"long_inactivity", "panic"}), 0.0),
    "night_exit": (frozenset({"night_exit"}), 0.0),
    "night_wandering": (frozenset({"night_wandering"}), 600.0),
    "door_left_open": (frozenset({"door_left_open"}), 0.0),
    "late_wakeup": (frozenset({"missed_morning", "long_inactivity"}), 0.0),
    "illness": (frozenset({"activity_decline"}), 3 * 86400.0),
    "night_restlessness": (frozenset({"night_restlessness"}), 3 * 86400.0),
    "sensor_dead": (frozenset({"sensor_silent"}), 3600.0),
    "agent_offline": (frozenset({"agent_offline"}), 600.0),
    "panic": (frozenset({"panic"}), 60.0),
}
# Only critical long-lie findings count as finding a long lie (a warning does not send someone at once).
CRITICAL_ONLY = frozenset({"long_lie", "fall_short"})
# A critical or warning finding is a false alarm unless it falls in (or up to SLACK after) an incident of a type
# it is meant to detect, or of a type that explains it.
EXPLAINED_BY: dict[str, frozenset[str]] = {
    "long_inactivity": frozenset({"long_lie", "fall_short", "late_wakeup", "panic"}),
    "missed_morning": frozenset({"late_wakeup", "long_lie"}),
    "night_exit": frozenset({"night_exit"}),
    "door_left_open": frozenset({"door_left_open", "night_exit"}),
    "night_wandering": frozenset({"night_wandering", "night_exit"}),
    "agent_offline": frozenset({"agent_offline"}),
    "sensor_silent": frozenset({"sensor_dead"}),
    "panic": frozenset({"panic"}),
}
SLACK = 1800.0
DEVICE_ONLY = frozenset({"low_battery"})  # true by construction (the sensor reported the low level): not scored


@dataclass
class Label:
    """One ground-truth incident."""

    type: str
    start: float
    end: float
    note: str


@dataclass
class HomeScore:
    """What one home's replay found, matched against its labels."""

    home: str
    days: float
    events: int
    profile: str = ""
    kit: str = ""
    hits: list[tuple[str, str, float | None]] = field(default_factory=list)  # (type, when, delay_min or None)
    false_alarms: list[tuple[str, str]] = field(default_factory=list)  # (kind, ts)
    info: int = 0


def _t(s: str) -> float:
    ts = datetime.fromisoformat(s)
    return (ts if ts.tzinfo else ts.replace(tzinfo=REPLAY_TZ)).timestamp()


def read_labels(path: Path) -> list[Label]:
    """Labels of one home (`type,start,end,note`)."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [Label(r["type"], _t(r["start"]), _t(r["end"]), r.get("note") or "") for r in csv.DictReader(fh)]


def _when(label: Label) -> str:
    """`day` or `night` (from `when=`), and `/visitor` or `/self` (from `found_by=`) when the note says."""
    when = found = ""
    for part in label.note.split():
        if part.startswith("when="):
            when = "night" if part[5:] == "night" else "day"
        elif part.startswith("found_by="):
            found = "/" + part[9:]
    return when + found if when else ""


def _home_meta(home_dir: Path) -> dict[str, Any]:
    """The simulator's description of a home (`home.json`: profile, kit, ...), or nothing."""
    path = home_dir / "home.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def home_dirs(root: Path) -> list[Path]:
    """Every home folder under `root`: those holding an events.csv."""
    return sorted(p.parent for p in root.glob("*/events.csv"))


def score_home(home_dir: Path, tuning: Tuning | None = None) -> HomeScore:
    """Replay one home and score its findings."""
    labels = read_labels(home_dir / "labels.csv")
    with open(home_dir / "events.csv", newline="") as fh:
        last = max((row[0] for row in read_rows(fh)), default=0.0)
    until = max([(math.floor(last / 86400.0) + 1) * 86400.0] + [lab.end for lab in labels])
    res = replay_file(home_dir / "events.csv", home_dir.name, tuning, until)
    meta = _home_meta(home_dir)
    days = max((res.end - res.start) / 86400.0, 1 / 24)
    score = HomeScore(home_dir.name, days, res.events, str(meta.get("profile", "")), str(meta.get("kit", "")))
    found = [(f.ts.timestamp(), f.kind, f.severity.value) for f in res.findings]
    for lab in labels:
        kinds, after = DETECTS.get(lab.type, (frozenset(), 0.0))
        delays = [
            t - lab.start
            for t, kind, sev in found
            if kind in kinds
            and lab.start - 60 <= t <= lab.end + after
            and (lab.type not in CRITICAL_ONLY or sev == "critical")
        ]
        score.hits.append((lab.type, _when(lab), min(delays) / 60 if delays else None))
    for t, kind, sev in found:
        if sev == "info":
            score.info += 1
            continue
        if kind in DEVICE_ONLY:
            continue
        why = EXPLAINED_BY.get(kind, frozenset())
        if not any(lab.type in why and lab.start - 60 <= t <= lab.end + SLACK for lab in labels):
            score.false_alarms.append((kind, datetime.fromtimestamp(t, REPLAY_TZ).replace(tzinfo=None).isoformat()))
    return score


@dataclass
class LieBound:
    """How one long lie compares with the same resident's ordinary stillness (see `stillness_bound`)."""

    kit: str
    outlasted: int  # ordinary stillnesses in the same place and hour at least as long as the lie
    passed_30: bool  # an ordinary stillness there passed the limit a find within 30 min of the fall would need


BOUND_HOUR_S = 5400.0  # "about the same time of day": within 90 minutes


def stillness_bound(home_dir: Path) -> list[LieBound]:
    """Compare each labelled long lie with the ordinary stillness of the same home, in hindsight.

    The lie's stillness runs from the last trigger before the fall to the label's end, in the room of that trigger (a
    pressed bed mat makes it `in_bed`). Ordinary stillness is every gap of 5 min or more between triggers in the same
    room, starting within 90 min of the same time of day, over the whole file, away from every labelled incident but
    slow trends and dead sensors. A lie outlasted by two or more of them cannot be found by any stillness rule
    without two false alarms in that home, more than the target of one per 60 days allows.
    """
    meta = _home_meta(home_dir)
    trig: list[tuple[float, str]] = []
    in_bed = False
    with open(home_dir / "events.csv", newline="") as fh:
        for t, _sensor, kind, value, room in read_rows(fh):
            if kind == "pressure":
                in_bed = value in (1, 1.0, "1")
            if (kind == "motion" and value in (1, 1.0, "1")) or kind in ("door", "pressure", "button"):
                name = (room or "").lower()
                trig.append((t, "in_bed" if in_bed and "bed" in name else name))
    labels = read_labels(home_dir / "labels.csv")
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
        if lab.type != "long_lie":
            continue
        i = bisect.bisect_right(times, lab.start) - 1
        if i < 0:
            continue
        t0, room = trig[i]
        tod = t0 % 86400.0
        near = [g for x, g in ordinary[room] if min(abs(x - tod), 86400.0 - abs(x - tod)) <= BOUND_HOUR_S]
        lie = lab.end - t0
        need = lab.start - t0 + 30 * 60  # a limit that finds the fall 30 min after it happened
        out.append(LieBound(str(meta.get("kit", "")), sum(g >= lie for g in near), any(g > need for g in near)))
    return out


def bound_summary(bounds: Iterable[LieBound]) -> dict[str, dict[str, float]]:
    """Per kit and overall: lies, the share outlasted by 1+ and 2+ ordinary stillnesses, and the share a 30-min find
    would need a limit ordinary stillness passed."""
    by: dict[str, list[LieBound]] = defaultdict(list)
    for b in bounds:
        by[b.kit or "-"].append(b)
        by["all"].append(b)
    return {
        kit: {
            "lies": len(bs),
            "outlasted_1": round(sum(b.outlasted >= 1 for b in bs) / len(bs), 3),
            "outlasted_2": round(sum(b.outlasted >= 2 for b in bs) / len(bs), 3),
            "passed_30_min": round(sum(b.passed_30 for b in bs) / len(bs), 3),
        }
        for kit, bs in sorted(by.items())
    }


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 1)


def summarise(scores: list[HomeScore]) -> dict[str, Any]:
    """Recall and delays per incident type (and for long lies, by day and night), false alarms per home."""
    by: dict[str, list[float | None]] = defaultdict(list)
    for s in scores:
        for typ, when, delay in s.hits:
            by[typ].append(delay)
            if typ == "long_lie" and when:
                day_night, _, found_by = when.partition("/")
                by[f"long_lie ({day_night})"].append(delay)
                if found_by:
                    by[f"long_lie (found_by={found_by})"].append(delay)
    types: dict[str, Any] = {}
    for typ in sorted(by):
        ds = by[typ]
        hit = [d for d in ds if d is not None]
        types[typ] = {
            "n": len(ds),
            "found": len(hit),
            "recall": round(len(hit) / len(ds), 3) if ds else None,
            "median_delay_min": _pct(hit, 0.5),
            "p95_delay_min": _pct(hit, 0.95),
        }
    days = sum(s.days for s in scores)
    false = sum(len(s.false_alarms) for s in scores)
    by_kind: dict[str, int] = defaultdict(int)
    for s in scores:
        for kind, _ts in s.false_alarms:
            by_kind[kind] += 1
    return {
        "homes": len(scores),
        "home_days": round(days, 1),
        "events": sum(s.events for s in scores),
        "types": types,
        "false_alarms": false,
        "false_per_home_per_60_days": round(false / days * 60, 3) if days else None,
        "false_by_kind": dict(sorted(by_kind.items())),
        "per_home": [
            {
                "home": s.home,
                "profile": s.profile,
                "kit": s.kit,
                "days": round(s.days, 1),
                "false_alarms": len(s.false_alarms),
                "false_per_60_days": round(len(s.false_alarms) / s.days * 60, 2),
                "first_false": s.false_alarms[:5],
                "missed": [typ for typ, _w, d in s.hits if d is None],
            }
            for s in scores
        ],
    }


def _score_one(args: tuple[Path, Tuning | None]) -> HomeScore:
    return score_home(*args)


def evaluate(root: Path, tuning: Tuning | None = None, jobs: int = 0) -> list[HomeScore]:
    """Score every home folder under `root` (those holding an events.csv)."""
    dirs = home_dirs(root)
    if jobs == 1 or len(dirs) < 2:
        return [score_home(d, tuning) for d in dirs]
    with ProcessPoolExecutor(max_workers=jobs or None) as pool:
        return list(pool.map(_score_one, [(d, tuning) for d in dirs], chunksize=1))


def table(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    lines = ["| incident | n | recall | median delay (min) | p95 delay (min) |", "| --- | --- | --- | --- | --- |"]
    for typ, v in summary["types"].items():
        lines.append(f"| {typ} | {v['n']} | {v['recall']} | {v['median_delay_min']} | {v['p95_delay_min']} |")
    lines.append(
        f"\nfalse critical+warning findings: {summary['false_alarms']} over {summary['home_days']} home-days = "
        f"{summary['false_per_home_per_60_days']} per home per 60 days; by kind: {summary['false_by_kind']}"
    )
    return "\n".join(lines)


def plot(scores: Iterable[HomeScore], summary: dict[str, Any], path: Path) -> None:
    """A PNG: detection delays per incident type, and false alarms per home."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = list(scores)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    delays: dict[str, list[float]] = defaultdict(list)
    for s in scores:
        for typ, _w, d in s.hits:
            if d is not None:
                delays[typ].append(d)
    names = sorted(delays)
    if names:
        ax1.boxplot([delays[n] for n in names], vert=False)
        ax1.set_yticks(range(1, len(names) + 1), names)
    ax1.set_xscale("symlog")
    ax1.set_xlim(left=0)
    ax1.set_xlabel("detection delay (min)")
    ax1.set_title("Delay from incident start to the first matching finding")
    rates = [len(s.false_alarms) / s.days * 60 for s in scores]
    ax2.bar(range(len(scores)), rates)
    ax2.axhline(1.0, color="red", linestyle="--", label="target: 1 per 60 days")
    ax2.set_xlabel("home")
    ax2.set_ylabel("false critical+warning per 60 days")
    ax2.set_title(f"False alarms per home (mean {summary['false_per_home_per_60_days']})")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def median(xs: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(xs))
