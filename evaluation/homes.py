"""Replay labelled home folders through the engine and score them, one source (folder of homes) at a time."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from anomaly.engine import Tuning
from anomaly.limits import HomeLimits
from anomaly.recording import EVENTS_FILES, events_file, home_doc, read_events, read_sensor_meta
from anomaly.replay import REPLAY_HOME, replay
from contracts import Finding, FindingKind
from evaluation.misses import LieWatch
from evaluation.scoring import Found, HomeScore, Label, read_labels, score

# Names under which a monitor may state its own expected false-alarm rate (per home per 60 days).
PREDICTED_NAMES = ("expected_false_alarms_per_60d", "expected_false_alarms_per_60_days", "expected_false_alarms")
# Short kit names for sensor kinds, in the order a kit label lists them.
KIND_NAMES = {"motion": "pir", "pressure": "mat", "door": "door", "button": "button"}
HOME_ID = re.compile(r"^h-[a-z0-9]{6,32}$")  # contracts' HomeId: other sources' folders (DEV_1) are not ids


def home_dirs(root: Path) -> list[Path]:
    """Every home folder under `root`: those holding an events.csv (or events.csv.gz); else `root` itself if it holds
    one (a source of one home)."""
    found = sorted({p.parent for name in EVENTS_FILES for p in root.glob(f"*/{name}") if p.is_file()})
    return found or ([root] if any((root / n).is_file() for n in EVENTS_FILES) else [])


def home_meta(home_dir: Path) -> dict[str, Any]:
    """The simulator's description of a home (`home.json`: profile, kit, ...), or nothing."""
    return home_doc(home_dir)


def kit_label(sensors: dict[str, dict[str, str]], seen: set[str]) -> str:
    """A kit name from sensor kinds, e.g. `pir+mat+door`; sensors that never appear in the events are left out
    (the peer set lists appliance meters whose readings are not in events.csv)."""
    kinds = {m.get("kind", "") for s, m in sensors.items() if s in seen or not seen} - {""}
    order = list(KIND_NAMES)
    names = sorted(kinds, key=lambda k: (order.index(k) if k in order else len(order), k))
    return "+".join(KIND_NAMES.get(k, k) for k in names) or "-"


def predicted_false(monitor: object) -> float | None:
    """The monitor's own expected false person alerts per 60 days, if it states one (attribute or method)."""
    for name in PREDICTED_NAMES:
        v = getattr(monitor, name, None)
        if callable(v):
            try:
                v = v()
            except TypeError:  # a method that wants arguments we do not know
                continue
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def responder(labels: list[Label]) -> Callable[[Finding], str | None]:
    """A responder answering every long_inactivity alarm: `needed_help` inside a labelled long lie, else false."""
    lies = [(lab.start - 60.0, lab.end) for lab in labels if lab.type == "long_lie"]

    def answer(f: Finding) -> str | None:
        if f.kind != FindingKind.LONG_INACTIVITY:
            return None
        t = f.ts.timestamp()
        return "needed_help" if any(a <= t <= b for a, b in lies) else "false_alarm"

    return answer


def score_home(
    home_dir: Path, tuning: Tuning | None = None, verdicts: bool = False, limits: HomeLimits | None = None
) -> HomeScore:
    """Replay one home (with its sensor metadata, when given) and score its findings against its labels.

    `verdicts`: a responder answers every long_inactivity alarm from the labels (`responder`), as the service's
    feedback would: what the engine learns from verdicts, beside the judged scoring, which has none. `limits`: the
    operator's (its false-alarm budget, floors and ceilings); default a deployment's.
    """
    rows, tz = read_events(events_file(home_dir))  # (its errors name the file)
    labels = read_labels(home_dir / "labels.csv", tz)
    last = rows[-1][0] if rows else 0.0
    # The clock stops at the last row, as `anxin replay` does, or runs to the last label's end if later (a lie
    # labelled past the end of the data was watched that long).
    until = max([last] + [lab.end for lab in labels])
    sensors = read_sensor_meta(home_dir)
    home = home_dir.name if HOME_ID.match(home_dir.name) else REPLAY_HOME
    watch = LieWatch(labels)
    res = replay(
        rows,
        home,
        limits=limits,
        tuning=tuning,
        until=until,
        sensors=sensors,
        respond=responder(labels) if verdicts else None,
        probe=watch,
        tz=tz,
    )
    meta = home_meta(home_dir)
    kit = str(meta.get("kit") or "") or kit_label(sensors, {r[1] for r in rows})
    days = max((res.end - res.start) / 86400.0, 1 / 24)
    out = HomeScore(home_dir.name, days, res.events, str(meta.get("profile", "")), kit)
    out.predicted_false_60d = predicted_false(res.monitor)
    found = [Found(f.ts.timestamp(), f.kind, f.severity.value) for f in res.findings]
    out = score(out, labels, found, tz)
    out.misses = watch.misses(labels, out)
    out.reordered, out.duplicates = res.reordered, res.duplicates
    return out


def _score_one(args: tuple[Path, Tuning | None, bool, HomeLimits | None]) -> HomeScore:
    return score_home(*args)


def evaluate_many(
    roots: list[Path],
    tuning: Tuning | None = None,
    jobs: int = 0,
    verdicts: bool = False,
    limits: HomeLimits | None = None,
) -> list[list[HomeScore]]:
    """Score every home of every source folder, all homes sharing one pool of `jobs` workers (0: one per CPU)."""
    dirs = [home_dirs(r) for r in roots]
    flat = [(d, tuning, verdicts, limits) for ds in dirs for d in ds]
    if jobs == 1 or len(flat) < 2:
        scores = [_score_one(a) for a in flat]
    else:
        with ProcessPoolExecutor(max_workers=jobs or None) as pool:
            scores = list(pool.map(_score_one, flat, chunksize=1))
    out: list[list[HomeScore]] = []
    for ds in dirs:
        out.append(scores[: len(ds)])
        scores = scores[len(ds) :]
    return out


def evaluate(root: Path, tuning: Tuning | None = None, jobs: int = 0) -> list[HomeScore]:
    """Score every home folder under `root` (those holding an events.csv or events.csv.gz)."""
    return evaluate_many([root], tuning, jobs)[0]
