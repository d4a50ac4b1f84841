"""The operator console against a real SQLite database and a real InfluxDB 1.6.7."""

from __future__ import annotations

import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, Home, Responder, SmsOutbox
from anxin.influxql import InfluxQL, Series
from anxin.servers import InfluxD, free_port
from anxin.settings import DatabaseSettings, InfluxSettings
from console.app import create_app
from console.config import ConsoleOptions, ConsoleSettings

pytestmark = pytest.mark.integration

PHONE = "+8613812341234"
PHONE_2 = "+8613955556789"


@dataclass
class Seeded:
    """Ids and times of what a test wrote."""

    a: str
    b: str
    c: str
    last_a: datetime
    now: datetime


def _home_id() -> str:
    return "h-" + secrets.token_hex(6)


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _write(influxd: InfluxD, lines: list[str]) -> None:
    req = urllib.request.Request(
        f"{influxd.url}/write?db=anxin&precision=ms", data="\n".join(lines).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


def _seed_sql(db_url: str, a: str, b: str, c: str, now: datetime) -> None:
    engine = make_engine(db_url)
    with session_factory(engine)() as s, s.begin():
        s.add_all(
            [
                Home(id=a, label="青山里 3-201", district="青山社区", created_at=now),
                Home(id=b, label="Elm Court 7", district="Riverside", created_at=now),
                Home(id=c, label="桂花园 12-3", district="青山社区", created_at=now),
            ]
        )
        li = Responder(name="李伟", phone=PHONE, verified=True)
        s.add_all([li, Responder(name="Wang Fang", phone=PHONE_2, verified=True)])
        s.flush()

        def alert(home: str, kind: str, severity: str, state: str, code: str, since_min: int, **kw: object) -> Alert:
            since = now - timedelta(minutes=since_min)
            return Alert(
                home_id=home,
                kind=kind,
                severity=severity,
                state=state,
                code=code,
                opened_at=since,
                updated_at=now,
                since=since,
                first_finding_id=f"f-{code}",
                evidence={},
                **kw,
            )

        lie = alert(a, "long_inactivity", "critical", "acknowledged", "K7Q2", 45, count=3, acknowledged_by=li.id)
        s.add_all(
            [
                lie,
                alert(a, "battery_low", "warning", "open", "B3X9", 600),
                alert(b, "night_exit", "critical", "resolved", "R111", 900, resolved_at=now),
                alert(c, "agent_offline", "warning", "expired", "E222", 900),
                alert(c, "mystery_signal", "info", "snoozed", "M333", 20),
            ]
        )
        s.flush()
        s.add_all(
            [
                SmsOutbox(
                    key="k1",
                    alert_id=lie.id,
                    responder_id=li.id,
                    to_number=PHONE,
                    body="安心告警 青山里 3-201（青山社区）：长时间无活动，自 09:15 起。回复 K7Q2 确认。",
                    lang="zh-CN",
                    status="local",
                    provider="local",
                    attempts=1,
                    created_at=now - timedelta(minutes=44),
                    sent_at=now,
                ),
                SmsOutbox(
                    key="k2",
                    alert_id=lie.id,
                    responder_id=None,
                    to_number=PHONE_2,
                    body="Anxin: reply K7Q2",
                    lang="en",
                    status="failed",
                    provider="twilio",
                    attempts=3,
                    created_at=now - timedelta(minutes=40),
                    error=f"The 'To' number {PHONE_2} is not a valid phone number.",
                ),
            ]
        )
    engine.dispose()


@pytest.fixture
def seeded(db_url: str, influxd: InfluxD) -> Seeded:
    """Three homes with alerts and SMS in SQL, and their events and hub states in InfluxDB."""
    a, b, c = _home_id(), _home_id(), _home_id()
    now = datetime.now(UTC).replace(microsecond=0)
    _seed_sql(db_url, a, b, c, now)
    last_a = now - timedelta(minutes=2)
    _write(
        influxd,
        [
            f"sensor_event,home={a},agent=pi1,sensor=pir1,kind=motion,room=living value=1,seq=5i,battery=80i "
            f"{_ms(now - timedelta(minutes=10))}",
            f'sensor_event,home={a},agent=pi1,sensor=door1,kind=door,room=hall text="open",seq=6i {_ms(last_a)}',
            # Older than the 30-day window: the home counts as having no recent activity.
            f"sensor_event,home={b},agent=pi1,sensor=pir1,kind=motion value=1,seq=9i {_ms(now - timedelta(days=40))}",
            f'agent_status,home={a},agent=pi1 online=1i,state="online",version="0.1.0" {_ms(now - timedelta(hours=1))}',
            f'agent_status,home={b},agent=pi1 online=1i,state="online",version="0.1.0" {_ms(now - timedelta(hours=2))}',
            f'agent_status,home={b},agent=pi1 online=0i,state="offline",version="0.1.0" '
            f"{_ms(now - timedelta(hours=1))}",
            f"heartbeat,home={a},agent=pi1 queue_depth=0i,uptime_s=3600.0 {_ms(now - timedelta(minutes=1))}",
        ],
    )
    return Seeded(a, b, c, last_a, now)


def _settings(db_url: str, influx_url: str) -> ConsoleSettings:
    return ConsoleSettings(
        console=ConsoleOptions(),
        database=DatabaseSettings(url=db_url),
        influx=InfluxSettings(url=influx_url),
    )


@pytest.fixture
def client(db_url: str, influxd: InfluxD, seeded: Seeded) -> Iterator[TestClient]:
    """A client of the console wired to the seeded database and the real InfluxDB."""
    with TestClient(create_app(_settings(db_url, influxd.url))) as c:
        yield c


def test_api_homes_has_last_activity_online_and_open_alerts(client: TestClient, seeded: Seeded) -> None:
    resp = client.get("/api/homes")
    assert resp.status_code == 200
    body = resp.json()
    assert body["activity_available"] is True
    homes = {h["id"]: h for h in body["homes"]}
    assert set(homes) == {seeded.a, seeded.b, seeded.c}
    a, b, c = homes[seeded.a], homes[seeded.b], homes[seeded.c]
    assert datetime.fromisoformat(a["last_activity"]) == seeded.last_a
    assert (a["online"], a["open_alerts"], a["label"], a["district"]) == (True, 2, "青山里 3-201", "青山社区")
    assert (b["last_activity"], b["online"], b["open_alerts"]) == (None, False, 0)
    assert (c["last_activity"], c["online"], c["open_alerts"]) == (None, None, 1)
    # Ordered by district, then label.
    assert [h["district"] for h in body["homes"]] == sorted(h["district"] for h in body["homes"])


def test_api_alerts_lists_only_open_alerts_most_severe_first(client: TestClient, seeded: Seeded) -> None:
    alerts = client.get("/api/alerts").json()["alerts"]
    assert [a["code"] for a in alerts] == ["K7Q2", "B3X9", "M333"]
    lie = alerts[0]
    assert lie["home_id"] == seeded.a
    assert (lie["home_label"], lie["district"], lie["kind"], lie["severity"]) == (
        "青山里 3-201",
        "青山社区",
        "long_inactivity",
        "critical",
    )
    assert (lie["state"], lie["count"], lie["acknowledged_by"]) == ("acknowledged", 3, "李伟")
    assert datetime.fromisoformat(lie["since"]) == seeded.now - timedelta(minutes=45)
    assert alerts[1]["acknowledged_by"] is None


def test_api_outbox_masks_numbers(client: TestClient) -> None:
    resp = client.get("/api/outbox")
    messages = resp.json()["messages"]
    assert [m["to"] for m in messages] == ["+86******6789", "+86******1234"]
    assert messages[0]["error"] == "The 'To' number +86******6789 is not a valid phone number."
    assert messages[1]["responder"] == "李伟" and messages[1]["alert_code"] == "K7Q2"
    assert PHONE not in resp.text and PHONE_2 not in resp.text
    assert len(client.get("/api/outbox?limit=1").json()["messages"]) == 1
    assert client.get("/api/outbox?limit=0").status_code == 422


def test_pages_in_chinese(client: TestClient, seeded: Seeded) -> None:
    homes = client.get("/homes?lang=zh-CN")
    assert homes.status_code == 200
    assert '<html lang="zh-CN">' in homes.text
    for text in ("家庭", "告警", "最近活动", "在线", "离线", "未知", "青山里 3-201", "30 天内无活动", "分钟前"):
        assert text in homes.text, text
    shown = seeded.last_a.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert shown in homes.text
    assert '<meta http-equiv="refresh" content="10">' in homes.text
    alerts = client.get("/alerts?lang=zh-CN").text
    for text in ("未结告警", "长时间无活动", "传感器电量低", "紧急", "警告", "已确认", "待处理", "K7Q2", "李伟"):
        assert text in alerts, text
    assert "mystery signal" in alerts and "snoozed" in alerts  # unknown kinds and states still read sensibly
    assert "网关离线" not in alerts and "E222" not in alerts and "R111" not in alerts
    outbox = client.get("/outbox?lang=zh-CN").text
    expected = ["短信发件箱", "+86******1234", "+86******6789", "本地发件箱", "已存本地发件箱", "发送失败"]
    expected.append("长时间无活动，自 09:15 起")
    for text in expected:
        assert text in outbox, text
    assert PHONE not in outbox and PHONE_2 not in outbox


def test_pages_in_english(client: TestClient) -> None:
    homes = client.get("/homes?lang=en").text
    assert '<html lang="en">' in homes
    for text in ("Homes", "Last activity", "Online", "Offline", "Unknown", "Open alerts", "None in 30 days"):
        assert text in homes, text
    assert "家庭" not in homes.replace("中文", "")
    alerts = client.get("/alerts?lang=en").text
    for text in ("Open alerts", "Long inactivity", "Critical", "Warning", "Acknowledged", "Open", "Sensor battery low"):
        assert text in alerts, text
    outbox = client.get("/outbox?lang=en").text
    for text in ("SMS outbox", "Local outbox", "Kept in local outbox", "Failed", "+86******1234"):
        assert text in outbox, text


def test_language_is_remembered_in_a_cookie(client: TestClient) -> None:
    first = client.get("/alerts?lang=en")
    assert first.cookies.get("anxin_lang") == "en"
    assert '<html lang="en">' in client.get("/homes").text
    assert '<html lang="en">' in client.get("/outbox", headers={"Accept-Language": "zh-CN"}).text
    client.get("/homes?lang=zh-CN")
    assert '<html lang="zh-CN">' in client.get("/alerts").text


def test_accept_language_and_default(db_url: str, influxd: InfluxD, seeded: Seeded) -> None:
    with TestClient(create_app(_settings(db_url, influxd.url))) as c:
        assert '<html lang="en">' in c.get("/homes", headers={"Accept-Language": "en-US,en;q=0.9"}).text
        assert '<html lang="en">' in c.get("/", headers={"Accept-Language": "fr-FR, en;q=0.5, zh;q=0.2"}).text
        assert '<html lang="zh-CN">' in c.get("/", headers={"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.8"}).text
        assert '<html lang="zh-CN">' in c.get("/", headers={"Accept-Language": "de-DE"}).text
        assert '<html lang="zh-CN">' in c.get("/alerts").text
        assert "anxin_lang" not in c.cookies


def test_console_renders_without_influxdb(db_url: str, seeded: Seeded) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with TestClient(create_app(_settings(db_url, dead))) as c:
        body = c.get("/api/homes").json()
        assert body["activity_available"] is False
        homes = {h["id"]: h for h in body["homes"]}
        assert homes[seeded.a] == {**homes[seeded.a], "last_activity": None, "online": None, "open_alerts": 2}
        zh = c.get("/homes?lang=zh-CN")
        assert zh.status_code == 200 and "活动数据暂不可用" in zh.text and "青山里 3-201" in zh.text
        en = c.get("/homes?lang=en")
        assert en.status_code == 200 and "Activity data is unavailable" in en.text
        assert c.get("/alerts").status_code == 200
        assert c.get("/outbox").status_code == 200
        assert c.get("/healthz").json() == {"status": "ok", "database": True}


@dataclass(frozen=True)
class CountingInfluxQL(InfluxQL):
    """The real client, counting the statements it runs."""

    calls: list[str] | None = None

    def query(self, q: str) -> list[Series]:
        assert self.calls is not None
        self.calls.append(q)
        return super().query(q)


def test_activity_is_two_queries_per_page_whatever_the_number_of_homes(
    client: TestClient, influxd: InfluxD, db_url: str
) -> None:
    now = datetime.now(UTC)
    with Session(make_engine(db_url)) as s, s.begin():
        s.add_all(Home(id=_home_id(), label=f"楼 {i}", district="新区", created_at=now) for i in range(50))
    calls: list[str] = []
    client.app.state.influx = CountingInfluxQL(influxd.url, "anxin", calls=calls)  # type: ignore[attr-defined]
    assert len(client.get("/homes").text) > 0
    assert len(calls) == 2
    assert len(client.get("/api/homes").json()["homes"]) == 53
    assert len(calls) == 4
    client.get("/alerts")
    client.get("/outbox")
    assert len(calls) == 4


def test_healthz_and_sql_outage(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": True}
    # A database without the schema: pages answer 503 with a readable message, not a stack trace.
    engine = make_engine("sqlite://")
    client.app.state.sessions = session_factory(engine)  # type: ignore[attr-defined]
    page = client.get("/alerts?lang=en")
    assert page.status_code == 503 and "The database is unavailable" in page.text
    assert client.get("/api/alerts").status_code == 503
    engine.dispose()
