"""The registry through the console's JSON API and forms, on SQLite and PostgreSQL, and `anxin registry` CSV."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from anxin.db.engine import url_session
from anxin.db.models import AuditLog, Home, HomeSensor, Resident, Responder
from console.accounts import create_operator, create_token
from console.app import create_app
from shell.servers import InfluxD
from tests.support.alerts_fixtures import any_db_url, postgres
from tests.support.console_fixtures import PASSWORD, bearer, console_settings, login

pytestmark = pytest.mark.integration
__all__ = ["any_db_url", "postgres"]

VOLUNTEER = "+8613912345678"
RESIDENT = "+8613711112222"
DAUGHTER = "+8613633334444"


def accounts(db_url: str) -> dict[str, str]:
    """One console account per role on an empty registry; their API tokens."""
    tokens = {}
    now = datetime.now(UTC)
    with url_session(db_url) as s, s.begin():
        for role in ("admin", "operator", "viewer"):
            create_operator(s, role, PASSWORD, role, now, f"{role.title()} One")
            tokens[role] = create_token(s, role, "tests", now)
    return tokens


@pytest.fixture
def empty(any_db_url: str, influxd: InfluxD, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """A console on an empty, migrated database (no broker: homes are registered, their accounts wait)."""
    tokens = accounts(any_db_url)
    settings = console_settings(any_db_url, influxd.url)
    settings.state_dir = tmp_path / "state"
    with TestClient(create_app(settings, background=False)) as c:
        yield c, tokens, any_db_url


def test_api_registers_a_district_from_nothing_and_audits_every_change(
    empty: tuple[TestClient, dict[str, str], str],
) -> None:
    c, tokens, db_url = empty
    op = bearer(tokens["operator"])
    assert c.post("/api/registry/districts", json={"name": "东湖社区"}, headers=op).status_code == 200
    kit = [
        {"sensor": "pir_hall", "kind": "motion", "room": "hall"},
        {"sensor": "panic", "kind": "button"},
        {"sensor": "bed_mat", "kind": "pressure", "room": "bedroom", "role": "bed"},
    ]
    home = {"label": "东湖路 8 号 3-501", "district": "东湖社区", "address": "东湖路 8 号", "sensors": kit}
    saved = c.post("/api/registry/homes", json=home, headers=op).json()
    home_id = saved["id"]
    assert saved["warning"]  # no broker configured here: registered, the account waits for the broker
    # No broker to tell: no bundle (no password is made), and the home stays downloadable for when it is back.
    assert c.post(f"/api/registry/homes/{home_id}/bundle", headers=op).status_code == 503
    assert c.post(f"/api/registry/homes/{home_id}/bundle", headers=op).status_code == 503
    resident = {
        "home": home_id,
        "name": "张秀英",
        "phone": RESIDENT,
        "consent": True,
        "contacts": [{"name": "张丽", "relation": "daughter", "phone": DAUGHTER}],
    }
    assert c.post("/api/registry/residents", json=resident, headers=op).status_code == 200
    volunteer = {
        "name": "李伟",
        "phone": VOLUNTEER,
        "district": "东湖社区",
        "skills": ["first aid"],
        "availability": [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "20:00"}],
        "vetted": True,
    }
    rid = c.post("/api/registry/responders", json=volunteer, headers=op).json()["id"]
    assert (
        c.post("/api/registry/assignments", json={"home": home_id, "phone": VOLUNTEER}, headers=op).status_code == 200
    )
    policy = {"district": "东湖社区", "spec": {"critical": {"steps": [{"wait_s": 120, "assigned": 1}]}}}
    assert c.post("/api/registry/policies", json=policy, headers=op).status_code == 200

    with url_session(db_url) as s:
        kit_rows = {
            (k.sensor, k.kind, k.room, k.role)
            for k in s.scalars(select(HomeSensor).where(HomeSensor.home_id == home_id))
        }
        # What ingest bounds series by: the wire kind (a mat sends "pressure"), its room; and what it is for.
        assert kit_rows == {
            ("pir_hall", "motion", "hall", None),
            ("panic", "button", None, None),
            ("bed_mat", "pressure", "bedroom", "bed"),
        }
        r = s.scalar(select(Responder).where(Responder.id == int(rid)))
        assert r is not None and r.verified and r.vetted_by == "operator:operator" and r.verified_at is not None
        res = s.scalar(select(Resident).where(Resident.home_id == home_id))
        assert res is not None and res.consent and res.consent_at is not None
        audit = [(a.action, json.dumps(a.detail, ensure_ascii=False)) for a in s.scalars(select(AuditLog))]
        home_row = s.get(Home, home_id)
        assert home_row is not None and home_row.district == "东湖社区" and home_row.bundle_issued_at is None
    actions = [a for a, _ in audit]
    for action in ("district_added", "home_added", "kit_set", "resident_added", "responder_added", "assigned"):
        assert action in actions
    assert "policy_set" in actions
    # The audit says who changed what, never a phone number or a resident's name.
    blob = " ".join(d for _, d in audit)
    assert not any(x in blob for x in (VOLUNTEER, RESIDENT, DAUGHTER, "张秀英", VOLUNTEER[-8:]))

    # The alerts service reads the district policy through alerts/route.py.
    from alerts.route import policy_for

    with url_session(db_url) as s:
        home_obj = s.get(Home, home_id)
        assert home_obj is not None
        assert policy_for(s, home_obj)["critical"]["steps"] == [{"wait_s": 120, "assigned": 1}]

    # Viewers see the registry without residents, addresses or any phone; operators see phones masked.
    seen = c.get("/api/registry", headers=bearer(tokens["viewer"])).json()
    text = json.dumps(seen, ensure_ascii=False)
    assert seen["homes"][0]["residents"] is None and seen["homes"][0]["address"] is None
    assert "张秀英" not in text and VOLUNTEER[-4:] not in text and DAUGHTER[-4:] not in text
    assert seen["responders"][0]["phone"] is None
    ops = c.get("/api/registry", headers=op).json()
    assert ops["homes"][0]["residents"][0]["name"] == "张秀英"
    with url_session(db_url) as s:
        views = [(a.actor, a.detail) for a in s.scalars(select(AuditLog).where(AuditLog.action == "view_registry"))]
    assert views == [("operator:viewer", {"personal_data": False}), ("operator:operator", {"personal_data": True})]
    masked = ops["responders"][0]["phone"]
    assert masked.startswith("+86") and VOLUNTEER not in json.dumps(ops)


def test_api_refuses_bad_changes_and_viewers(empty: tuple[TestClient, dict[str, str], str]) -> None:
    c, tokens, _db = empty
    op = bearer(tokens["operator"])
    bad = c.post("/api/registry/homes", json={"label": "x", "district": "nowhere"}, headers=op)
    assert bad.status_code == 422 and "unknown district 'nowhere'" in bad.json()["detail"]
    assert c.post("/api/registry/districts", json={"name": "d"}, headers=bearer(tokens["viewer"])).status_code == 403
    c.post("/api/registry/districts", json={"name": "d"}, headers=op)
    for body in (
        {"label": "x", "district": "d", "timezone": "Mars/Olympus"},
        {"label": "x", "district": "d", "sensors": [{"sensor": "a", "kind": "laser"}]},
        {"label": "x", "district": "d", "sensors": [{"sensor": "a", "kind": "door"}, {"sensor": "a", "kind": "door"}]},
    ):
        assert c.post("/api/registry/homes", json=body, headers=op).status_code == 422, body
    bad_phone = {"name": "n", "phone": "13912345678"}
    assert c.post("/api/registry/responders", json=bad_phone, headers=op).status_code == 422
    bad_policy = {"district": "d", "spec": {"critical": {"steps": "soon"}}}
    refused = c.post("/api/registry/policies", json=bad_policy, headers=op)
    assert refused.status_code == 422 and "escalation policy" in refused.json()["detail"]
    home = c.post("/api/registry/homes", json={"label": "x", "district": "d"}, headers=op).json()["id"]
    c.post("/api/registry/responders", json={"name": "n", "phone": VOLUNTEER}, headers=op)
    pair = {"home": home, "phone": VOLUNTEER}
    assert c.post("/api/registry/assignments", json=pair, headers=op).status_code == 200
    assert c.post("/api/registry/assignments/remove", json=pair, headers=op).status_code == 200
    again = c.post("/api/registry/assignments/remove", json=pair, headers=op)
    assert again.status_code == 422 and "not assigned" in again.json()["detail"]
    assert c.get("/api/registry", headers=op).json()["homes"][0]["assigned"] == []
    unknown = c.post("/api/registry/assignments", json={"home": "h-000000", "phone": VOLUNTEER}, headers=op)
    assert unknown.status_code == 422 and "unknown home" in unknown.json()["detail"]


def test_forms_need_csrf_and_show_errors_in_the_page_language(
    empty: tuple[TestClient, dict[str, str], str],
) -> None:
    c, _tokens, db_url = empty
    csrf = login(c, "operator")
    assert c.post("/registry/districts", data={"name": "西园社区"}).status_code == 403  # no CSRF token
    done = c.post("/registry/districts", data={"name": "西园社区", "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    form = {
        "csrf": csrf,
        "label": "西园 1-1",
        "district": "西园社区",
        "kit": "bed1 pressure bedroom bed\nlaser1 laser hall",
    }
    page = c.post("/registry/homes?lang=zh-CN", data=form)
    assert page.status_code == 400 and "sensors.1.kind" in page.text and "登记" in page.text
    form["kit"] = "bed1 pressure bedroom bed\npir1 motion living"
    made = c.post("/registry/homes", data=form, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/registry/homes/h-")
    assert "broker=down" in made.headers["location"]  # no broker here: said, not hidden
    with url_session(db_url) as s:
        assert len(list(s.scalars(select(HomeSensor)))) == 2
    home = made.headers["location"].split("/registry/homes/")[1].split("?")[0]
    sensor = {"csrf": csrf, "sensor": "door1", "kind": "door", "room": "Front Door"}
    bad_room = c.post(f"/registry/homes/{home}/sensors?lang=en", data=sensor)
    assert bad_room.status_code == 400 and "room" in bad_room.text
    sensor["room"] = "entrance"
    assert c.post(f"/registry/homes/{home}/sensors", data=sensor, follow_redirects=False).status_code == 303
    # A home id is checked against its pattern before it reaches an InfluxQL query.
    sneaky = c.get("/api/registry/homes/h-abc123' OR 1=1 --/install")
    assert sneaky.status_code in (404, 422)
    policy = {"csrf": csrf, "target": "district:西园社区", "spec": "{not json"}
    refused = c.post("/registry/policies?lang=en", data=policy)
    assert refused.status_code == 400 and "the policy is not JSON" in refused.text
    policy["spec"] = '{"warning": {"steps": [{"wait_s": 300, "assigned": 1}]}}'
    # A field's reason in the page's language, and a phone's in the form it takes.
    no_plus = c.post("/registry/responders?lang=zh-CN", data={"csrf": csrf, "name": "李伟", "phone": "13912345678"})
    assert no_plus.status_code == 400 and "phone：须为国际格式号码，例如 +8613912345678" in no_plus.text
    assert c.post("/registry/policies", data=policy, follow_redirects=False).status_code == 303
    assert "district:西园社区" in c.get("/registry").text
    with url_session(db_url) as s:
        assert len(list(s.scalars(select(HomeSensor).where(HomeSensor.home_id == home)))) == 3
    viewer = TestClient(c.app)
    v_csrf = login(viewer, "viewer")
    assert viewer.post("/registry/districts", data={"name": "x", "csrf": v_csrf}).status_code == 403
    shown = viewer.get("/registry?lang=en").text
    assert "West" not in shown and 'id="home-form"' not in shown and 'id="resident-form"' not in shown
    assert "西园 1-1" in shown


def test_a_homes_false_alarm_budget_is_set_in_the_console_and_reaches_its_running_monitor(
    empty: tuple[TestClient, dict[str, str], str],
) -> None:
    """The operator's knob (docs/anomaly.md, "Choosing the budget"): set in the API or the page, audited, read by the
    anomaly service's registry into a home already running, and cleared back to the deployment's."""
    from anomaly.engine import Engine, HomeLimits
    from anomaly.registry import Registry

    c, tokens, db_url = empty
    op = bearer(tokens["operator"])
    c.post("/api/registry/districts", json={"name": "d"}, headers=op)
    home = c.post("/api/registry/homes", json={"label": "x", "district": "d"}, headers=op).json()["id"]
    other = c.post("/api/registry/homes", json={"label": "y", "district": "d"}, headers=op).json()["id"]
    engine = Engine()
    running = engine.monitor(home)  # a home already watched: the new budget recalibrates it
    configured = {other: HomeLimits(false_alarm_budget_per_60d=3.0)}  # the TOML's per-home limits
    registry = Registry(engine, db_url, configured)
    share = engine.options.tuning.budget_share
    assert c.post(f"/api/registry/homes/{home}/budget", json={"budget": 2.5}, headers=op).status_code == 200
    registry.load()
    assert running.limits.false_alarm_budget_per_60d == 2.5 and running.idle.model.budget_per_60d == 2.5 * share
    assert engine.monitor(other).limits.false_alarm_budget_per_60d == 1.0  # not the TOML's until the registry says
    assert c.get("/api/registry", headers=op).json()["homes"][0]["false_alarm_budget"] == 2.5
    # Out of range (5e-324 made the model's level 0 and its limits divide by it), not a number, or missing.
    for bad in ({"budget": 5e-324}, {"budget": 31}, {"budget": "2"}, {"budget": True}, {}):
        refused = c.post(f"/api/registry/homes/{home}/budget", json=bad, headers=op)
        assert refused.status_code == 422 and "budget" in json.dumps(refused.json()["detail"]), bad
    unknown = c.post("/api/registry/homes/h-000000/budget", json={"budget": 2}, headers=op)
    assert unknown.status_code == 422 and "unknown home" in unknown.json()["detail"]
    viewer = bearer(tokens["viewer"])
    assert c.post(f"/api/registry/homes/{home}/budget", json={"budget": 9}, headers=viewer).status_code == 403
    # The page: a bad value re-shows it with the reason in its language; blank returns the home to the default.
    csrf = login(c, "operator")
    for typed, why in (
        ("lots", "需要一个数字"),
        ("1_0", "需要一个数字"),
        ("0", "不能小于 0.01"),
        ("nan", "需要一个数字"),
    ):
        page = c.post(f"/registry/homes/{home}/budget?lang=zh-CN", data={"csrf": csrf, "budget": typed})
        notice = re.search(r'role="alert">([^<]*)<', page.text)
        # The field named, the reason in the page's language (not pydantic's English).
        assert page.status_code == 400 and notice is not None and notice.group(1) == f"budget：{why}", typed
    done = c.post(f"/registry/homes/{home}/budget", data={"csrf": csrf, "budget": ""}, follow_redirects=False)
    assert done.status_code == 303
    assert "uses the deployment" in c.get(f"/registry/homes/{home}?lang=en").text
    registry.load()
    assert running.limits.false_alarm_budget_per_60d == 1.0 and running.idle.model.budget_per_60d == 1.0 * share
    # A budget written past the console (out of range) is ignored; the home keeps its configured limits.
    with url_session(db_url) as s, s.begin():
        row = s.get(Home, other)
        assert row is not None
        row.false_alarm_budget = 500.0
    registry.load()
    assert engine.monitor(other).limits == configured[other]
    with url_session(db_url) as s:
        audit = [a.detail for a in s.scalars(select(AuditLog).where(AuditLog.action == "budget_set"))]
    assert audit == [{"budget": 2.5}, {"budget": None}]


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def _anxin(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {"ANXIN_DATABASE__URL": db_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "anxin", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_cli_imports_a_district_spreadsheet_and_exports_it_back(db_url: str, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "districts.csv", [["name"], ["东湖社区"]])
    _write(src / "homes.csv", [["label", "district", "address"], ["3-501", "东湖社区", "东湖路 8 号"]])
    _write(src / "sensors.csv", [["home", "sensor", "kind", "room"], ["3-501", "pir1", "motion", "hall"]])
    _write(
        src / "responders.csv",
        [
            ["name", "phone", "role", "district", "availability", "vetted"],
            ["李伟", VOLUNTEER, "volunteer", "东湖社区", "0-4 08:00-20:00", "yes"],
        ],
    )
    _write(src / "assignments.csv", [["home", "phone", "priority"], ["3-501", VOLUNTEER, "1"]])
    _write(
        src / "residents.csv",
        [["home", "name", "consent", "contacts"], ["3-501", "张秀英", "yes", f"张丽, daughter, {DAUGHTER}, sms"]],
    )
    done = _anxin("registry", "import", str(src), db_url=db_url)
    assert done.returncode == 0, done.stderr
    assert "1 districts, 1 homes, 1 sensors, 1 residents, 1 responders, 1 assignments" in done.stdout

    out = tmp_path / "sheet.csv"
    assert _anxin("registry", "export", str(out), db_url=db_url).returncode == 0
    assert out.stat().st_mode & 0o777 == 0o600  # phone numbers inside
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["table"] for r in rows} == {"districts", "homes", "sensors", "residents", "responders", "assignments"}
    vol = next(r for r in rows if r["table"] == "responders")
    assert (vol["phone"], vol["availability"], vol["vetted"]) == (VOLUNTEER, "0,1,2,3,4 08:00-20:00", "yes")
    # The exported sheet imports again unchanged (homes by id now): nothing doubles.
    again = _anxin("registry", "import", str(out), db_url=db_url)
    assert again.returncode == 0, again.stderr
    with url_session(db_url) as s:
        assert len(list(s.scalars(select(Home)))) == 1 and len(list(s.scalars(select(Responder)))) == 1
        # A family contact asked for alert SMS keeps asking after the round trip (alerts/family.py reads the flag).
        resident = s.scalar(select(Resident))
        assert resident is not None and resident.consent
        assert resident.contacts == [{"name": "张丽", "relation": "daughter", "phone": DAUGHTER, "sms": True}]


def test_cli_mistakes_end_in_one_line_with_exit_2(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    _write(
        bad,
        [
            ["table", "name", "label", "district", "phone"],
            ["districts", "d", "", "", ""],
            ["homes", "", "x", "nowhere", ""],
        ],
    )
    cases = {
        ("registry", "import", str(bad)): "bad.csv line 3 (homes): unknown district 'nowhere'",
        ("registry", "import", str(tmp_path / "missing")): "no such file or folder",
    }
    for args, expected in cases.items():
        done = _anxin(*args, db_url=db_url)
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    with url_session(db_url) as s:
        assert list(s.scalars(select(Home))) == []  # all or nothing: the good district row was rolled back too
    _write(bad, [["home", "sensor", "kind"], ["h-nothere1", "pir", "motion"]])
    (tmp_path / "dir").mkdir()
    bad.rename(tmp_path / "dir" / "sensors.csv")
    done = _anxin("registry", "import", str(tmp_path / "dir"), db_url=db_url)
    assert done.returncode == 2 and "sensors.csv line 2 (sensors): unknown home 'h-nothere1'" in done.stderr
    missing = _anxin("registry", "export", str(tmp_path / "x"), "-c", str(tmp_path / "nope.toml"), db_url=db_url)
    assert (
        missing.returncode == 2 and "nope.toml does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )
    empty_db = f"sqlite:///{tmp_path / 'none.db'}"
    done = _anxin("registry", "export", str(tmp_path / "x"), db_url=empty_db)
    assert done.returncode == 2 and "anxin db upgrade" in done.stderr and "Traceback" not in done.stderr
