"""/healthz of the console and of alerts against real servers: a dead broker, InfluxDB or database is named, 503."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.config import AlertsOptions, AlertsSettings
from alerts.service import ServiceStats, run_service
from anxin.settings import DatabaseSettings, InfluxSettings, MqttSettings
from console.app import create_app
from console.config import ConsoleSettings
from shell.servers import Broker, InfluxD, free_port
from tests.support.processes import get_health
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _console_health(db_url: str, influx_url: str, mqtt_port: int | None) -> tuple[int, dict[str, Any]]:
    settings = ConsoleSettings(
        database=DatabaseSettings(url=db_url),
        influx=InfluxSettings(url=influx_url),
        mqtt=MqttSettings(port=mqtt_port) if mqtt_port else None,
    )
    with TestClient(create_app(settings, background=False)) as client:
        r = client.get("/healthz")
        return r.status_code, r.json()


def test_console_health_names_each_dead_dependency(db_url: str, influxd: InfluxD, broker: Broker) -> None:
    status, body = _console_health(db_url, influxd.url, broker.port)
    assert (status, body["status"], body["down"]) == (200, "ok", [])
    assert set(body["checks"]) == {"database", "influxdb", "broker"} and "last_event_age_s" in body

    status, body = _console_health(db_url, influxd.url, free_port())  # nothing listens there: a dead broker
    assert (status, body["down"]) == (503, ["broker"])
    assert body["checks"]["broker"] == {"ok": False, "error": "ConnectionRefusedError"}

    status, body = _console_health(db_url, f"http://127.0.0.1:{free_port()}", broker.port)
    assert (status, body["down"], body["last_event_age_s"]) == (503, ["influxdb"], None)

    secret = "s3cret-" + secrets.token_hex(4)
    dead_sql = f"postgresql+psycopg://anxin:{secret}@127.0.0.1:{free_port()}/anxin"  # nothing listens there
    status, body = _console_health(dead_sql, influxd.url, broker.port)
    assert (status, body["down"]) == (503, ["database"])
    assert secret not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)  # names what, never where


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker this test may kill and start again on the same port."""
    b = Broker.start(tmp_path / "broker")
    yield b
    b.server.stop()


def test_alerts_health_follows_its_broker_session(own_broker: Broker, db_url: str) -> None:
    port = free_port()
    settings = AlertsSettings(
        mqtt=own_broker.settings("alerts"),
        database=DatabaseSettings(url=db_url),
        alerts=AlertsOptions(client_id="test-alerts-" + secrets.token_hex(4), http_port=port),
    )
    stop, stats = threading.Event(), ServiceStats()
    thread = threading.Thread(target=run_service, args=(settings, stop), kwargs={"stats": stats}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        assert stats.ready.wait(15)
        ok = wait_for(lambda: get_health(url) if get_health(url)[0] == 200 else None, timeout=10, what="alerts healthy")
        assert ok[1]["checks"] == {"broker": {"ok": True}, "database": {"ok": True}}
        assert ok[1]["last_finding_age_s"] is None

        assert own_broker.server.process and own_broker.server.process.proc
        own_broker.server.process.proc.kill()  # SIGKILL: no goodbye to the clients
        down = wait_for(lambda: get_health(url) if get_health(url)[0] == 503 else None, timeout=10, what="alerts 503")
        assert down[1]["down"] == ["broker"] and down[1]["checks"]["database"] == {"ok": True}

        own_broker.server.start()  # same port and files, as a supervisor restarts it
        wait_for(lambda: get_health(url)[0] == 200, timeout=40, what="alerts healthy again after the broker restart")
    finally:
        stop.set()
        thread.join(15)
