"""Scoring rules: which findings find a labelled incident, and which are false alerts (docs/anomaly.md, "Scoring").

Pure functions over labels and findings as plain numbers, so the rules are tested without replaying anything.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from anomaly.replay import REPLAY_TZ, any_time

LEAD = 60.0  # a finding up to 1 min before a label's start still belongs to it (clocks and rounding)
SLACK = 1800.0  # a finding up to 30 min after a label's end is explained by it, not false
LONG_LIE_MIN = 1800.0  # long lies shorter than this are neither required nor false when found
SHORT_LIE = "long_lie < 30 min"
DEVICE_KINDS = frozenset({"sensor_silent", "low_battery", "agent_offline"})  # about the hardware, not the person
NOT_SCORED = frozenset({"low_battery"})  # true by construction (the sensor reported the low level)
ANY_FALL_FINDING = frozenset({"*"})  # stands for "any critical person finding but panic"

# Which finding kinds find each labelled incident type, and how long after the label's end a finding still counts.
DETECTS: dict[str, tuple[frozenset[str], float]] = {
    "long_lie": (ANY_FALL_FINDING, 0.0),
    SHORT_LIE: (ANY_FALL_FINDING, 0.0),
    "fall_short": (frozenset({"long_inactivity", "panic"}), 0.0),
    "night_exit": (frozenset({"night_exit"}), 0.0),
    "night_wandering": (frozenset({"night_wandering"}), 600.0),
    "wandering": (frozenset({"night_wandering"}), 600.0),  # peer-sim: only night wandering has a finding
    "door_left_open": (frozenset({"door_left_open"}), 0.0),
    "late_wakeup": (frozenset({"missed_morning", "long_inactivity"}), 0.0),
    "illness": (frozenset({"activity_decline"}), 3 * 86400.0),
    "night_restlessness": (frozenset({"night_restlessness"}), 3 * 86400.0),
    "sensor_dead": (frozenset({"sensor_silent"}), 3600.0),
    "agent_offline": (frozenset({"agent_offline"}), 600.0),
    "panic": (frozenset({"panic"}), 60.0),
}
# Only critical findings find a fall: a warning does not send someone at once.
CRITICAL_ONLY = frozenset({"long_lie", SHORT_LIE, "fall_short"})
# Besides finding the label it is meant for, a finding is not false inside (or up to SLACK after) a label that
# explains it. The peer set's state windows (housebound, semi_bedridden) explain only slow kinds, as its README
# scores them; `wandering` only wandering kinds; `forgetting` nothing (appliances are not in events.csv).
SLOW = frozenset({"housebound", "semi_bedridden"})
EXPLAINED_BY: dict[str, frozenset[str]] = {
    "long_inactivity": frozenset({"long_lie", SHORT_LIE, "fall_short", "late_wakeup", "panic"}),
    "missed_morning": frozenset({"late_wakeup", "long_lie", SHORT_LIE}) | SLOW,
    "night_exit": frozenset({"night_exit"}),
    "door_left_open": frozenset({"door_left_open", "night_exit"}),
    "night_wandering": frozenset({"night_wandering", "night_exit", "wandering"}),
    "activity_decline": frozenset({"illness"}) | SLOW,
    "night_restlessness": frozenset({"night_restlessness", "wandering"}) | SLOW,
    "agent_offline": frozenset({"agent_offline"}),
    "sensor_silent": frozenset({"sensor_dead"}),
    "panic": frozenset({"panic"}),
}
EXPLAINED_BY_SLOW = frozenset(k for k, v in EXPLAINED_BY.items() if v & SLOW)


@dataclass(frozen=True)
class Label:
    """One ground-truth incident (epoch seconds)."""

    type: str
    start: float
    end: float
    note: str = ""


@dataclass(frozen=True)
class Found:
    """One finding, as scoring needs it."""

    t: float
    kind: str
    severity: str  # critical / warning / info


@dataclass
class HomeScore:
    """What one home's replay found, matched against its labels."""

    home: str
    days: float
    events: int
    profile: str = ""
    kit: str = ""
    hits: list[tuple[str, str, float | None]] = field(default_factory=list)  # (type, when, delay_min or None)
    false_alarms: list[tuple[str, str]] = field(default_factory=list)  # person alerts: (kind, ts)
    false_any_window: int = 0  # person alerts outside every label (+SLACK), the peer README's looser count
    device_false: list[tuple[str, str]] = field(default_factory=list)  # sensor_silent / agent_offline: (kind, ts)
    windows: dict[str, int] = field(default_factory=dict)  # labels that are only windows (housebound, ...)
    info: int = 0
    predicted_false_60d: float | None = None  # the engine's own expected false-alarm rate, when it says
    misses: list[tuple[str, float | None]] = field(default_factory=list)  # why each long lie went unraised (misses.py)
    reordered: int = 0  # rows of its events.csv moved into time order (`replay.in_order`)
    duplicates: int = 0  # rows repeating an event (dropped)


def _t(s: str, tz: tzinfo) -> float:
    ts = any_time(s)  # (as the events may be written: `replay.read_rows`)
    return (ts if ts.tzinfo else ts.replace(tzinfo=tz)).timestamp()


def read_labels(path: Path, tz: tzinfo = REPLAY_TZ) -> list[Label]:
    """Labels of one home (`type,start,end,note`); naive times in `tz`, the zone of its events (`replay.zone_of`)."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [Label(r["type"], _t(r["start"], tz), _t(r["end"], tz), r.get("note") or "") for r in csv.DictReader(fh)]


def scored_type(lab: Label) -> str:
    """The type a label is scored as: a long lie under 30 min is `long_lie < 30 min`."""
    return SHORT_LIE if lab.type == "long_lie" and lab.end - lab.start < LONG_LIE_MIN else lab.type


def _when(label: Label) -> str:
    """`day` or `night` (from `when=`), and `/visitor` or `/self` (from `found_by=`) when the note says."""
    when = found = ""
    for part in label.note.split():
        if part.startswith("when="):
            when = "night" if part[5:] == "night" else "day"
        elif part.startswith("found_by="):
            found = "/" + part[9:]
    return when + found if when else ""


def finds(typ: str, f: Found) -> bool:
    """Whether finding `f` is of a kind (and severity) that finds an incident of scored type `typ`."""
    kinds, _after = DETECTS.get(typ, (frozenset(), 0.0))
    if typ in CRITICAL_ONLY and f.severity != "critical":
        return False
    if kinds is ANY_FALL_FINDING:
        return f.kind != "panic" and f.kind not in DEVICE_KINDS
    return f.kind in kinds


def _explained(f: Found, labels: list[tuple[str, Label]]) -> bool:
    why = EXPLAINED_BY.get(f.kind, frozenset())
    for typ, lab in labels:
        after = max(SLACK, DETECTS.get(typ, (frozenset(), 0.0))[1])
        if lab.start - LEAD <= f.t <= lab.end + after and (typ in why or finds(typ, f)):
            return True
    return False


def _in_any_window(f: Found, labels: list[tuple[str, Label]]) -> bool:
    """The peer README's rule: inside any label (+SLACK), but state windows excuse only slow kinds."""
    return any(
        lab.start - LEAD <= f.t <= lab.end + SLACK and (typ not in SLOW or f.kind in EXPLAINED_BY_SLOW)
        for typ, lab in labels
    )


def score(score: HomeScore, labels: list[Label], found: list[Found]) -> HomeScore:
    """Fill `score` with the hits, delays and false alerts of `found` against `labels`."""
    typed = [(scored_type(lab), lab) for lab in labels]
    windows: Counter[str] = Counter()
    for typ, lab in typed:
        if typ not in DETECTS:
            windows[typ] += 1
            continue
        after = DETECTS[typ][1]
        delays = [f.t - lab.start for f in found if lab.start - LEAD <= f.t <= lab.end + after and finds(typ, f)]
        score.hits.append((typ, _when(lab), min(delays) / 60 if delays else None))
    score.windows = dict(sorted(windows.items()))
    for f in found:
        if f.severity == "info":
            score.info += 1
        elif f.kind in NOT_SCORED or _explained(f, typed):
            continue
        elif f.kind in DEVICE_KINDS:
            score.device_false.append((f.kind, _iso(f.t)))
        else:
            score.false_alarms.append((f.kind, _iso(f.t)))
            score.false_any_window += not _in_any_window(f, typed)
    return score


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, REPLAY_TZ).replace(tzinfo=None).isoformat()
