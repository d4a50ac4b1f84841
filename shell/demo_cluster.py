"""`anxin demo --cluster`: the distributed topology of docs/scale.md on one machine, under the demo's supervision.

3 nats-server nodes (JetStream R3), 2 Mosquitto shards with the simulated homes split between them (each home's
shard recorded on its row, anxin/shards.py), one ingest per shard bridging to JetStream, 2 anomaly workers sharing
the partitions, alerts (findings from JetStream, alerts/jetstream.py) and the console on PostgreSQL, InfluxDB; the
workers' relay of findings to MQTT is off. `anxin demo` without --cluster is untouched by this module.

JetStream's store is started empty on every run: the demo's node ports change from run to run, and a home's learned
state lives in the cluster (KV), so each run learns afresh from the replayed days.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from firmware_sim.homes import SimHome, SimHomes

from anxin.broker import SERVICE_ACL, Credentials
from anxin.registry import credentials_path
from anxin.shards import Shard, assign, files
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
from shell.nats_auth import ROLES
from shell.natsd import NatsCluster
from shell.postgres import Postgres
from shell.servers import InfluxD, ManagedProcess, Mosquitto, ServerError, preferred_port

SHARDS = ("a", "b")
PARTITIONS = 16  # small: each worker creates a consumer per partition it takes; a city runs 256
WORKERS = 2


def split_homes(db_url: str, state: Path, homes: SimHomes, shards: list[Shard]) -> dict[str, list[SimHome]]:
    """Give every home its shard (recorded on its row), write each shard's homes file and accounts file."""
    from anxin.db.engine import url_session

    by_shard: dict[str, list[SimHome]] = {s.name: [] for s in shards}
    with url_session(db_url) as s, s.begin():
        for h in homes.homes:
            by_shard[assign(s, h.home, shards).name].append(h)
    services = Credentials.load(credentials_path(state)).users
    for shard in shards:
        SimHomes(homes=by_shard[shard.name]).save(state / "sim" / f"homes-{shard.name}.json")
        # A shard's broker knows the services and its own homes only: a home's password opens no other shard.
        users = {u: services[u] for u in SERVICE_ACL} | {h.home: h.password for h in by_shard[shard.name]}
        Credentials(files(shards, shard, state)[0], users).save()
    return by_shard


def _config_text(state: Path, shard: Shard, shards: list[Shard], urls: dict[str, str], ports: dict[str, int]) -> str:
    """One shard's config: the shared cluster settings, the shard's broker as [mqtt], its homes file for the sim."""
    listed = "".join(f'\n[[shards]]\nname = "{s.name}"\nhost = "{s.host}"\nport = {s.port}\n' for s in shards)
    servers = ", ".join(f'"{u}"' for u in urls["nats"].split(","))
    return (
        "# written by `anxin demo --cluster`; pass it to any anxin command with -c to reach this shard's broker\n"
        f'state_dir = "{state}"\nbus = "nats"\n\n[nats]\nservers = [{servers}]\npartitions = {PARTITIONS}\n'
        f"replicas = 3\nlease_s = 3.0\nfindings_to_mqtt = false\n\n[mqtt]\nport = {shard.port}\n\n"
        f'[influx]\nurl = "{urls["influx"]}"\n\n[database]\nurl = "{urls["db"]}"\n\n'
        f"[console]\nport = {ports['console']}\n\n[alerts]\nhttp_port = {ports['alerts']}\n\n"
        f'[ingest]\nmetrics_port = 0\nclient_id = "anxin-ingest-{shard.name}"\n\n'
        f'[sim]\nhomes_file = "{state / "sim" / f"homes-{shard.name}.json"}"\n{listed}'
    )


def _configs(state: Path, shards: list[Shard], urls: dict[str, str], ports: dict[str, int]) -> dict[str, Path]:
    """anxin.toml for the first shard (the console's and the services'), shard-<name>.toml for the others."""
    out = {}
    for i, shard in enumerate(shards):
        path = state / ("anxin.toml" if i == 0 else f"shard-{shard.name}.toml")
        path.write_text(_config_text(state, shard, shards, urls, ports))
        path.chmod(0o600)
        out[shard.name] = path
    return out


def _services(configs: dict[str, Path], logs: Path) -> list[tuple[str, Path, list[str]]]:
    """(name, config, arguments) of every service process, in start order (the simulators last)."""
    first = next(iter(configs.values()))
    out: list[tuple[str, Path, list[str]]] = [("console", first, ["console"])]
    out += [(f"ingest-{name}", path, ["ingest"]) for name, path in configs.items()]
    out += [(f"anomaly-{i + 1}", first, ["anomaly"]) for i in range(WORKERS)]
    out.append(("alerts", first, ["alerts"]))
    history = ["--backfill-min", str(DEMO_HISTORY_MIN)]
    out += [(f"sim-{name}", path, ["sim", "run", *history]) for name, path in configs.items()]
    return out


def run_cluster(state: Path, homes: int, console_port: int, stop: Stop) -> int:
    """The cluster topology until a signal (the caller holds the state folder's lock); returns an exit code."""
    import os

    logs = state / "logs"
    say(f"anxin demo --cluster: state in {state}")
    pg = Postgres(state / "postgres", preferred_port(15432), die_with_parent=True)
    shards = [Shard(name=n, port=preferred_port(18830 + i)) for i, n in enumerate(SHARDS)]
    brokers: list[Mosquitto] = []
    nats = NatsCluster(state / "nats", 3)
    influx = InfluxD(state / "influxdb", preferred_port(18086), die_with_parent=True)
    children: list[ManagedProcess] = []
    phones = None
    code = 0
    try:
        pg.start()
        say(f"  postgresql 127.0.0.1:{pg.port}  (database anxin: homes, alerts, console; files in {pg.state})")
        db_url = pg.url("anxin")
        sim_homes = register_homes(db_url, state, homes)
        login_file = demo_operator(db_url, state)
        by_shard = split_homes(db_url, state, sim_homes, shards)
        shutil.rmtree(nats.state, ignore_errors=True)  # see the module's docstring
        nats.start(timeout=60)
        logins = nats.state / "credentials.json"
        say(f"  nats       {', '.join(nats.urls)}  (JetStream R3, {PARTITIONS} partitions; logins in {logins})")
        for shard in shards:
            creds_file, folder = files(shards, shard, state)
            broker = Mosquitto(folder, shard.port, Credentials.load(creds_file).users, die_with_parent=True)
            brokers.append(broker.start())
            say(f"  mosquitto  127.0.0.1:{shard.port}  shard {shard.name}: {len(by_shard[shard.name])} homes")
        influx.start()
        say(f"  influxdb   {influx.url}  (database anxin)")
        ports = {"console": preferred_port(console_port), "alerts": preferred_port(8090)}
        urls = {"nats": ",".join(nats.urls), "influx": influx.url, "db": db_url}
        configs = _configs(state, shards, urls, ports)
        phones = start_phones(state, configs[shards[0].name], ports["alerts"])
        for shard in shards:
            users = Credentials.load(files(shards, shard, state)[0]).users
            prime_sessions(shard.port, users, alerts=False, ingest_id=f"anxin-ingest-{shard.name}")
        for name, config, args in _services(configs, logs):
            if stop:
                break
            env = {**os.environ, "ANXIN_CONFIG": str(config)}
            role = name.split("-")[0]  # ingest-a, anomaly-1, alerts: each logs in to NATS as its own role
            if role in ROLES:
                env |= nats.env(role)
            cmd = [sys.executable, "-m", "anxin", *args]
            proc = ManagedProcess(name, cmd, logs / f"{name}.log", die_with_parent=True, env=env)
            proc.spawn()
            if name.startswith("sim-"):  # a restarted simulator goes on live (replaying again would page twice)
                proc.cmd = [sys.executable, "-m", "anxin", "sim", "run"]
            children.append(proc)
        wait_http(f"http://127.0.0.1:{ports['console']}/healthz", children, stop)
        if stop:
            return 0
        if died_at_start(children):
            return 1
        _say_ready(ports["console"], configs, by_shard, login_file, phones is not None, logs)
        servers = [p for p in (pg.process, *(n.process for n in nats.nodes)) if p is not None]
        servers += [p for p in (*(b.process for b in brokers), influx.process) if p is not None]
        supervise(servers + children, stop)
    except ServerError as err:
        say(f"anxin demo: {err}", err=True)
        code = 1
    finally:
        _stop_all(stop, children, brokers, nats, influx, pg)
        end_phones(state, phones)
        say("anxin demo: stopped")
    return code


def register_homes(db_url: str, state: Path, homes: int) -> SimHomes:
    """The demo's simulated homes (rows, volunteers, accounts), as the embedded demo registers them."""
    from firmware_sim.enrol import register_demo_homes

    return register_demo_homes(db_url, state, homes)


def _stop_all(
    stop: Stop,
    children: list[ManagedProcess],
    brokers: list[Mosquitto],
    nats: NatsCluster,
    influx: InfluxD,
    pg: Postgres,
) -> None:
    """The simulators, then the services, then every server (PostgreSQL last: the services are gone by then)."""
    say_stopping(stop)
    servers = [p for p in (*(b.process for b in brokers), influx.process, *(n.process for n in nats.nodes)) if p]
    stop_children(children, servers)
    pg.stop()


def _say_ready(
    web_port: int,
    configs: dict[str, Path],
    by_shard: dict[str, list[SimHome]],
    login_file: Path,
    phones: bool,
    logs: Path,
) -> None:
    total = sum(len(h) for h in by_shard.values())
    say(f"  {total} simulated homes over {len(by_shard)} shards; 2 ingest, {WORKERS} anomaly workers; logs in {logs}")
    say(f"\n  Console: http://127.0.0.1:{web_port}/\n")
    say(f"  Log in as admin; the password (and an API token) are in {login_file}")
    for name, homes in by_shard.items():
        if homes:
            example = homes[min(1, len(homes) - 1)].label
            say(f"  Press a panic button on shard {name}:  .venv/bin/anxin sim press {example} -c {configs[name]}")
    first = next(iter(configs))
    if by_shard[first]:
        say_phones(web_port, by_shard[first][0].label, configs[first], phones)
    say("  A process that dies is restarted (after 1 s, doubling to 30 s). Ctrl-C stops everything.\n")
