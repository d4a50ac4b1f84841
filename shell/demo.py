"""`anxin demo`: the whole system on one machine, with simulated homes, as the user's own processes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from firmware_sim.enrol import register_demo_homes

from anxin.broker import Credentials
from anxin.registry import credentials_path
from anxin.runtime import settings_or_exit, setup_logging
from anxin.settings import ServiceSettings
from shell.demo_parts import (
    DEMO_HISTORY_MIN,
    Stop,
    demo_operator,
    died_at_start,
    end_phones,
    prime_sessions,
    say,
    say_phones,
    say_stopping,
    start_phones,
    stop_children,
    supervise,
    wait_http,
)
from shell.servers import InfluxD, ManagedProcess, Mosquitto, ServerError, preferred_port
from shell.supervisor import FolderBusy, lock_folder

# Started in this order, stopped in reverse: the simulator stops first so nothing is left half-sent. The simulator
# first replays DEMO_HISTORY_MIN of routine, as agents replay their queues (shell/demo_parts.py).
SERVICES: tuple[tuple[str, list[str]], ...] = (
    ("console", []),
    ("ingest", []),
    ("anomaly", []),
    ("alerts", []),
    ("sim", ["run", "--backfill-min", str(DEMO_HISTORY_MIN)]),
)
RESTART_ARGS = {"sim": ["run"]}


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
        say(
            f"anxin demo: another demo ({pid}) is running on {state}; stop it first (Ctrl-C in its terminal), "
            "or give this one its own folder with ANXIN_STATE_DIR",
            err=True,
        )
        return 1
    stop = Stop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop.set)
    try:
        if cluster:
            from shell.demo_cluster import run_cluster

            return run_cluster(state, homes, console_port, stop)
        return _run_locked(state, homes, console_port, stop)
    finally:
        os.close(lock)


def _run_locked(state: Path, homes: int, console_port: int, stop: Stop) -> int:
    logs = state / "logs"
    db_url = f"sqlite:///{state / 'anxin.db'}"
    say(f"anxin demo: state in {state}")
    sim_homes = register_demo_homes(db_url, state, homes)
    login_file = demo_operator(db_url, state)
    users = Credentials.load(credentials_path(state)).users
    mqtt_port, influx_port, web_port = preferred_port(18830), preferred_port(18086), preferred_port(console_port)
    config = state / "anxin.toml"
    alerts_port = preferred_port(8090)
    config.write_text(_config_text(state, mqtt_port, f"http://127.0.0.1:{influx_port}", web_port, alerts_port))
    phones = start_phones(state, config, alerts_port)
    env = {**os.environ, "ANXIN_CONFIG": str(config)}
    env.setdefault("ANXIN_ANOMALY__SUMMARY_S", "60")  # the console shows what the replayed days taught within a minute
    broker = Mosquitto(state / "mosquitto", mqtt_port, dict(users), die_with_parent=True)
    influx = InfluxD(state / "influxdb", influx_port, die_with_parent=True)
    children: list[ManagedProcess] = []
    code = 0
    try:
        broker.start()
        say(f"  mosquitto  127.0.0.1:{mqtt_port}  (ACLs: each home writes only its own topics)")
        influx.start()
        say(f"  influxdb   {influx.url}  (database anxin)")
        prime_sessions(mqtt_port, users)
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
        wait_http(f"http://127.0.0.1:{web_port}/healthz", children, stop)
        if stop:
            return 0
        if died_at_start(children):
            return 1
        example = sim_homes.homes[min(2, len(sim_homes.homes) - 1)].label
        say(f"  {len(sim_homes.homes)} simulated homes; services ingest, anomaly, alerts, console; logs in {logs}")
        say(f"\n  Console: http://127.0.0.1:{web_port}/\n")
        say(f"  Log in as admin; the password (and an API token) are in {login_file}")
        say(f"  Press a panic button:  .venv/bin/anxin sim press {example} -c {config}")
        say_phones(web_port, example, config, phones is not None)
        say("  A service that dies is restarted (after 1 s, doubling to 30 s). Ctrl-C stops everything.\n")
        supervise([p for p in (broker.process, influx.process) if p is not None] + children, stop)
    except ServerError as err:
        say(f"anxin demo: {err}", err=True)
        code = 1
    finally:
        say_stopping(stop)
        stop_children(children, [p for p in (broker.process, influx.process) if p is not None])
        end_phones(state, phones)
        say("anxin demo: stopped")
    return code
