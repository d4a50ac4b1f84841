"""Attacks on the console (issue 13), each against real servers: a viewer reading secrets and using them, oversized
pages and ids, missing browser headers, and log-in lockout abuse (the alerts web server's:
test_security_alerts_web.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerts.pipeline import process_finding
from alerts.replies import LinkMaker, verify_link
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, ApiToken, Operator, SmsOutbox
from console.app import create_app
from shell.servers import InfluxD, free_port, port_open
from tests.support.alerts_fixtures import seed_world
from tests.support.console_fixtures import (
    PASSWORD,
    Seeded,
    app_client,
    bearer,
    console_settings,
    login,
    seeded,
)
from tests.support.processes import rss_kib
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
__all__ = ["app_client", "seeded"]

MB = 1024 * 1024


LINK_SECRET = b"console-security-test-link-secret"
SAME_TAIL = ("+86 138 1234 5678", "+8613955555678")  # the same last four digits, one written with spaces


@pytest.fixture
def live_alert(db_url: str, seeded: Seeded) -> tuple[int, str, list[str], str]:
    """A panic alert paged through the real alerts code: (alert id, its code, the links it sent, the home)."""
    from datetime import UTC, datetime

    from alerts.notifier import LocalOutboxNotifier
    from contracts.messages import Finding, Severity

    world = seed_world(db_url)
    now = datetime.now(UTC)
    finding = Finding(
        id="f-secret-test",
        home=world.home_id,
        kind="panic",
        severity=Severity.CRITICAL,
        ts=now,
        since=now - timedelta(minutes=1),
        detector="test",
        evidence={"sensor": "btn1"},
    )
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        out = process_finding(
            s, finding, now, LocalOutboxNotifier(), links=LinkMaker("https://alerts.example.org", LINK_SECRET)
        )
        assert out.alert_id is not None
        alert = s.get(Alert, out.alert_id)
        assert alert is not None
        rows = list(s.scalars(select(SmsOutbox).where(SmsOutbox.alert_id == alert.id)))
        # Numbers the masks must keep apart, in a provider error as Twilio words it.
        rows[0].error = f"The 'To' number {SAME_TAIL[0]} is not valid; nor is {SAME_TAIL[1]}."
        s.commit()
        code = alert.code
        links = [m.group() for r in rows for m in re.finditer(r"https://\S+/l/[A-Za-z0-9_-]+", r.body)]
    engine.dispose()
    assert links and all(code in r.body for r in rows)  # the SMS really carry both secrets
    return out.alert_id, code, links, world.home_id


def _viewer_reads(client: TestClient, alert_id: int, home: str) -> dict[str, str]:
    paths = [
        "/outbox?lang=en",
        "/outbox?lang=zh-CN",
        "/api/outbox",
        "/alerts",
        f"/alerts/{alert_id}",
        "/api/alerts",
        "/api/alerts/closed",
        f"/api/alerts/{alert_id}",
        f"/homes/{home}",
        f"/api/homes/{home}",
        "/responders",
        "/api/responders",
        "/dead-letters",
        "/api/dead-letters",
    ]
    out = {}
    for path in paths:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        out[path] = resp.text
    return out


def test_a_viewer_finds_no_link_code_or_number_to_act_with(
    db_url: str, influxd: InfluxD, seeded: Seeded, live_alert: tuple[int, str, list[str], str]
) -> None:
    alert_id, code, links, home = live_alert
    tokens = [link.rsplit("/l/", 1)[1] for link in links]
    with TestClient(create_app(console_settings(db_url, influxd.url), background=False)) as client:
        login(client, "viewer")
        pages = _viewer_reads(client, alert_id, home)
        assert client.get("/audit").status_code == 403 and client.get("/api/audit").status_code == 403
    for path, text in pages.items():
        for token in tokens:
            assert token not in text, f"{path} shows a signed link"
        assert not re.search(r"/l/[A-Za-z0-9_-]{8,}", text), f"{path} shows a link"
        assert not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", text), f"{path} shows the reply code"
        # Not even a masked number: the promise to viewers is none at all.
        assert not re.search(r"\*{3,}\d{4}", text), f"{path} shows a masked number"
        for digits in ("12345678", "5678", "13812341234"):
            assert digits not in re.sub(r"\s", "", text), f"{path} shows {digits}"
    # The links still work for the volunteers they were sent to: the console hid them, they are real.
    from datetime import UTC, datetime

    assert all(verify_link(LINK_SECRET, t, datetime.now(UTC)).alert_id == alert_id for t in tokens)


def test_operators_see_masks_that_do_not_collide_and_never_a_link(
    db_url: str, influxd: InfluxD, seeded: Seeded, live_alert: tuple[int, str, list[str], str]
) -> None:
    alert_id, code, links, _home = live_alert
    with TestClient(create_app(console_settings(db_url, influxd.url), background=False)) as client:
        op = bearer(seeded.tokens["operator"])
        outbox = client.get("/api/outbox", headers=op)
        detail = client.get(f"/api/alerts/{alert_id}", headers=op)
    for resp in (outbox, detail):
        assert resp.status_code == 200
        assert not any(link.rsplit("/l/", 1)[1] in resp.text for link in links)
        assert "[link]" in resp.text  # the operator sees where the link was
        assert "5678" not in resp.text.replace("*5678#", "")  # only ever inside a mask
    error = next(m["error"] for m in outbox.json()["messages"] if m["error"] and m["alert_id"] == alert_id)
    masks = re.findall(r"\+86\*+5678#[0-9a-f]{4}", error)
    assert len(masks) == 2 and masks[0] != masks[1], error  # same last digits, told apart by the keyed tag
    assert detail.json()["alert"]["code"] == code  # operators may act anyway: they keep the code


# --- bounded pages and ids, browser headers --------------------------------------------------------------------------


def test_page_sizes_are_capped_and_huge_ids_are_not_server_errors(app_client: TestClient, seeded: Seeded) -> None:
    admin = bearer(seeded.tokens["admin"])
    # Six of these at once took the console from 91 MB to 875 MB; now anything over the documented 500 is refused.
    for path in ("/api/dead-letters?limit=5000", "/api/outbox?limit=5000", "/api/audit?limit=5000"):
        resp = app_client.get(path, headers=admin)
        assert resp.status_code == 422 and "500" in resp.text, (path, resp.status_code)
    assert app_client.get("/api/outbox?limit=500", headers=admin).status_code == 200
    huge = 2**64
    for method, path in (
        ("GET", f"/api/alerts/{huge}"),
        ("GET", f"/alerts/{huge}"),
        ("POST", f"/api/alerts/{huge}/acknowledge"),
        ("GET", f"/api/audit?offset={huge}"),
        ("GET", f"/api/homes?responder={huge}"),
    ):
        resp = app_client.request(method, path, headers=admin)
        assert resp.status_code in (404, 422), (path, resp.status_code, resp.text[:200])
    assert app_client.get(f"/api/alerts/{2**63 - 1}", headers=admin).status_code == 404


CONSOLE_SERVER = """
import sys
import uvicorn
from console.app import create_app
from tests.support.console_fixtures import console_settings

db_url, influx_url, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = create_app(console_settings(db_url, influx_url), background=False)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def test_six_big_dead_letter_pages_at_once_stay_small(db_url: str, influxd: InfluxD, seeded: Seeded) -> None:
    import json
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from anxin.db.models import DeadLetter

    engine = make_engine(db_url)
    with session_factory(engine)() as s, s.begin():  # 500 dead letters of 64 KiB: 32 MB in SQLite
        for i in range(500):
            s.add(
                DeadLetter(
                    received_at=datetime.now(UTC),
                    topic=f"anxin/v1/homes/{seeded.a}/events",
                    reason="invalid",
                    detail="too big",
                    payload=b'{"pad":"' + bytes([65 + i % 26]) * (64 * 1024 - 10) + b'"}',
                )
            )
    engine.dispose()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CONSOLE_SERVER, db_url, influxd.url, str(port)], cwd=Path(__file__).parents[2]
    )
    try:
        wait_for(lambda: port_open(port) or None, timeout=30, what="console")

        def page() -> int:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/dead-letters?limit=500", headers=bearer(seeded.tokens["viewer"])
            )
            with urllib.request.urlopen(req, timeout=60) as resp:
                return len(json.loads(resp.read())["letters"])

        page()  # warm up: imports, caches, the first connection
        before = rss_kib(proc.pid)
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(lambda _: page(), range(6))) == [500] * 6
        grown = (rss_kib(proc.pid) - before) // 1024
        # Each page holds 500 heads of 500 bytes, not 500 whole payloads (the old code grew by hundreds of MB).
        assert grown < 40, f"RSS grew {grown} MB"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_security_headers_and_local_api_docs(app_client: TestClient, seeded: Seeded) -> None:
    for path in ("/login", "/api/openapi.json", "/static/console.css", "/nope", "/api/docs"):
        headers = app_client.get(path).headers
        csp = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "no-referrer", path
    docs = app_client.get("/api/docs")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from a CDN
    for src in sources:
        assert app_client.get(src).status_code == 200, src
    assert "<script>" not in docs.text  # no inline script: the CSP would block it


# --- log-in: no lock-out of the real operator, no hint of which names exist; admins manage accounts and tokens -------


def _try_login(client: TestClient, username: str, password: str) -> tuple[int, str, float]:
    """(status, the form's error message, seconds taken) of one log-in through the form."""
    page = client.get("/login?lang=en")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    started = time.perf_counter()
    resp = client.post(
        "/login?lang=en",
        data={"username": username, "password": password, "csrf": csrf.group(1), "next": "/homes"},
        follow_redirects=False,
    )
    took = time.perf_counter() - started
    error = re.search(r'role="alert">([^<]*)<', resp.text)
    return resp.status_code, error.group(1) if error else "", took


def test_lockout_reveals_no_names_and_never_locks_the_operator_out(
    db_url: str, influxd: InfluxD, seeded: Seeded
) -> None:
    app = create_app(console_settings(db_url, influxd.url, lockout_after=3, lockout_minutes=5), background=False)
    with (
        TestClient(app, client=("10.6.6.6", 40000)) as attacker,
        TestClient(app, client=("10.1.1.1", 40001)) as operator,
    ):
        answers: dict[str, list[tuple[int, str]]] = {"operator": [], "no-such-user": []}
        timings: dict[str, list[float]] = {"operator": [], "no-such-user": []}
        for _ in range(4):
            for name in answers:
                status, message, took = _try_login(attacker, name, "wrong password")
                answers[name].append((status, re.sub(r"\d+", "N", message)))  # the wait counts down
                timings[name].append(took)
        # A real name and a made-up one get the same answers in the same order: 401 three times, then a wait.
        assert answers["operator"] == answers["no-such-user"], answers
        assert [s for s, _ in answers["operator"]] == [401, 401, 401, 429]
        # ... and take about as long (both check a password hash; a wait checks nothing for either).
        known, unknown = sorted(timings["operator"][:3])[1], sorted(timings["no-such-user"][:3])[1]
        assert 0.33 < known / unknown < 3, (known, unknown)
        # The attacker's failures do not keep the operator out from their own desk.
        assert _try_login(operator, "operator", PASSWORD)[0] == 303
        # Nor for long from the attacker's own address: the wait is seconds, and an admin can clear it.
        assert _try_login(attacker, "operator", "wrong again")[0] in (401, 429)
        status, message, _ = _try_login(attacker, "operator", PASSWORD)
        assert status == 429 and int(re.findall(r"\d+", message)[0]) <= 5 * 60
        admin = bearer(seeded.tokens["admin"])
        assert attacker.post("/api/operators/operator/unlock", headers=admin).status_code == 200
        assert _try_login(attacker, "operator", PASSWORD)[0] == 303


def test_admins_disable_accounts_and_revoke_tokens_and_tokens_expire(
    db_url: str, influxd: InfluxD, seeded: Seeded
) -> None:
    admin, viewer = bearer(seeded.tokens["admin"]), bearer(seeded.tokens["viewer"])
    app = create_app(console_settings(db_url, influxd.url, token_days=30), background=False)
    with TestClient(app) as c:
        operator = bearer(seeded.tokens["operator"])
        for path in ("/api/operators/viewer/disable", "/api/operators/viewer/unlock", "/api/tokens/1/revoke"):
            assert c.post(path, headers=operator).status_code == 403, path
        assert c.get("/api/operators", headers=operator).status_code == 403
        # Disable: the account's token stops at once, and so does a log-in; enable brings it back.
        assert c.post("/api/operators/viewer/disable", headers=admin).status_code == 200
        assert c.get("/api/me", headers=viewer).status_code == 401
        assert _try_login(c, "viewer", PASSWORD)[0] == 401
        assert c.post("/api/operators/viewer/enable", headers=admin).status_code == 200
        assert c.get("/api/me", headers=viewer).status_code == 200
        # Revoke one token by its id.
        listed = c.get("/api/operators", headers=admin).json()["operators"]
        token_id = next(o for o in listed if o["username"] == "viewer")["tokens"][0]["id"]
        assert c.post(f"/api/tokens/{token_id}/revoke", headers=admin).status_code == 200
        assert c.get("/api/me", headers=viewer).status_code == 401
        assert c.post(f"/api/tokens/{2**64}/revoke", headers=admin).status_code == 422
        # Tokens expire: the operator's, made 31 days ago, no longer works with token_days = 30.
        assert c.get("/api/me", headers=operator).status_code == 200
        engine = make_engine(db_url)
        with session_factory(engine)() as s:
            for t in s.scalars(select(ApiToken).join(Operator).where(Operator.username == "operator")):
                t.created_at = t.created_at - timedelta(days=31)
            s.commit()
        engine.dispose()
        assert c.get("/api/me", headers=operator).status_code == 401
        audit = [e["action"] for e in c.get("/api/audit", headers=admin).json()["entries"]]
        assert audit.count("operator_disabled") == 1 and "token_revoked" in audit


def test_sql_errors_quoted_in_logs_carry_no_secrets(db_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    secret = "https://alerts.example.org/l/AAAABgAAAAMByOd8KjAHhXvh +8613812345678"
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("INSERT INTO no_such_table (body) VALUES (:body)"), {"body": secret})
    except SQLAlchemyError as err:
        logged = str(err)
    finally:
        engine.dispose()
    assert "no_such_table" in logged and secret not in logged and "13812345678" not in logged


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from anxin.db.engine import upgrade

    upgrade(f"sqlite:///{tmp_path / 'state' / 'anxin.db'}")
    assert (tmp_path / "state" / "anxin.db").stat().st_mode & 0o777 == 0o600
