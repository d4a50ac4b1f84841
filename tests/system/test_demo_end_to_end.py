"""All services together, as `anxin demo` runs them: simulated homes to InfluxDB, a panic press to an SMS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.homes import SimHomes

from anxin.broker import agent_client_id
from anxin.influxql import InfluxQL
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import MqttSettings
from contracts import events_topic
from shell.twilio_standin import TwilioStandin
from tests.support.demo_env import FROM_NUMBER, demo_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.system


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    state: Path
    config: dict[str, Any]
    twilio: TwilioStandin
    log: Path

    @property
    def console(self) -> str:
        return f"http://127.0.0.1:{self.config['console']['port']}"

    def _get(self, path: str) -> bytes:
        # The demo writes its console admin's API token to the state folder.
        token = json.loads((self.state / "console-admin.json").read_text())["token"]
        req = urllib.request.Request(self.console + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return bytes(r.read())

    def get_json(self, path: str) -> Any:
        return json.loads(self._get(path))

    def get_text(self, path: str) -> str:
        return self._get(path).decode()

    def anxin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "anxin", *args, "-c", str(self.state / "anxin.toml")],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ.copy(),
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    state = tmp_path_factory.mktemp("demo-state")
    twilio = TwilioStandin.start()
    env = demo_env(state, twilio)
    log = state / "demo.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "anxin", "demo", "--homes", "4", "--console-port", "0"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "Console: http" in log.read_text() or proc.poll() is not None,
            timeout=120,
            what="the demo's console address",
        )
        assert proc.poll() is None, log.read_text()
        config = tomllib.loads((state / "anxin.toml").read_text())
        yield Demo(proc, state, config, twilio, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        twilio.stop()


def test_simulated_homes_reach_influxdb(demo: Demo) -> None:
    homes = SimHomes.load(demo.state / "sim" / "homes.json").homes
    assert len(homes) == 4
    q = InfluxQL(demo.config["influx"]["url"], "anxin")

    def homes_with_events() -> set[str]:
        return {s.tags["home"] for s in q.query('SELECT count("seq") FROM sensor_event GROUP BY "home"')}

    assert wait_for(lambda: homes_with_events() >= {h.home for h in homes}, timeout=60, what="events of every home")
    online = q.query('SELECT last("online") FROM agent_status GROUP BY "home"')
    assert {s.tags["home"] for s in online if s.values[0][1] == 1} == {h.home for h in homes}
    listed = wait_for(
        lambda: [h for h in demo.get_json("/api/homes")["homes"] if h["last_activity"] and h["online"]] or None,
        timeout=30,
        what="the console listing homes with activity",
    )
    assert len(listed) == 4


def test_panic_press_becomes_an_sms_and_an_open_alert(demo: Demo) -> None:
    homes = SimHomes.load(demo.state / "sim" / "homes.json").homes
    target = homes[1]
    t0 = time.monotonic()
    done = demo.anxin("sim", "press", target.label)
    assert done.returncode == 0, done.stderr
    assert demo.twilio.wait_for(lambda reqs: any(r.to == "+8613900000002" for r in reqs), timeout=30), (
        demo.log.read_text()[-3000:]
    )
    took = time.monotonic() - t0
    (sms,) = [r for r in demo.twilio.requests if r.to == "+8613900000002"]
    assert sms.auth_ok and sms.from_ == FROM_NUMBER
    assert target.label in sms.body
    assert "Volunteer" not in sms.body  # names never travel in SMS
    alerts = wait_for(
        lambda: [a for a in demo.get_json("/api/alerts")["alerts"] if a["home_id"] == target.home] or None,
        what="the alert in the console API",
    )
    assert alerts[0]["kind"] == "panic" and alerts[0]["code"] in sms.body
    page = demo.get_text("/alerts?lang=en")
    assert target.label in page and alerts[0]["code"] in page
    print(f"panic press to SMS request: {took:.2f}s (includes starting the press command)")


def test_home_credentials_cannot_publish_for_another_home(demo: Demo) -> None:
    homes = SimHomes.load(demo.state / "sim" / "homes.json").homes
    intruder, victim = homes[0], homes[3]
    settings = MqttSettings(port=demo.config["mqtt"]["port"], username=intruder.home, password=intruder.password)
    client = make_client(settings, agent_client_id(intruder.home))
    connect_and_wait(client, settings)
    forged = json.dumps(
        {
            "home": victim.home,
            "agent": victim.agent,
            "seq": 999_999,
            "ts": "2026-11-26T03:00:00+08:00",
            "sensor": "panic",
            "kind": "button",
            "value": "press",
            "room": "bedroom",
        }
    )
    client.publish(events_topic(victim.home), forged, qos=1).wait_for_publish(5)
    client.disconnect()
    time.sleep(2)
    q = InfluxQL(demo.config["influx"]["url"], "anxin")
    assert q.query(f"SELECT * FROM sensor_event WHERE home='{victim.home}' AND seq=999999") == []
    assert not any(a["home_id"] == victim.home for a in demo.get_json("/api/alerts")["alerts"])


def test_ctrl_c_stops_everything_cleanly(demo: Demo) -> None:
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(60) == 0, demo.log.read_text()[-3000:]
    assert "anxin demo: stopped" in demo.log.read_text()
    for name in ("mosquitto", "influxdb"):
        pid_file = demo.state / name / f"{name}.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
