"""Generated simulator data shared by the sim tests: read back from the files, as a consumer would."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.files import generate

SEED, HOMES, DAYS = 11, 20, 60


@dataclass
class Row:
    ts: datetime
    sensor: str
    kind: str
    value: str
    room: str


@dataclass
class SimHomeData:
    home: str
    doc: dict[str, Any]
    events: list[Row]
    labels: list[tuple[str, datetime, datetime, str]]


def read_home(folder: Path) -> SimHomeData:
    """One generated home, parsed."""
    with open(folder / "events.csv", newline="") as fh:
        events = [
            Row(datetime.fromisoformat(r["ts"]), r["sensor"], r["kind"], r["value"], r["room"])
            for r in csv.DictReader(fh)
        ]
    with open(folder / "labels.csv", newline="") as fh:
        labels = [
            (r["type"], datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"]), r["note"])
            for r in csv.DictReader(fh)
        ]
    return SimHomeData(folder.name, json.loads((folder / "home.json").read_text()), events, labels)


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 homes x 60 days generated once per test session."""
    out = tmp_path_factory.mktemp("sim")
    generate(out, HOMES, DAYS, SEED, date(2025, 3, 3))
    return out


@pytest.fixture(scope="session")
def sim_homes(sim_dir: Path) -> list[SimHomeData]:
    """The generated homes, parsed."""
    return [read_home(p) for p in sorted(sim_dir.iterdir()) if p.is_dir()]


def between(rows: list[Row], a: datetime, b: datetime) -> Iterator[Row]:
    """Rows strictly inside (a, b)."""
    return (r for r in rows if a < r.ts < b)
