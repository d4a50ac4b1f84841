"""`anxin sim import`: CASAS smart-home recordings (`date time sensor value [annotation]`) to our events.csv."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    """What one import wrote and what it skipped, with reasons."""

    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def skip(self, reason: str, line: str) -> None:
        """Count a line that could not be used."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.examples.setdefault(reason, line[:120])


def convert(line: str, front_door: str | None, rooms: dict[str, str]) -> tuple[str, str, str, str, str] | str:
    """One CASAS line to `(ts, sensor, kind, value, room)`, or the reason it cannot be converted."""
    parts = line.split()
    if len(parts) < 4:
        return "too few fields"
    day, clock, sensor, raw = parts[:4]
    try:
        ts = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return "bad date or time"
    if ts.tzinfo is not None:
        ts = ts.replace(tzinfo=None)
    value = raw.upper()
    room = "entrance" if sensor == front_door else rooms.get(sensor, sensor.lower())
    if sensor[0] in "MS" and value in ("ON", "OFF"):
        kind, out = "motion", "1" if value == "ON" else "0"
    elif sensor[0] == "D" and value in ("OPEN", "CLOSE", "CLOSED"):
        kind, out = "door", "open" if value == "OPEN" else "closed"
    elif sensor[0] == "T":
        try:
            out, kind = str(float(raw)), "temperature"
        except ValueError:
            return "temperature is not a number"
    else:
        return f"unknown sensor type {sensor[0]!r} or value"
    return ts.isoformat(timespec="milliseconds"), sensor, kind, out, room


def import_casas(src: Path, out: Path, name: str, front_door: str | None, rooms: dict[str, str]) -> ImportResult:
    """Convert a CASAS text file into `out/<name>/events.csv` (sorted), an empty labels.csv and home.json."""
    result = ImportResult()
    rows: list[tuple[str, str, str, str, str]] = []
    with open(src, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            got = convert(line, front_door, rooms)
            if isinstance(got, str):
                result.skip(got, line.rstrip())
                continue
            rows.append(got)
    rows.sort(key=lambda r: r[0])
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "events.csv", "w", newline="") as fh:
        fh.write("ts,sensor,kind,value,room\n")
        for r in rows:
            fh.write(",".join(r) + "\n")
    (folder / "labels.csv").write_text("type,start,end,note\n")
    doc = {
        "format": 1,
        "home": name,
        "source": f"casas:{src.name}",
        "front_door": front_door,
        "skipped": result.skipped,
    }
    (folder / "home.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    result.events = len(rows)
    for reason, n in result.skipped.items():
        log.warning("skipped %d lines of %s: %s (e.g. %r)", n, src, reason, result.examples[reason])
    return result
