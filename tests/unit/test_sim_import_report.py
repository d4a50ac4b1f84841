"""CASAS import into the simulator's CSV format, and the per-home heat map report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from firmware_sim.casas import import_casas
from firmware_sim.files import generate
from firmware_sim.report import report

CASAS = """2010-11-04 00:03:57.399391 M003 OFF
2010-11-04 00:03:50.209589 M003 ON
2010-11-04 00:15:08.984841 T002 21.5
2010-11-04 08:11:09 D001 OPEN Leave_Home begin
not a line
2010-11-04 08:11:20 D001 CLOSE
2010-13-04 08:11:20 D001 CLOSE
"""


def test_casas_lines_become_our_events(tmp_path: Path) -> None:
    src = tmp_path / "aruba.txt"
    src.write_text(CASAS)
    result = import_casas(src, tmp_path / "out", "aruba", "D001", {"M003": "bedroom"})
    lines = (tmp_path / "out" / "aruba" / "events.csv").read_text().splitlines()
    assert lines == [
        "ts,sensor,kind,value,room",
        "2010-11-04T00:03:50.209,M003,motion,1,bedroom",
        "2010-11-04T00:03:57.399,M003,motion,0,bedroom",
        "2010-11-04T00:15:08.984,T002,temperature,21.5,t002",
        "2010-11-04T08:11:09.000,D001,door,open,entrance",
        "2010-11-04T08:11:20.000,D001,door,closed,entrance",
    ]
    assert result.events == 5
    assert result.skipped == {"too few fields": 1, "bad date or time": 1}
    assert (tmp_path / "out" / "aruba" / "labels.csv").read_text() == "type,start,end,note\n"


def test_report_draws_one_png_per_home(tmp_path: Path) -> None:
    generate(tmp_path, 2, 14, 2, date(2025, 3, 3), incident_rate=4.0, jobs=1)
    written = report(tmp_path)
    assert len(written) == 2
    for png in written:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
