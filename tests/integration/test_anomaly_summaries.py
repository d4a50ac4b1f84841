"""Routine summaries written by two anomaly processes at once (a cluster takeover), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from anomaly.store import write_summaries
from anxin.db.engine import url_session
from anxin.db.models import Home, RoutineSummary
from tests.support.alerts_fixtures import any_db_url, postgres

__all__ = ["any_db_url", "postgres"]  # fixtures used by name
pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)


def _row(days: int) -> dict[str, Any]:
    return {"days_learned": days, "confidence": days / (days + 7), "summary": {"usual_wake": f"0{days % 10}:00"}}


def _summaries(url: str) -> dict[str, tuple[int, datetime]]:
    with url_session(url) as s:
        return {r.home_id: (r.days_learned, r.updated_at) for r in s.scalars(select(RoutineSummary))}


def _race(url: str, batch: list[str]) -> list[BaseException]:
    """Two writers of the same homes' summaries (worked out a minute apart) let go at once; what they raised."""
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def write(days: int) -> None:
        gate.wait()
        try:
            write_summaries(url, {h: _row(days) for h in batch}, T0 + timedelta(minutes=days))
        except BaseException as err:
            errors.append(err)

    writers = [threading.Thread(target=write, args=(d,)) for d in (1, 2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=60)
    return errors


def test_two_writers_of_new_homes_both_land_and_the_last_write_wins(any_db_url: str) -> None:
    homes = [f"h-sum{i:05d}" for i in range(40)]
    with url_session(any_db_url) as s, s.begin():
        s.add_all(Home(id=h, label=h, district="d", created_at=T0) for h in homes)
    # Rounds of two writers of the same new homes at once: their first inserts race (check-then-insert failed one
    # writer's whole batch on the other's row, an IntegrityError on PostgreSQL).
    for k in range(5):
        assert _race(any_db_url, homes[8 * k : 8 * k + 8]) == []
    written = _summaries(any_db_url)
    assert set(written) == set(homes)
    assert {days for days, _at in written.values()} <= {1, 2}
    # Whatever clock stamped the last write (a host running fast wrote before), the next write lands; a home the
    # registry does not know gets no row.
    write_summaries(any_db_url, {homes[0]: _row(9)}, T0 + timedelta(hours=2))
    write_summaries(any_db_url, {homes[0]: _row(3), "h-unknown01": _row(3)}, T0 + timedelta(hours=1))
    after = _summaries(any_db_url)
    assert after[homes[0]] == (3, T0 + timedelta(hours=1)) and "h-unknown01" not in after
