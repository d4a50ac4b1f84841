"""A home whose history arrives late (an agent replaying its queue, the demo's week of history) learns it as it was."""

from __future__ import annotations

import io
from datetime import UTC

from anomaly.engine import HomeMonitor
from anomaly.recording import read_rows
from bench.anomaly_bench import synth_csv


def _backlog(days: int) -> list[tuple[float, str, str, int | float | str, str | None]]:
    return [r for r in read_rows(io.StringIO(synth_csv(days, 7))) if r[2] in ("motion", "door", "pressure")]


def test_a_week_of_history_arriving_at_once_is_learned_day_by_day_and_judged_by_its_own_clock() -> None:
    rows = _backlog(8)
    arrival = rows[-1][0] + 3600.0  # all of it delivered an hour after the last event, in a minute
    m = HomeMonitor("h-backlog0001", UTC)
    out = []
    for i, (t, sensor, kind, value, room) in enumerate(rows):
        now = arrival + i * 60.0 / len(rows)
        out += m.tick_at(now)  # the service's clock keeps ticking while the backlog drains
        out += m.observe_at(t, sensor, kind, value, room, received=now)
    assert m.days_learned >= 7  # each past day counted as its events rolled it over, not skipped by the wall clock
    assert m.idle.model.days >= 6.0  # and the stillness model learned the silences between them
    assert not [f for f in out if f.kind != "panic"]  # nothing of the past is judged by the present
    # Once the backlog has settled, the present is judged again: the hour of silence since the last event counts.
    later = m.tick_at(arrival + 3600.0)
    assert m.replaying_at is None and isinstance(later, list)
