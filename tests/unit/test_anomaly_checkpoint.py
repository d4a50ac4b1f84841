"""Checkpoints across an engine upgrade: one written before HomeMonitor was split (format 5, a real blob made by the
old engine) is refused per home, that home starts afresh, the others resume, and the service logs it once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anomaly.const import fmt_hm
from anomaly.engine import HomeMonitor
from anomaly.store import CheckpointStore, StaleCheckpoint, freeze, thaw

OLD = Path(__file__).parent / "golden" / "checkpoint_format5.bin"


def test_a_checkpoint_of_the_engine_before_the_split_is_stale() -> None:
    with pytest.raises(StaleCheckpoint):
        thaw(OLD.read_bytes())


def test_old_checkpoints_start_those_homes_afresh_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = CheckpointStore(tmp_path / "cp.sqlite")
    try:
        fresh = HomeMonitor("h-fresh00", UTC)
        fresh.scale["long_inactivity"] = 1.25
        at = datetime(2025, 3, 3, tzinfo=UTC)
        store.save({"h-fresh00": fresh}, {"h-fresh00": b"d"}, at)
        old = OLD.read_bytes()
        with store._db:  # three homes whose checkpoints an older engine wrote
            store._db.executemany(
                "INSERT INTO homes (home, saved, state, seen) VALUES (?, ?, ?, ?)",
                [(f"h-old{i:05d}", at.timestamp(), old, b"") for i in range(3)],
            )
        with caplog.at_level(logging.WARNING, logger="anomaly.store"):
            homes, seen = store.load()
    finally:
        store.close()
    assert list(homes) == ["h-fresh00"] and homes["h-fresh00"].scale == {"long_inactivity": 1.25}
    assert seen == {"h-fresh00": b"d"}
    lines = [r.getMessage() for r in caplog.records if r.name == "anomaly.store"]
    assert len(lines) == 1 and lines[0].startswith("3 checkpoints written by an older engine"), lines


def test_a_new_checkpoint_round_trips() -> None:
    m = HomeMonitor("h-roundtrip0", UTC)
    m.observe_at(1_741_000_000.0, "pir_kitchen", "motion", 1, "kitchen")
    back = thaw(freeze(m))
    assert back.where.last_act == 1_741_000_000.0 and back.kit.sensors["pir_kitchen"].room == "kitchen"


def test_a_checkpoint_whose_routine_was_in_p_square_quantiles_carries_its_routine_into_the_windows() -> None:
    # Written by the engine of 510db6e: a late riser's eight mornings in river's P-square Quantiles (early, usual and
    # late wake 10:49, 11:17, 11:53), one night episode of 3 min, no outing yet.
    m = thaw((Path(__file__).parent / "golden" / "checkpoint_format6_p2.bin").read_bytes())
    s = m.sleep
    assert (fmt_hm(s.wake_lo_nb()), fmt_hm(s.wake_nb()), fmt_hm(s.wake_hi_nb())) == ("10:49", "11:17", "11:53")
    assert s.n_wake == 8 and fmt_hm(s.bed_nb()) == "03:00" and s.episodes.get(0.9) == 180.0
    assert len(m.where.outings) == 0 and m.summary()["usual_outing_min"] == 0
    t = m.next_check
    m.observe_at(t, "bed", "pressure", 0, "bedroom")  # and it goes on learning, and saves in the new form
    back = thaw(freeze(m))
    assert back.sleep.wakes.values == s.wakes.values and back.where.last_act == t
