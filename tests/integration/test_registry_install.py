"""Installing a home from the console against a real Mosquitto: the account, the bundle once, a real `anxin edge`
agent connecting with it, ingest storing its first event, and the console showing the home come online."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from anxin.db.engine import url_session
from anxin.db.models import AuditLog, RoutineSummary
from anxin.mqtt import MqttConnectError, connect_and_wait, make_client
from anxin.settings import InfluxSettings, MqttSettings
from console.app import create_app
from ingest.config import IngestOptions, IngestSettings
from ingest.service import IngestService
from shell.servers import InfluxD
from tests.integration.test_registry import accounts
from tests.support import edge_fixtures
from tests.support.console_fixtures import bearer, console_settings, login
from tests.support.edge_fixtures import EdgeBroker, LocalBroker
from tests.support.waiting import wait_for

edge_broker = edge_fixtures.edge_broker  # a fixture
local_broker = edge_fixtures.local_broker  # a fixture
pytestmark = pytest.mark.integration


@pytest.fixture
def ingest(edge_broker: EdgeBroker, influxd: InfluxD, db_url: str, tmp_path: Path) -> Iterator[IngestService]:
    """The real ingest service on the test's broker, re-reading the registry every half second."""
    settings = IngestSettings(
        mqtt=edge_broker.settings("ingest"),
        influx=InfluxSettings(url=influxd.url),
        database={"url": db_url},
        state_dir=tmp_path / "ingest-state",
        ingest=IngestOptions(batch_interval_s=0.05, homes_refresh_s=0.5, metrics_port=0),
    )
    svc = IngestService(settings)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: svc.link.connected.is_set(), what="ingest connected")
    yield svc
    stop.set()
    thread.join(10)


def _console(db_url: str, influxd: InfluxD, broker: EdgeBroker, tmp_path: Path) -> TestClient:
    settings = console_settings(
        db_url,
        influxd.url,
        broker_state=broker.state,
        broker_credentials=broker.state / "credentials.json",
    )
    settings.mqtt = MqttSettings(port=broker.port)
    settings.state_dir = tmp_path / "console-state"
    return TestClient(create_app(settings, background=False))


def _can_connect(port: int, user: str, password: str, client_id: str) -> bool:
    settings = MqttSettings(port=port, username=user, password=password)
    client = make_client(settings, client_id)
    try:
        connect_and_wait(client, settings, timeout=5)
    except MqttConnectError:
        return False
    finally:
        client.loop_stop()
    client.disconnect()
    return True


def test_install_a_home_from_the_console_and_see_it_come_online(
    edge_broker: EdgeBroker,
    local_broker: LocalBroker,
    influxd: InfluxD,
    db_url: str,
    ingest: IngestService,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    edge_broker.creds.save()  # the accounts file the console adds homes to, as the demo keeps it
    conf = edge_broker.state / "mosquitto.conf"
    conf.write_text(conf.read_text() + "# a TLS listener for the homes, added by hand\n")
    tokens = accounts(db_url)
    op, admin = bearer(tokens["operator"]), bearer(tokens["admin"])
    with _console(db_url, influxd, edge_broker, tmp_path) as c:
        c.post("/api/registry/districts", json={"name": "东湖社区"}, headers=op)
        kit = [{"sensor": "door_front", "kind": "door", "room": "entrance"}]
        saved = c.post(
            "/api/registry/homes", json={"label": "3-501", "district": "东湖社区", "sensors": kit}, headers=op
        )
        home = saved.json()["id"]
        assert saved.json()["warning"] is None
        # The account exists and is bound to its agent's client id on the running broker, before any bundle.
        bound = json.loads((edge_broker.state / "dynamic-security.json").read_text())["clients"]
        assert {"username": home, "clientid": f"agent-{home}"} in [
            {k: b[k] for k in ("username", "clientid")} for b in bound
        ]

        got = c.post(f"/api/registry/homes/{home}/bundle", headers=op)
        assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
        bundle = zipfile.ZipFile(io.BytesIO(got.content))
        toml = bundle.read("edge.toml").decode()
        assert "anxin edge doctor -c /etc/anxin/edge.toml" in bundle.read("README.txt").decode()
        password = next(line.split('"')[1] for line in toml.splitlines() if line.startswith("password ="))
        # Once: a second download (even by the same operator) is refused; only an admin may issue a new password.
        assert c.post(f"/api/registry/homes/{home}/bundle", headers=op).status_code == 409
        assert c.post(f"/api/registry/homes/{home}/bundle?reissue=true", headers=op).status_code == 403

        # The password is nowhere but in the bundle: not in the credentials file (a hash), audit, or any log.
        stored = json.loads((edge_broker.state / "credentials.json").read_text())[home]
        assert stored.startswith("$7$") and password not in stored
        with url_session(db_url) as s:
            audit = [
                json.dumps(a.detail) for a in s.scalars(select(AuditLog).where(AuditLog.action == "bundle_issued"))
            ]
        assert len(audit) == 1 and password not in audit[0]
        assert "added by hand" in conf.read_text()  # installing rewrote accounts, not the broker's config
        # The binding holds: the right password under another client id is refused.
        assert not _can_connect(edge_broker.port, home, password, "someone-else")

        # A real agent with the bundle's edge.toml (only the Pi-local paths changed for the test).
        cfg = tmp_path / "edge.toml"
        cfg.write_text(toml.replace("port = 1883", f"port = {local_broker.port}"))
        log = tmp_path / "agent.log"
        env = {"ANXIN_EDGE__STATE_DIR": str(tmp_path / "edge-state"), "PATH": "/usr/bin:/bin"}
        with open(log, "ab") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "anxin", "edge", "run", "-c", str(cfg)], stdout=out, stderr=out, env=env
            )
        try:
            online = wait_for(
                lambda: c.get(f"/api/registry/homes/{home}/install", headers=op).json()["online"],
                timeout=30,
                what="the agent's online status stored",
            )
            assert online is True
            local_broker.publish([("zigbee2mqtt/door_front", {"contact": False, "battery": 90})])
            progress = wait_for(
                lambda: (
                    (p := c.get(f"/api/registry/homes/{home}/install", headers=op).json())["sensors"][0]["first_seen"]
                    and p
                ),
                timeout=30,
                what="the door's first event stored by ingest",
            )
            assert progress["sensors"][0]["sensor"] == "door_front" and progress["bundle_issued_at"]
            # The anomaly engine writes its learning progress; the install page shows it with the rest.
            with url_session(db_url) as s, s.begin():
                s.add(
                    RoutineSummary(
                        home_id=home, updated_at=datetime.now(UTC), days_learned=3, confidence=0.4, summary={}
                    )
                )
            login(c, "admin")
            page = c.get(f"/registry/homes/{home}?lang=en").text
            assert "3 days learned, confidence 40%" in page and "first message" in page and "Agent online" in page
        finally:
            agent.terminate()
            agent.wait(10)

        # An admin's reissue makes a new password; the old one stops working.
        new = c.post(f"/api/registry/homes/{home}/bundle?reissue=true", headers=admin)
        assert new.status_code == 200
        time.sleep(0.5)  # the broker reloads its password file on SIGHUP, asynchronously
        assert not _can_connect(edge_broker.port, home, password, f"agent-{home}")

    logged = caplog.text + log.read_text() + (edge_broker.state / "mosquitto.log").read_text()
    assert password not in logged
