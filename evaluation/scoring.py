"""Scoring rules: which findings find a labelled incident, and which are false alerts (docs/anomaly.md, "Scoring").

Pure functions over labels and findings as plain numbers, so the rules are tested without replaying anything.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from anomaly.recording import REPLAY_TZ, any_time, csv_table
from anomaly.replay import naive
from anomaly.synonyms import columns_of

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
    "help_request": frozenset({"panic"}),  # a button held: the resident's own call, as a press is
}
EXPLAINED_BY_SLOW = frozenset(k for k, v in EXPLAINED_BY.items() if v & SLOW)
# Label types that are only windows (the peer set's states): scored as excuses, never as incidents to find.
WINDOW_TYPES = SLOW | {"forgetting"}
# A labels file's column names in other words, and its types: a fall labelled with its time on the floor is a lie
# of that length (under 30 min: `SHORT_LIE`, neither required nor false).
LABEL_COLUMNS = {
    "label": "type",
    "activity": "type",
    "event": "type",
    "incident": "type",
    "begin": "start",
    "from": "start",
    "start_time": "start",
    "stop": "end",
    "to": "end",
    "end_time": "end",
    "finish": "end",
    "description": "note",
    "comment": "note",
}
# (Not "lie": an activity data set's "Lie" is a nap, and a nap's false alarm would score as a fall found.)
LABEL_TYPES = {"fall": "long_lie", "fall_long_lie": "long_lie", "跌倒": "long_lie"}


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
    unknown: dict[str, int] = field(default_factory=dict)  # labels of a type neither scored nor a window
    info: int = 0
    predicted_false_60d: float | None = None  # the engine's own expected false-alarm rate, when it says
    misses: list[tuple[str, float | None]] = field(default_factory=list)  # why each long lie went unraised (misses.py)
    reordered: int = 0  # rows of its events.csv moved into time order (`recording.in_order`)
    duplicates: int = 0  # rows repeating an event (dropped)


def _t(s: str, tz: tzinfo) -> float:
    ts = any_time(s)  # (as the events may be written: `recording.read_rows`)
    return (ts if ts.tzinfo else ts.replace(tzinfo=tz)).timestamp()


def read_labels(path: Path, tz: tzinfo = REPLAY_TZ) -> list[Label]:
    """Labels of one home (`type,start,end[,note]`); naive times in `tz`, its events' zone (`recording.events_zone`).

    Read as the events are: another separator, header names in other words or case (`LABEL_COLUMNS`), a BOM, times as
    `recording.any_time` reads them; a type in other words (`label_type`). ValueError naming the file and line.
    """
    if not path.exists():
        return []
    out: list[Label] = []
    line = 1
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            table = csv_table(fh)
            if table is None:
                return []
            reader, header = table
            cols = columns_of(header, LABEL_COLUMNS)
            if not {"type", "start", "end"} <= cols.keys():
                raise ValueError(f"header must have type,start,end[,note]; got {header}")
            i_type, i_start, i_end, i_note = cols["type"], cols["start"], cols["end"], cols.get("note", -1)
            for rec in reader:
                line = reader.line_num + 1
                if not any(f.strip() for f in rec):
                    continue
                if len(rec) <= max(i_type, i_start, i_end):
                    raise ValueError(f"line {line}: {len(rec)} fields, the header names more")
                note = rec[i_note] if 0 <= i_note < len(rec) else ""
                out.append(Label(label_type(rec[i_type]), _t(rec[i_start], tz), _t(rec[i_end], tz), note))
        except (ValueError, csv.Error) as err:
            where = "" if str(err).startswith(("line ", "header ")) else f"line {line}: "
            raise ValueError(f"{path}: {where}{err}") from None
    return out


def label_type(text: str) -> str:
    """Our name for a label's type: lower case, words joined by `_`, aliases resolved (`LABEL_TYPES`)."""
    t = "_".join(w for w in re.split(r"[\W_]+", text.strip().lower()) if w)  # (words in any script: 跌倒 stays)
    return LABEL_TYPES.get(t, t)


def unknown_types(labels: list[Label]) -> Counter[str]:
    """Label types neither scored nor a known window: each is said, not silently dropped."""
    return Counter(lab.type for lab in labels if lab.type not in DETECTS and lab.type not in WINDOW_TYPES)


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


def score(score: HomeScore, labels: list[Label], found: list[Found], tz: tzinfo = REPLAY_TZ) -> HomeScore:
    """Fill `score` with the hits, delays and false alerts of `found` against `labels` (times written in `tz`)."""
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
    score.unknown = dict(sorted(unknown_types(labels).items()))
    for f in found:
        if f.severity == "info":
            score.info += 1
        elif f.kind in NOT_SCORED or _explained(f, typed):
            continue
        elif f.kind in DEVICE_KINDS:
            score.device_false.append((f.kind, _iso(f.t, tz)))
        else:
            score.false_alarms.append((f.kind, _iso(f.t, tz)))
            score.false_any_window += not _in_any_window(f, typed)
    return score


def _iso(t: float, tz: tzinfo = REPLAY_TZ) -> str:
    """A finding's time as the home's events write theirs (`replay.naive`): naive in, naive out."""
    return naive(datetime.fromtimestamp(t, UTC), tz)
