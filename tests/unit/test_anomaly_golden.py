"""Golden replays: the engine's findings (and the routine it shows) on fixed inputs must not change byte for byte.

This guards refactoring of `anomaly/` (issue 12, item 3): a change that moves code must leave every finding as it was.
Inputs are made at test time (bench synth, the simulator from a seed, a peer-sim home when that folder exists); only
the findings are stored, as compact JSON under tests/unit/golden/. Regenerate (after a deliberate behaviour change
only) with `ANXIN_GOLDEN_WRITE=1 .venv/bin/python -m pytest -q tests/unit/test_anomaly_golden.py`.
"""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from anomaly.recording import REPLAY_TZ, Row, read_rows, read_sensor_meta
from anomaly.replay import REPLAY_HOME, replay
from anomaly.store import freeze, thaw
from bench.anomaly_bench import synth_csv
from contracts import Finding, FindingKind

GOLDEN = Path(__file__).parent / "golden"
PEER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "peer-sim" / "DEV_2"
WRITE = os.environ.get("ANXIN_GOLDEN_WRITE") == "1"


def _record(f: Finding) -> list[Any]:
    return [f.id, str(f.kind), f.severity.value, f.ts.isoformat(), f.since.isoformat(), f.evidence]


def _dump(findings: list[Finding], summary: dict[str, Any]) -> str:
    doc = {"findings": [_record(f) for f in findings], "summary": summary}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.json"
    if WRITE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; write it with ANXIN_GOLDEN_WRITE=1"
    assert text == path.read_text(), f"findings of {name} differ from {path}"


def _replay_dir(home_dir: Path, days: float | None = None) -> str:
    with open(home_dir / "events.csv", newline="") as fh:
        rows = list(read_rows(fh))
    if days is not None and rows:
        rows = [r for r in rows if r[0] < rows[0][0] + days * 86400.0]
    home = home_dir.name if home_dir.name.startswith("h-") else REPLAY_HOME
    res = replay(rows, home, sensors=read_sensor_meta(home_dir))
    return _dump(res.findings, res.monitor.summary())


def test_golden_synth() -> None:
    rows = list(read_rows(io.StringIO(synth_csv(30, 7))))
    res = replay(rows)
    _check("synth_30_7", _dump(res.findings, res.monitor.summary()))


def test_golden_synth_with_feedback_and_checkpoint() -> None:
    """Feedback on every finding and a checkpoint round trip half way: the learned scales and the thawed state count."""
    rows: list[Row] = list(read_rows(io.StringIO(synth_csv(30, 11))))
    res = replay(rows[: len(rows) // 2], until=rows[len(rows) // 2][0] - 1)
    m = thaw(freeze(res.monitor))
    out = list(res.findings)
    now = rows[len(rows) // 2][0] - 1
    for f in res.findings:
        outcome = "false_alarm" if f.kind == FindingKind.LONG_INACTIVITY else "needed_help"
        m.apply_feedback(f.kind, outcome, now, [f.id])
    out.extend(m.tick_at(now))  # feedback asks for a check now, as the service's tick does
    for row in rows[len(rows) // 2 :]:
        while m.next_check <= row[0]:
            out.extend(m.tick_at(m.next_check))
        out.extend(m.observe_at(*row))
    stop = rows[-1][0] + 86400.0
    while m.next_check <= stop:
        out.extend(m.tick_at(m.next_check))
    assert m._tz is REPLAY_TZ or str(m._tz) == "UTC"
    _check("synth_30_11_feedback", _dump(out, m.summary()))


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from firmware_sim.files import generate

    root = tmp_path_factory.mktemp("golden-sim")
    generate(root / "classic", 3, 21, 5, date(2025, 3, 3), jobs=1, variety="classic")
    generate(root / "rich", 3, 21, 5, date(2025, 3, 3), jobs=1, variety="rich")
    return root


@pytest.mark.parametrize("variety", ["classic", "rich"])
def test_golden_sim(sim_root: Path, variety: str) -> None:
    homes = sorted(p for p in (sim_root / variety).iterdir() if p.is_dir())
    assert len(homes) == 3
    text = "".join(_replay_dir(h) for h in homes)
    _check(f"sim_{variety}_3x21_seed5", text)


@pytest.mark.skipif(not (PEER / "events.csv").exists(), reason="peer-sim data not present")
def test_golden_peer_dev2() -> None:
    _check("peer_dev2_21d", _replay_dir(PEER, days=21))
