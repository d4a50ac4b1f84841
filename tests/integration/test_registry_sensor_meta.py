"""A kit sensor's room type and hold time: given in the console (API, page, spreadsheet), read by the engine.

Issue 12's sensor roles, in the live path: before, only a recording's sensors.csv could say that room `r2` is a
bedroom, and a registered home's first nights there were long silences out of bed.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from anomaly.engine import Engine
from anomaly.registry import Registry
from anomaly.store import home_kits
from anxin.db.engine import url_session
from anxin.db.models import HomeSensor
from tests.integration.test_registry import _anxin, _write, empty
from tests.support.alerts_fixtures import any_db_url, postgres
from tests.support.console_fixtures import bearer, login

pytestmark = pytest.mark.integration
__all__ = ["any_db_url", "empty", "postgres"]


@pytest.fixture
def console(empty: tuple[TestClient, dict[str, str], str]) -> tuple[TestClient, dict[str, str], str]:
    """test_registry's console on an empty, migrated database, with a district `d`."""
    c, tokens, _db = empty
    c.post("/api/registry/districts", json={"name": "d"}, headers=bearer(tokens["operator"]))
    return empty


def test_a_room_type_and_hold_time_given_in_the_console_reach_the_engine(
    console: tuple[TestClient, dict[str, str], str],
) -> None:
    c, tokens, db_url = console
    op = bearer(tokens["operator"])
    kit = [
        {"sensor": "pir_r2", "kind": "motion", "room": "r2", "room_type": "bedroom", "hold_s": 30},
        {"sensor": "mat_r2", "kind": "pressure", "room": "r2"},
        {"sensor": "pir_r3", "kind": "motion", "room": "r3"},
    ]
    made = c.post("/api/registry/homes", json={"label": "x", "district": "d", "sensors": kit}, headers=op)
    assert made.status_code == 200, made.text
    home = made.json()["id"]
    listed = {k["sensor"]: k for k in c.get("/api/registry", headers=op).json()["homes"][0]["sensors"]}
    assert (listed["pir_r2"]["room_type"], listed["pir_r2"]["hold_s"]) == ("bedroom", 30.0)
    assert (listed["pir_r3"]["room_type"], listed["pir_r3"]["hold_s"]) == (None, None)

    engine = Engine()
    Registry(engine, db_url, {}).load()
    m = engine.monitor(home)
    # The engine's reading of a room it cannot name: the installer's type, else "other".
    assert m.kit.room_class("r2") == "bedroom" and m.kit.room_class("r3") == "other"
    assert m.kit.meta["pir_r2"]["hold_s"] == "30.0" and "hold_s" not in m.kit.meta["pir_r3"]
    m.observe_at(1741000000.0, "pir_r2", "motion", 1, "r2")
    m.observe_at(1741000060.0, "pir_r3", "motion", 1, "r3")
    assert m.summary()["rooms"] == {"r2": "bedroom", "r3": "other"}  # what the console says of them

    # Changing one sensor's type changes the room's for the engine at the next read.
    again = {"sensor": "pir_r2", "kind": "motion", "room": "r2", "room_type": "living"}
    assert c.post(f"/api/registry/homes/{home}/sensors", json=again, headers=op).status_code == 200
    Registry(engine, db_url, {}).load()
    assert m.kit.room_class("r2") == "living" and "hold_s" not in m.kit.meta["pir_r2"]


def test_the_console_refuses_a_room_type_or_hold_time_that_says_nothing_true(
    console: tuple[TestClient, dict[str, str], str],
) -> None:
    c, tokens, db_url = console
    op = bearer(tokens["operator"])
    home = c.post("/api/registry/homes", json={"label": "x", "district": "d"}, headers=op).json()["id"]
    url = f"/api/registry/homes/{home}/sensors"
    pir = {"sensor": "pir1", "kind": "motion", "room": "r2"}
    for bad, why in (
        ({"room_type": "attic"}, "literal_error"),  # not a type the engine knows
        ({"room_type": "卧室"}, "literal_error"),  # a word for one is for names; the type is one of the codes
        ({"room_type": "Bedroom"}, "literal_error"),
        ({"room": None, "room_type": "bedroom"}, "room_type_without_room"),
        ({"hold_s": -1}, "greater_than_equal"),
        ({"hold_s": 7200}, "less_than_equal"),  # an hour past any PIR's hold
        ({"hold_s": "30"}, "float_type"),  # a number, not text
        ({"hold_s": True}, "float_type"),
        ({"kind": "door", "hold_s": 30}, "hold_s_not_motion"),  # a door holds nothing
        ({"room": "R 2", "room_type": "bedroom"}, "string_pattern_mismatch"),  # the room's own fault, said once
        ({"kind": "pir", "hold_s": 30}, "literal_error"),
    ):
        refused = c.post(url, json=pir | bad, headers=op)
        assert refused.status_code == 422, bad
        errors = refused.json()["detail"]
        assert len(errors) == 1 and errors[0]["type"] == why and errors[0]["loc"][-1] in bad, (bad, errors)
    # One type per room, whether in one kit or one sensor at a time; said with the types' names.
    two = [pir | {"room_type": "bedroom"}, {"sensor": "pir2", "kind": "motion", "room": "r2", "room_type": "kitchen"}]
    clash = c.post("/api/registry/homes", json={"label": "y", "district": "d", "sensors": two}, headers=op)
    assert clash.status_code == 422 and "one type per room" in clash.json()["detail"]
    assert c.post(url, json=pir | {"room_type": "bedroom"}, headers=op).status_code == 200
    other = {"sensor": "mat1", "kind": "pressure", "room": "r2", "room_type": "kitchen"}
    clash = c.post(url, json=other, headers=op)
    assert clash.status_code == 422
    assert clash.json()["detail"] == "room 'r2' is typed Bedroom by sensor pir1, not Kitchen: one type per room"
    assert c.post(url, json=other | {"room_type": "bedroom"}, headers=op).status_code == 200
    assert c.post(url, json=pir | {"room_type": "bathroom"}, headers=op).status_code == 422  # mat1 says bedroom
    # What is written past the console is left out of what the engine reads, not believed: a type the engine does not
    # know, a hold past an hour or on a door, and the types of a room given two (which would be read by row order).
    with url_session(db_url) as s, s.begin():
        row = s.get(HomeSensor, (home, "pir1"))
        assert row is not None
        row.room_type, row.hold_s = "attic", 99999.0
        s.add(HomeSensor(home_id=home, sensor="door1", kind="door", room="R3", room_type="hall", hold_s=30.0))
        s.add(
            HomeSensor(home_id=home, sensor="pir3", kind="motion", room="r3", room_type="bedroom", hold_s=float("nan"))
        )
    kit = home_kits(db_url)[home]
    assert kit["pir1"] == {"kind": "motion", "room": "r2"} and kit["mat1"]["room_type"] == "bedroom"
    assert kit["door1"] == {"kind": "door", "room": "R3"} and kit["pir3"] == {"kind": "motion", "room": "r3"}


def test_the_install_page_gives_a_sensors_room_type_and_hold_time_in_the_pages_language(
    console: tuple[TestClient, dict[str, str], str],
) -> None:
    c, tokens, _db = console
    home = c.post("/api/registry/homes", json={"label": "x", "district": "d"}, headers=bearer(tokens["operator"]))
    page_url = f"/registry/homes/{home.json()['id']}"
    csrf = login(c, "operator")
    sensor = {"csrf": csrf, "sensor": "pir1", "kind": "motion", "room": "r2", "room_type": "bedroom", "hold_s": "x"}
    bad = c.post(f"{page_url}/sensors?lang=zh-CN", data=sensor)
    notice = re.search(r'role="alert">([^<]*)<', bad.text)
    assert bad.status_code == 400 and notice is not None and notice.group(1) == "hold_s：需要一个数字"
    for typed, why in (("1_0", "需要一个数字"), ("-1", "不能小于 0"), ("nan", "需要一个数字")):
        bad = c.post(f"{page_url}/sensors?lang=zh-CN", data=sensor | {"hold_s": typed})
        notice = re.search(r'role="alert">([^<]*)<', bad.text)
        assert bad.status_code == 400 and notice is not None and notice.group(1) == f"hold_s：{why}", typed
    no_room = c.post(f"{page_url}/sensors?lang=zh-CN", data=sensor | {"room": "", "hold_s": ""})
    notice = re.search(r'role="alert">([^<]*)<', no_room.text)
    assert no_room.status_code == 400 and notice is not None and notice.group(1) == "room_type：需要先填写房间"
    sensor["hold_s"] = "30"
    assert c.post(f"{page_url}/sensors", data=sensor, follow_redirects=False).status_code == 303
    shown = c.get(f"{page_url}?lang=en").text
    assert "r2 (Bedroom)" in shown and "holds 30 s" in shown
    assert 'id="sensor-room-type"' in shown and '<option value="hall">Hall</option>' in shown
    blank = {"csrf": csrf, "sensor": "pir2", "kind": "motion", "room": "r3", "room_type": "", "hold_s": ""}
    assert c.post(f"{page_url}/sensors", data=blank, follow_redirects=False).status_code == 303
    assert "r3 (" not in c.get(f"{page_url}?lang=en").text  # no type given: none shown


def test_a_spreadsheet_gives_room_types_and_hold_times_and_gets_them_back(db_url: str, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "districts.csv", [["name"], ["d"]])
    _write(src / "homes.csv", [["label", "district"], ["3-501", "d"]])
    _write(
        src / "sensors.csv",
        [
            ["home", "sensor", "kind", "room", "room_type", "hold_s"],
            ["3-501", "pir1", "motion", "r2", "bedroom", "45"],
            ["3-501", "pir2", "motion", "kitchen", "", ""],
        ],
    )
    done = _anxin("registry", "import", str(src), db_url=db_url)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "sheet.csv"
    assert _anxin("registry", "export", str(out), db_url=db_url).returncode == 0
    rows = {r["sensor"]: r for r in csv.DictReader(out.open(encoding="utf-8")) if r["table"] == "sensors"}
    assert (rows["pir1"]["room_type"], rows["pir1"]["hold_s"]) == ("bedroom", "45.0")
    assert (rows["pir2"]["room_type"], rows["pir2"]["hold_s"]) == ("", "")
    assert _anxin("registry", "import", str(out), db_url=db_url).returncode == 0  # round trip
    # An older sheet, without the new columns, imported again leaves them as they were.
    old = tmp_path / "old"
    old.mkdir()
    _write(old / "sensors.csv", [["home", "sensor", "kind", "room"], ["3-501", "pir1", "motion", "r2"]])
    assert _anxin("registry", "import", str(old), db_url=db_url).returncode == 0
    with url_session(db_url) as s:
        row = s.scalar(select(HomeSensor).where(HomeSensor.sensor == "pir1"))
        assert row is not None and (row.room_type, row.hold_s) == ("bedroom", 45.0)
    # ... unless the row moves the sensor (the type was its old room's) or makes it no PIR (a door holds nothing).
    _write(old / "sensors.csv", [["home", "sensor", "kind", "room"], ["3-501", "pir1", "motion", "r3"]])
    assert _anxin("registry", "import", str(old), db_url=db_url).returncode == 0
    _write(old / "sensors.csv", [["home", "sensor", "kind", "room"], ["3-501", "pir2", "door", "kitchen"]])
    assert _anxin("registry", "import", str(old), db_url=db_url).returncode == 0
    with url_session(db_url) as s:
        rows = {r.sensor: (r.room, r.room_type, r.hold_s) for r in s.scalars(select(HomeSensor))}
    assert rows["pir1"] == ("r3", None, 45.0) and rows["pir2"] == ("kitchen", None, None)
    no_room = [["home", "sensor", "kind", "room", "room_type"], ["3-501", "pir3", "motion", "", "hall"]]
    _write(old / "sensors.csv", no_room)
    bad = _anxin("registry", "import", str(old), db_url=db_url)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().endswith(
        "sensors.csv line 2 (sensors): room_type: needs a room to say it of; nothing was imported"
    )
    assert len(bad.stderr.strip().splitlines()) == 1
