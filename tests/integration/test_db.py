"""The SQL layer on a real SQLite: migrations apply, times keep their instant whatever offset they came with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from anxin.db.engine import make_engine, session_factory, upgrade
from anxin.db.models import Home

pytestmark = pytest.mark.integration


def test_offset_times_round_trip_as_the_same_instant(db_url: str) -> None:
    upgrade(db_url)  # a second upgrade is a no-op
    shanghai = timezone(timedelta(hours=8))
    created = datetime(2026, 11, 27, 4, 41, 44, tzinfo=shanghai)
    sessions = session_factory(make_engine(db_url))
    with sessions() as s, s.begin():
        s.add(Home(id="h-tz0001", label="1-101", district="d", created_at=created))
    with sessions() as s:
        back = s.scalars(select(Home.created_at)).one()
    assert back == created and back.tzinfo is not None
    assert back.astimezone(UTC).hour == 20


def test_naive_times_are_refused(db_url: str) -> None:
    sessions = session_factory(make_engine(db_url))
    with pytest.raises(Exception, match="naive"), sessions() as s, s.begin():
        s.add(Home(id="h-tz0002", label="1-102", district="d", created_at=datetime(2026, 11, 27)))
