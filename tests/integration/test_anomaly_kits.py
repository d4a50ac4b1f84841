# ruff: noqa: F811  (the shared fixture any_db_url is imported, then named as a parameter)
"""The registry's kit reaches the engine: a mat the installer calls a seat is never taken for a bed (real SQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from anomaly.engine import Engine
from anomaly.store import home_kits
from anxin.db.engine import url_session
from anxin.db.models import Home, HomeSensor
from tests.support.alerts_fixtures import any_db_url, postgres  # noqa: F401 (fixtures)

HOME = "h-0000kit00001"


def _register(db_url: str) -> None:
    with url_session(db_url) as session:
        session.add(Home(id=HOME, label="9-1", district="x", created_at=datetime.now(UTC)))
        session.flush()
        session.add_all(
            [
                HomeSensor(home_id=HOME, sensor="mat_bedroom", kind="pressure", room="bedroom", role="seat"),
                HomeSensor(home_id=HOME, sensor="pir_kitchen", kind="motion", room="kitchen"),
            ]
        )
        session.commit()


def test_the_registered_kit_reaches_the_monitor(any_db_url: str) -> None:
    _register(any_db_url)
    kits = home_kits(any_db_url)
    assert kits[HOME] == {
        "mat_bedroom": {"kind": "pressure", "room": "bedroom", "role": "seat"},
        "pir_kitchen": {"kind": "motion", "room": "kitchen"},
    }
    eng = Engine()
    eng.set_kit(HOME, kits[HOME])  # before the home's first message: applied when its monitor is made
    m = eng.monitor(HOME)
    t0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC).timestamp()
    m.observe_at(t0, "mat_bedroom", "pressure", 1, "bedroom")
    m.observe_at(t0 + 5 * 3600, "mat_bedroom", "pressure", 0, "bedroom")  # five hours at night, yet a seat
    assert m.summary()["mat_roles"] == {"mat_bedroom": "seat"}
