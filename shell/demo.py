"""`anxin demo`: the whole system on one machine, with simulated homes, as the user's own processes."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from firmware_sim.enrol import register_demo_homes

from anxin.broker import Credentials
from anxin.mqtt import ensure_session
from anxin.registry import credentials_path
from anxin.runtime import settings_or_exit, setup_logging
from anxin.settings import MqttSettings, ServiceSettings
from shell.servers import InfluxD, ManagedProcess, Mosquitto, ServerError, free_port, port_open
from shell.supervisor import FolderBusy, Supervisor, describe_exit, lock_folder, stop_all
from shell.twilio_standin import TwilioStandin

# Started in this order, stopped in reverse: the simulator stops first so nothing is left half-sent. The simulator
# first replays eight days of routine, as agents replay their queues, so homes are past their first week of learning
# (console/queries/homes.py LEARNING_DAYS) and the console has history.
DEMO_HISTORY_MIN = 8 * 24 * 60
SERVICES: tuple[tuple[str, list[str]], ...] = (
    ("console", []),
    ("ingest", []),
    ("anomaly", []),
    ("alerts", []),
    ("sim", ["run", "--backfill-min", str(DEMO_HISTORY_MIN)]),
)
RESTART_ARGS = {"sim": ["run"]}


def _port(preferred: int) -> int:
    return preferred if preferred and not port_open(preferred) else free_port()


def _config_text(state: Path, mqtt_port: int, influx_url: str, console_port: int, alerts_port: int) -> str:
    return (
        "# written by `anxin demo`; pass it to any anxin command with -c to reach the demo's servers\n"
        f'state_dir = "{state}"\n\n[mqtt]\nport = {mqtt_port}\n\n[influx]\nurl = "{influx_url}"\n\n'
        f'[database]\nurl = "sqlite:///{state / "anxin.db"}"\n\n[console]\nport = {console_port}\n\n'
        f"[alerts]\nhttp_port = {alerts_port}\n\n[ingest]\nmetrics_port = 0\n"
    )


def run_demo(homes: int, console_port: int, cluster: bool = False) -> int:
    """Start servers, register homes, run every service and the simulator until a signal; returns an exit code.

    `cluster`: the distributed topology (shell/demo_cluster.py) instead of the embedded default."""
    base = settings_or_exit(ServiceSettings)
    setup_logging(base.log_level)
    state = base.state_dir.resolve()
    (state / "logs").mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_folder(state / "demo.lock")
    except FolderBusy as busy:
        pid = f"pid {busy.pid}" if busy.pid else "another process"
        _say(
            f"anxin demo: another demo ({pid}) is running on {state}; stop it first (Ctrl-C in its terminal), "
            "or give this one its own folder with ANXIN_STATE_DIR",
            err=True,
        )
        return 1
    stop = _Stop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop.set)
    try:
        if cluster:
            from shell.demo_cluster import run_cluster

            return run_cluster(state, homes, console_port, stop)
        return _run_locked(state, homes, console_port, stop)
    finally:
        os.close(lock)


class _Stop:
    """Set by SIGINT, SIGTERM or SIGHUP (the terminal closed): the demo stops every child, then exits."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def set(self, signum: int, _frame: object) -> None:
        """Signal handler: remember the first signal."""
        self.signal = self.signal or signum

    def __bool__(self) -> bool:
        return self.signal is not None


def _run_locked(state: Path, homes: int, console_port: int, stop: _Stop) -> int:
    logs = state / "logs"
    db_url = f"sqlite:///{state / 'anxin.db'}"
    _say(f"anxin demo: state in {state}")
    sim_homes = register_demo_homes(db_url, state, homes)
    login_file = _demo_operator(db_url, state)
    users = Credentials.load(credentials_path(state)).users
    mqtt_port, influx_port, web_port = _port(18830), _port(18086), _port(console_port)
    config = state / "anxin.toml"
    alerts_port = _port(8090)
    config.write_text(_config_text(state, mqtt_port, f"http://127.0.0.1:{influx_port}", web_port, alerts_port))
    phones = _start_phones(state, config, alerts_port)
    env = {**os.environ, "ANXIN_CONFIG": str(config)}
    env.setdefault("ANXIN_ANOMALY__SUMMARY_S", "60")  # the console shows what the replayed days taught within a minute
    broker = Mosquitto(state / "mosquitto", mqtt_port, dict(users), die_with_parent=True)
    influx = InfluxD(state / "influxdb", influx_port, die_with_parent=True)
    children: list[ManagedProcess] = []
    code = 0
    try:
        broker.start()
        _say(f"  mosquitto  127.0.0.1:{mqtt_port}  (ACLs: each home writes only its own topics)")
        influx.start()
        _say(f"  influxdb   {influx.url}  (database anxin)")
        _prime_sessions(mqtt_port, users)
        for name, args in SERVICES:
            if stop:
                break
            proc = ManagedProcess(
                name, [sys.executable, "-m", "anxin", name, *args], logs / f"{name}.log", die_with_parent=True, env=env
            )
            proc.spawn()
            # A restarted simulator goes on live: replaying the day again would page for the past twice.
            proc.cmd = [sys.executable, "-m", "anxin", name, *RESTART_ARGS.get(name, args)]
            children.append(proc)
        _wait_http(f"http://127.0.0.1:{web_port}/healthz", children, stop)
        dead = [c for c in children if not c.running()]
        if stop:
            return 0
        if dead:  # dying at start is a fault to fix, not to retry: say why and stop
            c = dead[0]
            _say(
                f"anxin demo: {c.name} {describe_exit(c.proc.returncode if c.proc else None)}; "
                f"last lines of {c.log}:\n{_tail(c.log)}",
                err=True,
            )
            return 1
        example = sim_homes.homes[min(2, len(sim_homes.homes) - 1)].label
        _say(f"  {len(sim_homes.homes)} simulated homes; services ingest, anomaly, alerts, console; logs in {logs}")
        _say(f"\n  Console: http://127.0.0.1:{web_port}/\n")
        _say(f"  Log in as admin; the password (and an API token) are in {login_file}")
        _say(f"  Press a panic button:  .venv/bin/anxin sim press {example} -c {config}")
        _say_phones(web_port, example, config, phones is not None)
        _say("  A service that dies is restarted (after 1 s, doubling to 30 s). Ctrl-C stops everything.\n")
        _supervise([p for p in (broker.process, influx.process) if p is not None] + children, stop)
    except ServerError as err:
        _say(f"anxin demo: {err}", err=True)
        code = 1
    finally:
        why = f" on {signal.Signals(stop.signal).name}" if stop.signal else ""
        _say(f"anxin demo: stopping{why} ...")
        _stop_children(children, [p for p in (broker.process, influx.process) if p is not None])
        if phones is not None:
            phones.stop()
        (state / DEMO_PHONES).unlink(missing_ok=True)  # a console run later on this folder is not a demo
        _say("anxin demo: stopped")
    return code


def _supervise(children: list[ManagedProcess], stop: _Stop) -> None:
    """Restart whatever dies, with backoff, until a signal; the rest keep running meanwhile."""
    supervisor = Supervisor(say=lambda line: _say(f"anxin demo: {line}"))
    for c in children:
        supervisor.watch(c)
    while not stop:
        supervisor.poll()
        time.sleep(0.2)


def _stop_children(services: list[ManagedProcess], servers: list[ManagedProcess]) -> None:
    """The simulator first (nothing left half-sent), then the services together, then the broker and InfluxDB."""
    sim = [c for c in services if c.name.startswith("sim")]  # the cluster demo runs one per shard
    stop_all(sim, timeout=15)
    stop_all([c for c in services if c not in sim], timeout=15)
    stop_all(servers, timeout=15)


def _say(line: str, err: bool = False) -> None:
    """Print a line; a closed terminal (SIGHUP) or pipe must not stop the demo from stopping its children."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(line, file=stream, flush=True)
    except OSError:
        devnull = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead stream for the rest of the run
        if err:
            sys.stderr = devnull
        else:
            sys.stdout = devnull


def _demo_operator(db_url: str, state: Path) -> Path:
    """Create the demo's console admin; its password and an API token go to a 0600 file in the state folder."""
    from datetime import UTC, datetime

    from anxin.db.engine import url_session
    from console.accounts import ensure_demo_admin

    path = state / "console-admin.json"
    with url_session(db_url) as s:
        ensure_demo_admin(s, path, datetime.now(UTC))
    return path


def _prime_sessions(port: int, users: dict[str, str], *, alerts: bool = True, ingest_id: str | None = None) -> None:
    """Open each consumer's persistent session first, so nothing the simulator sends early is lost.

    `ingest_id` names the cluster demo's ingest of a shard, whose anomaly workers read JetStream, not MQTT."""
    from pydantic import SecretStr

    from anomaly.config import AnomalySettings
    from anomaly.service import SUBSCRIPTIONS as ANOMALY_TOPICS
    from contracts.topics import FINDINGS_FILTER, TopicKind, home_filter
    from ingest.config import IngestSettings

    homes = [home_filter(k) for k in (TopicKind.EVENTS, TopicKind.STATUS, TopicKind.HEARTBEAT)]
    ingest, anomaly = IngestSettings().ingest, AnomalySettings().anomaly
    consumers = [("ingest", ingest_id or ingest.client_id, homes, ingest.session_expiry_s)]
    if ingest_id is None:
        consumers.append(("anomaly", anomaly.client_id, list(ANOMALY_TOPICS), anomaly.session_expiry_s))
    if alerts:
        consumers.append(("alerts", "anxin-alerts", [FINDINGS_FILTER], 86_400))
    for user, client_id, filters, expiry in consumers:
        settings = MqttSettings(port=port, username=user, password=SecretStr(users[user]))
        ensure_session(settings, client_id, filters, expiry)


def _wait_http(url: str, children: list[ManagedProcess], stop: _Stop, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: a 503 names a server that is down, which the console's health page shows
        except OSError:
            if any(not c.running() for c in children) or stop:
                return  # run_demo reports which one died
            time.sleep(0.3)
    raise ServerError(f"console did not answer on {url} in {timeout:.0f}s")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the volunteer's side of the demo (issue 15): SMS through a local Twilio stand-in, replies through the real
# signed webhook, played from the console's demo-only phones page.

DEMO_FROM = "+15005550006"  # Twilio's magic test number: the demo's SMS come "from" it
DEMO_PHONES = "demo-phones.json"  # the console's demo mode (console/routers/demo.py reads it)


def _real_twilio() -> bool:
    """Twilio credentials given in the environment: SMS go out for real, and replies come from real phones."""
    return bool(os.environ.get("ANXIN_ALERTS__TWILIO__ACCOUNT_SID"))


def _start_phones(state: Path, config: Path, alerts_port: int) -> TwilioStandin | None:
    """Run the Twilio stand-in for the alerts service and tell the console (demo-phones.json) how to reply; None
    (and no phones page) when real Twilio credentials are given."""
    (state / DEMO_PHONES).unlink(missing_ok=True)
    if _real_twilio():
        return None
    standin = TwilioStandin.start()
    with config.open("a") as fh:  # the config now holds the stand-in's auth token: owner only
        fh.write(
            f'\n[alerts.twilio]\naccount_sid = "{standin.account_sid}"\nauth_token = "{standin.auth_token}"\n'
            f'from_number = "{DEMO_FROM}"\napi_base = "{standin.url}"\n'
        )
    config.chmod(0o600)
    details = {
        "webhook": f"http://127.0.0.1:{alerts_port}/twilio/sms",  # as the alerts service signs it (its base_url)
        "auth_token": standin.auth_token,
        "account_sid": standin.account_sid,
        "from": DEMO_FROM,
    }
    path = state / DEMO_PHONES
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(details, fh)
    return standin


def _say_phones(web_port: int, example: str, config: Path, phones: bool) -> None:
    days = DEMO_HISTORY_MIN // 1440
    _say(f"  Play an incident:      .venv/bin/anxin sim incident {example} long_lie -c {config}")
    _say(f"  (or the button on a home's page). The homes learn from {days} days of history replayed in about a minute.")
    if phones:
        _say(f"  Each responder's phone, to reply as them: http://127.0.0.1:{web_port}/demo/phones")
