"""The operator console's pages and JSON API on a real SQLite and a real InfluxDB 1.6.7, through TestClient."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from anxin.db.engine import make_engine, session_factory
from anxin.influxql import InfluxQL, Series
from console.app import create_app
from ingest.deadletters import DeadLetterLimits, DeadLetters
from ingest.metrics import IngestMetrics
from shell.servers import InfluxD, free_port
from tests.support.console_fixtures import (
    PASSWORD,
    PHONE,
    PHONE_2,
    RESIDENT_PHONE,
    Seeded,
    app_client,
    bearer,
    console_settings,
    login,
    seeded,
)

pytestmark = pytest.mark.integration
__all__ = ["app_client", "seeded"]


def test_everything_needs_a_login_or_a_token(app_client: TestClient, seeded: Seeded) -> None:
    for path in ("/api/homes", "/api/alerts", f"/api/alerts/{seeded.lie_id}", "/api/outbox", "/api/responders"):
        assert app_client.get(path).status_code == 401, path
    assert app_client.get("/api/homes", headers=bearer("anx_wrong")).status_code == 401
    page = app_client.get("/alerts?lang=en", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Falerts%3Flang%3Den"
    assert app_client.post(f"/api/alerts/{seeded.lie_id}/acknowledge").status_code == 401
    health = app_client.get("/healthz").json()
    assert (health["status"], health["down"], health["checks"]["database"]) == ("ok", [], {"ok": True})


def test_api_homes_states_activity_and_filters(app_client: TestClient, seeded: Seeded) -> None:
    body = app_client.get("/api/homes", headers=bearer(seeded.tokens["viewer"])).json()
    assert body["activity_available"] is True
    homes = {h["id"]: h for h in body["homes"]}
    a, b, c = homes[seeded.a], homes[seeded.b], homes[seeded.c]
    assert datetime.fromisoformat(a["last_activity"]) == seeded.last_a
    assert (a["state"], a["online"], a["open_alerts"], a["min_battery"], a["queue_depth"]) == ("alert", True, 2, 15, 3)
    assert a["responders"] == ["李伟"]
    assert (b["state"], b["last_activity"], b["online"]) == ("offline", None, False)
    assert (c["state"], c["open_alerts"]) == ("watch", 1)  # an open info alert on a new home
    assert body["counts"] == {"alert": 1, "offline": 1, "watch": 1, "learning": 0, "ok": 0}
    h = bearer(seeded.tokens["viewer"])
    assert [x["id"] for x in app_client.get("/api/homes?state=offline", headers=h).json()["homes"]] == [seeded.b]
    assert {x["id"] for x in app_client.get("/api/homes?district=青山社区", headers=h).json()["homes"]} == {
        seeded.a,
        seeded.c,
    }
    assert [x["id"] for x in app_client.get("/api/homes?q=elm", headers=h).json()["homes"]] == [seeded.b]
    rid = app_client.get("/api/responders", headers=h).json()["responders"]
    li = next(r["id"] for r in rid if r["name"] == "李伟")
    assert [x["id"] for x in app_client.get(f"/api/homes?responder={li}", headers=h).json()["homes"]] == [seeded.a]
    assert app_client.get("/api/homes?state=bogus", headers=h).status_code == 422


def test_login_lockout_and_logout(db_url: str, influxd: InfluxD, seeded: Seeded) -> None:
    settings = console_settings(db_url, influxd.url, lockout_after=3, lockout_minutes=5)
    with TestClient(create_app(settings, background=False)) as c:
        page = c.get("/login?lang=en")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        form = {"username": "operator", "csrf": csrf, "next": "/homes"}
        # No CSRF cookie value: refused before the password is even checked.
        assert c.post("/login", data={**form, "csrf": "x", "password": PASSWORD}).status_code == 403
        for _ in range(2):
            assert c.post("/login?lang=en", data={**form, "password": "nope"}).status_code == 401
        third = c.post("/login?lang=en", data={**form, "password": "nope"})
        assert third.status_code == 401 and "Wrong username or password" in third.text
        # Three failures in a row from here: the next try waits (a short, growing wait, never a lock-out).
        locked = c.post("/login?lang=en", data={**form, "password": PASSWORD})
        assert locked.status_code == 429 and "try again in 2 s" in locked.text
        assert locked.headers["retry-after"] == "2"
        assert "anxin_session" not in c.cookies
        assert PASSWORD not in locked.text
        token = login(c, "admin")
        assert c.get("/api/me").json() == {
            "username": "admin",
            "name": "Admin One",
            "role": "admin",
            "may_act": True,
            "sees_personal_data": True,
        }
        audit = c.get("/api/audit").json()["entries"]
        actions = [(e["actor"], e["action"]) for e in audit]
        assert ("login:operator", "login_refused") in actions and ("operator:admin", "login") in actions
        assert c.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
        assert c.get("/api/me").status_code == 401


def test_alert_actions_through_the_api(app_client: TestClient, seeded: Seeded) -> None:
    op = bearer(seeded.tokens["operator"])
    viewer = bearer(seeded.tokens["viewer"])
    url = f"/api/alerts/{seeded.battery_id}"
    assert app_client.post(f"{url}/acknowledge", headers=viewer).status_code == 403
    ack = app_client.post(f"{url}/acknowledge", headers=op)
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    assert app_client.post(f"{url}/notes", headers=op, json={"text": "battery swapped"}).status_code == 200
    assert app_client.post(f"{url}/notes", headers=op, json={"text": ""}).status_code == 422
    assert app_client.post(f"{url}/resolve", headers=op, json={"outcome": "nope"}).status_code == 422
    done = app_client.post(f"{url}/resolve", headers=op, json={"outcome": "device_fault", "note": "fixed"})
    assert done.status_code == 200 and done.json()["state"] == "resolved"
    again = app_client.post(f"{url}/resolve", headers=op, json={"outcome": "device_fault"})
    assert again.status_code == 409
    assert app_client.post("/api/alerts/99999/acknowledge", headers=op).status_code == 404
    detail = app_client.get(url, headers=op).json()
    assert detail["alert"]["outcome"] == "device_fault"
    actions = [e["action"] for e in detail["timeline"]]
    assert actions[-3:] == ["acknowledged", "note", "resolved"]
    assert detail["timeline"][-1]["actor"] == "operator:operator"
    silence = app_client.post(
        f"/api/homes/{seeded.a}/silence", headers=op, json={"minutes": 60, "reason": "hub being replaced"}
    )
    assert silence.status_code == 200 and silence.json()["silenced_until"]
    assert (
        app_client.post(f"/api/homes/{seeded.a}/silence", headers=op, json={"minutes": 1, "reason": "x"}).status_code
        == 422
    )
    audit = app_client.get("/api/audit", headers=bearer(seeded.tokens["admin"])).json()["entries"]
    assert {"alert_acknowledge", "alert_note", "alert_resolve", "home_silence"} <= {e["action"] for e in audit}
    assert app_client.get("/api/audit", headers=op).status_code == 403


def test_alert_page_forms_need_the_csrf_token(app_client: TestClient, seeded: Seeded) -> None:
    csrf = login(app_client, "operator")
    url = f"/alerts/{seeded.battery_id}/action"
    assert app_client.post(url, data={"action": "ack", "csrf": "forged"}).status_code == 403
    # A session-authenticated API call needs the token in a header too.
    assert app_client.post(f"/api/alerts/{seeded.battery_id}/acknowledge").status_code == 403
    ok = app_client.post(url, data={"action": "ack", "csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].endswith("?done=ack")
    bad = app_client.post(url + "?lang=en", data={"action": "resolve", "csrf": csrf, "outcome": ""})
    assert bad.status_code == 422 and "missing or invalid" in bad.text
    page = app_client.get(f"/alerts/{seeded.battery_id}?lang=en&done=ack")
    assert "Acknowledged." in page.text and "Operator One" in page.text


def test_alert_detail_shows_evidence_and_each_sms_with_its_status(app_client: TestClient, seeded: Seeded) -> None:
    login(app_client, "operator")
    detail = app_client.get(f"/api/alerts/{seeded.lie_id}").json()
    sms = [e for e in detail["timeline"] if e["action"].startswith("sms_")]
    # Masked with a keyed tag, so two numbers ending alike still look different.
    assert [e["sms_status"] for e in sms] == ["local", "failed"]
    assert [re.fullmatch(r"\+86\*{7}(\d{4})#[0-9a-f]{4}", e["sms_to"])[1] for e in sms] == ["1234", "6789"]
    assert detail["evidence"]["room"] == "bathroom"
    page = app_client.get(f"/alerts/{seeded.lie_id}?lang=en").text
    for text in ("Evidence", "Last movement", "SMS sent", "Kept in local outbox", "Failed", "Acknowledge"):
        assert text in page, text
    zh = app_client.get(f"/alerts/{seeded.lie_id}?lang=zh-CN").text
    for text in ("依据", "时间线", "短信已发出", "结束告警", "老人安好"):
        assert text in zh, text
    for raw in (PHONE, PHONE_2):
        assert raw not in page and raw not in str(detail)


def test_viewer_never_sees_personal_data(app_client: TestClient, seeded: Seeded) -> None:
    viewer, op = bearer(seeded.tokens["viewer"]), bearer(seeded.tokens["operator"])
    assert app_client.get(f"/api/homes/{seeded.a}", headers=viewer).json()["residents"] is None
    assert app_client.get(f"/api/homes/{seeded.a}", headers=op).json()["residents"][0]["name"] == "张秀英"
    assert all(r["phone"] is None for r in app_client.get("/api/responders", headers=viewer).json()["responders"])
    login(app_client, "viewer")
    page = app_client.get(f"/homes/{seeded.a}?lang=en").text
    assert "张秀英" not in page and RESIDENT_PHONE not in page and "may not see residents" in page
    alert = app_client.get(f"/alerts/{seeded.battery_id}?lang=en").text
    assert "Read-only account" in alert and 'id="ack"' not in alert
    assert app_client.get("/audit").status_code == 403


def test_home_page_charts_sensors_and_hub(app_client: TestClient, seeded: Seeded) -> None:
    login(app_client, "operator")
    detail = app_client.get(f"/api/homes/{seeded.a}").json()
    assert detail["activity_available"] is True
    assert sum(detail["rooms_by_hour"]["living"]) == 1 and sum(detail["door_openings"]) == 1
    sensors = {s["sensor"]: s for s in detail["sensors"]}
    assert (sensors["door1"]["battery"], sensors["pir1"]["battery"]) == (15, 80)
    assert detail["heartbeat"]["queue_depth"] == 3 and detail["agent"]["online"] == 1
    assert detail["routine"] is None  # no routine table yet, or none learned for this home
    page = app_client.get(f"/homes/{seeded.a}?lang=en").text
    assert page.count("<svg") == 4 and "Living room" in page and "15%" in page  # the timeline and three charts
    assert app_client.get("/homes/h-nope").status_code == 404
    assert app_client.get("/api/homes/bad'id").status_code == 404


def test_outbox_dead_letters_responders_pages(app_client: TestClient, seeded: Seeded) -> None:
    login(app_client, "operator")
    resp = app_client.get("/api/outbox")
    messages = resp.json()["messages"]
    assert [m["to"][:14] for m in messages] == ["+86*******6789", "+86*******1234"]
    assert messages[0]["error"] == f"The 'To' number {messages[0]['to']} is not a valid phone number."
    assert PHONE not in resp.text and PHONE_2 not in resp.text
    assert len(app_client.get("/api/outbox?status=failed").json()["messages"]) == 1
    assert app_client.get("/api/outbox?limit=0").status_code == 422
    empty = {"total": 0, "reasons": {}, "kept": 0, "sources": [], "letters": []}
    assert app_client.get("/api/dead-letters").json() == empty
    for path, text in (("/outbox", "SMS outbox"), ("/dead-letters", "Nothing was rejected"), ("/responders", "李伟")):
        page = app_client.get(path + "?lang=en")
        assert page.status_code == 200 and text in page.text, path


def test_language_cookie_and_accept_language(app_client: TestClient) -> None:
    login(app_client, "viewer")
    assert '<html lang="zh-CN">' in app_client.get("/homes").text
    first = app_client.get("/alerts?lang=en")
    assert first.cookies.get("anxin_lang") == "en"
    assert '<html lang="en">' in app_client.get("/homes").text
    app_client.cookies.delete("anxin_lang")
    assert '<html lang="en">' in app_client.get("/homes", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert '<html lang="zh-CN">' in app_client.get("/homes", headers={"Accept-Language": "zh-TW,zh"}).text


def test_console_renders_without_influxdb(db_url: str, seeded: Seeded) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with TestClient(create_app(console_settings(db_url, dead), background=False)) as c:
        body = c.get("/api/homes", headers=bearer(seeded.tokens["viewer"])).json()
        assert body["activity_available"] is False
        homes = {h["id"]: h for h in body["homes"]}
        assert (homes[seeded.a]["last_activity"], homes[seeded.a]["open_alerts"]) == (None, 2)
        login(c, "viewer")
        zh = c.get("/homes?lang=zh-CN")
        assert zh.status_code == 200 and "活动数据暂不可用" in zh.text and "青山里 3-201" in zh.text
        assert c.get(f"/homes/{seeded.a}?lang=en").status_code == 200


@dataclass(frozen=True)
class CountingInfluxQL(InfluxQL):
    """The real client, counting the statements it runs."""

    calls: list[str] | None = None

    def query(self, q: str) -> list[Series]:
        assert self.calls is not None
        self.calls.append(q)
        return super().query(q)


def test_pages_read_the_activity_snapshot_not_influxdb(db_url: str, influxd: InfluxD, seeded: Seeded) -> None:
    calls: list[str] = []
    app = create_app(console_settings(db_url, influxd.url), background=False)
    from console.snapshot import ActivitySnapshot

    app.state.snapshot = ActivitySnapshot(CountingInfluxQL(influxd.url, "anxin", calls=calls), refresh_s=60)
    with TestClient(app) as c:
        h = bearer(seeded.tokens["viewer"])
        for _ in range(5):
            assert c.get("/api/homes", headers=h).status_code == 200
        assert len(calls) == 3  # one snapshot read, three statements; none per request after it
        app.state.snapshot.refresh()
        assert len(calls) == 6 and all("now() - 7" in q or "now() - 6" in q for q in calls[3:])


def test_openapi_documents_the_api(app_client: TestClient) -> None:
    spec = app_client.get("/api/openapi.json").json()
    for path in ("/api/homes", "/api/homes/{home_id}", "/api/alerts/{alert_id}/resolve", "/api/audit", "/api/stream"):
        assert path in spec["paths"], path
    assert "/login" not in spec["paths"]


def test_healthz_and_sql_outage(app_client: TestClient, seeded: Seeded) -> None:
    engine = make_engine("sqlite://")
    app_client.app.state.sessions = session_factory(engine)  # type: ignore[attr-defined]
    assert app_client.get("/api/alerts", headers=bearer(seeded.tokens["viewer"])).status_code == 503
    engine.dispose()


def test_dead_letters_show_exact_counts_and_the_sample(
    app_client: TestClient, seeded: Seeded, db_url: str, tmp_path: Path
) -> None:
    # Ingest's own sink writes the counts and the sample: 40 rejections from one home, 3 with no home in the topic.
    engine = make_engine(db_url)
    sink = DeadLetters(DeadLetterLimits(samples=5), session_factory(engine), tmp_path / "dl.jsonl", IngestMetrics(dict))
    bad = [(f"anxin/v1/homes/{seeded.a}/events", b"{", "invalid_json", "not JSON", True)] * 40
    sink.keep(bad + [("nope/+13812345678", b"x", "bad_topic", "not a contract topic", True)] * 3)
    engine.dispose()
    login(app_client, "viewer")
    body = app_client.get("/api/dead-letters?limit=2").json()
    # Totals are every rejection, not the 8 rows kept; the samples are the newest rows, limited.
    assert (body["total"], body["reasons"], body["kept"]) == (43, {"bad_topic": 3, "invalid_json": 40}, 8)
    by_key = {(s["home"], s["reason"]): (s["count"], s["sampled"]) for s in body["sources"]}
    assert by_key == {(seeded.a, "invalid_json"): (40, 5), ("-", "bad_topic"): (3, 3)}
    assert len(body["letters"]) == 2
    assert "13812345678" not in app_client.get("/api/dead-letters").text  # a number in a topic is masked
    page = app_client.get("/dead-letters?lang=en").text
    assert "43 rejected messages in all" in page and "No home (bad topic)" in page
    assert "Samples kept: the newest of 8" in page
