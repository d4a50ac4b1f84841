"""Console test fixtures: a seeded SQLite and InfluxDB, accounts of each role, and logged-in clients."""

from __future__ import annotations

import re
import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertEvent, Assignment, Home, Resident, Responder, SmsOutbox
from anxin.settings import DatabaseSettings, InfluxSettings
from console.accounts import create_operator, create_token
from console.app import create_app
from console.config import ConsoleOptions, ConsoleSettings
from shell.servers import InfluxD

PHONE = "+8613812341234"
PHONE_2 = "+8613955556789"
RESIDENT_PHONE = "+8613700001111"
PASSWORD = "correct horse battery"


@dataclass
class Seeded:
    """Ids and times of what the fixture wrote."""

    a: str
    b: str
    c: str
    last_a: datetime
    now: datetime
    lie_id: int
    battery_id: int
    tokens: dict[str, str]


def home_id() -> str:
    """A fresh opaque home id."""
    return "h-" + secrets.token_hex(6)


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def write_influx(influxd: InfluxD, lines: list[str]) -> None:
    """Write line protocol (ms precision) to the test InfluxDB."""
    req = urllib.request.Request(
        f"{influxd.url}/write?db=anxin&precision=ms", data="\n".join(lines).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204


def console_settings(db_url: str, influx_url: str, **console: object) -> ConsoleSettings:
    """Settings for a console on this database and InfluxDB."""
    return ConsoleSettings(
        console=ConsoleOptions(**console),  # type: ignore[arg-type]
        database=DatabaseSettings(url=db_url),
        influx=InfluxSettings(url=influx_url),
    )


def seed(db_url: str, influxd: InfluxD) -> Seeded:
    """Three homes with alerts, SMS and a resident in SQL, their events in InfluxDB, and one account per role."""
    a, b, c = home_id(), home_id(), home_id()
    now = datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(db_url)
    tokens: dict[str, str] = {}
    with session_factory(engine)() as s, s.begin():
        s.add_all(
            [
                Home(id=a, label="青山里 3-201", district="青山社区", created_at=now - timedelta(days=60)),
                Home(id=b, label="Elm Court 7", district="Riverside", created_at=now - timedelta(days=60)),
                Home(id=c, label="桂花园 12-3", district="青山社区", created_at=now),
            ]
        )
        li = Responder(name="李伟", phone=PHONE, verified=True)
        wang = Responder(name="Wang Fang", phone=PHONE_2, verified=True)
        s.add_all([li, wang])
        s.flush()
        s.add(Assignment(home_id=a, responder_id=li.id, priority=1))
        s.add(Assignment(home_id=b, responder_id=wang.id, priority=1))
        s.add(Resident(home_id=a, full_name="张秀英", phone=RESIDENT_PHONE, notes="hard of hearing"))

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
                evidence={"last_motion": (now - timedelta(minutes=50)).isoformat(), "room": "bathroom"},
                **kw,
            )

        lie = alert(a, "long_inactivity", "critical", "acknowledged", "K7Q2", 45, count=3, acknowledged_by=li.id)
        battery = alert(a, "battery_low", "warning", "open", "B3X9", 600)
        s.add_all(
            [
                lie,
                battery,
                alert(b, "night_exit", "critical", "resolved", "R111", 900, resolved_at=now, outcome="false_alarm"),
                alert(c, "agent_offline", "warning", "expired", "E222", 900),
                alert(c, "mystery_signal", "info", "snoozed", "M333", 20),
            ]
        )
        s.flush()
        sms1 = SmsOutbox(
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
        )
        sms2 = SmsOutbox(
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
        )
        s.add_all([sms1, sms2])
        s.flush()
        s.add_all(
            [
                AlertEvent(alert_id=lie.id, at=now - timedelta(minutes=45), actor="alerts", action="opened", detail={}),
                AlertEvent(
                    alert_id=lie.id,
                    at=now - timedelta(minutes=44),
                    actor="alerts",
                    action="sms_sent",
                    detail={"outbox": sms1.id, "responder": li.id},
                ),
                AlertEvent(
                    alert_id=lie.id,
                    at=now - timedelta(minutes=40),
                    actor="alerts",
                    action="sms_failed",
                    detail={"outbox": sms2.id, "error": sms2.error},
                ),
            ]
        )
        for role in ("admin", "operator", "viewer"):
            create_operator(s, role, PASSWORD, role, now, f"{role.title()} One")
            tokens[role] = create_token(s, role, "tests", now)
        lie_id, battery_id = lie.id, battery.id
    engine.dispose()
    last_a = now - timedelta(minutes=2)
    write_influx(
        influxd,
        [
            f"sensor_event,home={a},agent=pi1,sensor=pir1,kind=motion,room=living value=1,seq=5i,battery=80i "
            f"{_ms(now - timedelta(minutes=10))}",
            f'sensor_event,home={a},agent=pi1,sensor=door1,kind=door,room=hall value=1,text="open",seq=6i,battery=15i '
            f"{_ms(last_a)}",
            f"sensor_event,home={b},agent=pi1,sensor=pir1,kind=motion value=1,seq=9i {_ms(now - timedelta(days=40))}",
            f'agent_status,home={a},agent=pi1 online=1i,state="online",version="0.1.0" {_ms(now - timedelta(hours=1))}',
            f'agent_status,home={b},agent=pi1 online=1i,state="online",version="0.1.0" {_ms(now - timedelta(hours=2))}',
            f'agent_status,home={b},agent=pi1 online=0i,state="offline",version="0.1.0" '
            f"{_ms(now - timedelta(hours=1))}",
            f"heartbeat,home={a},agent=pi1 queue_depth=3i,uptime_s=3600.0,min_battery=15i "
            f"{_ms(now - timedelta(minutes=1))}",
        ],
    )
    return Seeded(a, b, c, last_a, now, lie_id, battery_id, tokens)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log a test client in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    resp = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": csrf.group(1), "next": "/homes"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:500]
    home = client.get("/homes")
    token = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert token
    return token.group(1)


@pytest.fixture
def seeded(db_url: str, influxd: InfluxD) -> Seeded:
    """The seeded database and InfluxDB."""
    return seed(db_url, influxd)


@pytest.fixture
def app_client(db_url: str, influxd: InfluxD, seeded: Seeded) -> Iterator[TestClient]:
    """An anonymous client of the console on the seeded data."""
    with TestClient(create_app(console_settings(db_url, influxd.url), background=False)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    """Headers for an API token."""
    return {"Authorization": f"Bearer {token}"}
