"""`anxin demo`: the whole system on one machine, with simulated homes, as the user's own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from anxin.broker import Credentials
from anxin.mqtt import ensure_session
from anxin.registry import credentials_path, register_demo_homes
from anxin.runtime import settings_or_exit, setup_logging
from anxin.servers import InfluxD, ManagedProcess, Mosquitto, ServerError, free_port, port_open
from anxin.settings import MqttSettings, ServiceSettings

# Started in this order, stopped in reverse: the simulator stops first so nothing is left half-sent. The simulator
# first replays a day of routine, as agents replay their queues, so the console has history from the start.
SERVICES: tuple[tuple[str, list[str]], ...] = (
    ("console", []),
    ("ingest", []),
    ("anomaly", []),
    ("alerts", []),
    ("sim", ["run", "--backfill-min", "1440"]),
)


def _port(preferred: int) -> int:
    return preferred if preferred and not port_open(preferred) else free_port()


def _config_text(state: Path, mqtt_port: int, influx_url: str, console_port: int, alerts_port: int) -> str:
    return (
        "# written by `anxin demo`; pass it to any anxin command with -c to reach the demo's servers\n"
        f'state_dir = "{state}"\n\n[mqtt]\nport = {mqtt_port}\n\n[influx]\nurl = "{influx_url}"\n\n'
        f'[database]\nurl = "sqlite:///{state / "anxin.db"}"\n\n[console]\nport = {console_port}\n\n'
        f"[alerts]\nhttp_port = {alerts_port}\n\n[ingest]\nmetrics_port = 0\n"
    )


def run_demo(homes: int, console_port: int) -> int:
    """Start servers, register homes, run every service and the simulator until Ctrl-C; returns an exit code."""
    base = settings_or_exit(ServiceSettings)
    setup_logging(base.log_level)
    state = base.state_dir.resolve()
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{state / 'anxin.db'}"
    print(f"anxin demo: state in {state}")
    sim_homes = register_demo_homes(db_url, state, homes)
    login_file = _demo_operator(db_url, state)
    users = Credentials.load(credentials_path(state)).users
    mqtt_port, influx_port, web_port = _port(18830), _port(18086), _port(console_port)
    config = state / "anxin.toml"
    alerts_port = _port(8090)
    config.write_text(_config_text(state, mqtt_port, f"http://127.0.0.1:{influx_port}", web_port, alerts_port))
    env = {**os.environ, "ANXIN_CONFIG": str(config)}
    broker = Mosquitto(state / "mosquitto", mqtt_port, dict(users))
    influx = InfluxD(state / "influxdb", influx_port)
    children: list[ManagedProcess] = []
    stopping = False

    def _stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    try:
        broker.start()
        print(f"  mosquitto  127.0.0.1:{mqtt_port}  (ACLs: each home writes only its own topics)")
        influx.start()
        print(f"  influxdb   {influx.url}  (database anxin)")
        _prime_sessions(mqtt_port, users)
        for name, args in SERVICES:
            cmd = [sys.executable, "-m", "anxin", name, *args]
            proc = ManagedProcess(name, cmd, logs / f"{name}.log")
            proc.log.parent.mkdir(parents=True, exist_ok=True)
            with open(proc.log, "ab") as out:
                proc.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            children.append(proc)
        _wait_http(f"http://127.0.0.1:{web_port}/healthz", children)
        example = sim_homes.homes[min(2, len(sim_homes.homes) - 1)].label
        print(f"  {len(sim_homes.homes)} simulated homes; services ingest, anomaly, alerts, console; logs in {logs}")
        print(f"\n  Console: http://127.0.0.1:{web_port}/\n")
        print(f"  Log in as admin; the password (and an API token) are in {login_file}")
        print(f"  Press a panic button:  .venv/bin/anxin sim press {example} -c {config}")
        print("  Ctrl-C stops everything.\n", flush=True)
        while not stopping:
            for c in children:
                if not c.running():
                    print(
                        f"anxin demo: {c.name} exited with {c.proc.returncode if c.proc else '?'}; "
                        f"last lines of {c.log}:\n{_tail(c.log)}",
                        file=sys.stderr,
                    )
                    stopping, code = True, 1
            time.sleep(0.5)
    except ServerError as err:
        print(f"anxin demo: {err}", file=sys.stderr)
        code = 1
    finally:
        print("anxin demo: stopping ...", flush=True)
        for c in reversed(children):
            c.stop(timeout=15)
        broker.stop()
        influx.stop()
        print("anxin demo: stopped", flush=True)
    return code


def _demo_operator(db_url: str, state: Path) -> Path:
    """Create the demo's console admin; its password and an API token go to a 0600 file in the state folder."""
    from datetime import UTC, datetime

    from anxin.db.engine import url_session
    from console.accounts import ensure_demo_admin

    path = state / "console-admin.json"
    with url_session(db_url) as s:
        ensure_demo_admin(s, path, datetime.now(UTC))
    return path


def _prime_sessions(port: int, users: dict[str, str]) -> None:
    """Open each consumer's persistent session first, so nothing the simulator sends early is lost."""
    from pydantic import SecretStr

    from anomaly.config import AnomalySettings
    from anomaly.service import SUBSCRIPTIONS as ANOMALY_TOPICS
    from contracts.topics import FINDINGS_FILTER, TopicKind, home_filter
    from ingest.config import IngestSettings

    homes = [home_filter(k) for k in (TopicKind.EVENTS, TopicKind.STATUS, TopicKind.HEARTBEAT)]
    ingest, anomaly = IngestSettings().ingest, AnomalySettings().anomaly
    for user, client_id, filters, expiry in (
        ("ingest", ingest.client_id, homes, ingest.session_expiry_s),
        ("anomaly", anomaly.client_id, list(ANOMALY_TOPICS), anomaly.session_expiry_s),
        ("alerts", "anxin-alerts", [FINDINGS_FILTER], 86_400),
    ):
        settings = MqttSettings(port=port, username=user, password=SecretStr(users[user]))
        ensure_session(settings, client_id, filters, expiry)


def _wait_http(url: str, children: list[ManagedProcess], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if any(not c.running() for c in children):
                return  # the monitor loop reports which one died
            time.sleep(0.3)
    raise ServerError(f"console did not answer on {url} in {timeout:.0f}s")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
