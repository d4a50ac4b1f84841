"""`anxin bench cluster`: agent publish -> stored + finding, embedded path vs cluster path in one run, and takeover.

Same machine, same Mosquitto and InfluxDB, same number of events for both paths (fresh homes each round):
- embedded: ingest (bus = "mqtt") and one anomaly service reading MQTT; findings on MQTT;
- cluster: ingest bridging to a 3-node JetStream (R3) and `workers` anomaly workers on `partitions` partitions;
  findings on JetStream.
Each home publishes `per_home - 1` motion events and then presses its panic button. A round's time runs from the
first publish until ingest acknowledged every event (stored, and in JetStream when bridged) and every home's panic
finding arrived: as a home's events are processed in order, its panic finding means all its events went through.

Takeover: with the cluster round's workers running, one is killed with SIGKILL; measured are the time until the
survivors hold every partition's lease, and until a panic pressed then in each of the dead worker's partitions
comes out as a finding.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from anxin.broker import new_password, write_broker_files
from anxin.bus import credentials, partition
from anxin.mqtt import connect_and_wait, ensure_session, make_client
from anxin.settings import MqttSettings, NatsSettings
from bench.ingest_bench import FastPublisher, ingest_env, try_scrape
from contracts import Finding, parse_finding
from contracts.topics import FINDINGS_FILTER, ROOT
from shell.natsd import NatsCluster
from shell.servers import InfluxD, ManagedProcess, find_binary, free_port, port_open

Events = list[tuple[str, bytes]]


def events(homes: list[str], per_home: int, first_seq: int = 1, start: datetime | None = None) -> Events:
    """Round-robin motion events of every home, then each home's panic press (its last event)."""
    base = start or datetime.now(UTC)
    out: Events = []
    for k in range(per_home):
        seq, stamp = first_seq + k, (base + timedelta(milliseconds=k)).isoformat()
        last = k == per_home - 1
        body = (
            '"sensor":"panic","kind":"button","value":"press","room":"bedroom"'
            if last
            else (f'"sensor":"pir_living","kind":"motion","value":{seq & 1},"room":"living"')
        )
        for h in homes:
            payload = f'{{"v":1,"home":"{h}","agent":"pi-1","seq":{seq},"ts":"{stamp}",{body},"battery":87}}'
            out.append((f"{ROOT}/homes/{h}/events", payload.encode()))
    return out


class Panics:
    """Distinct panic findings seen, by home, with the time each home's first one arrived."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.first: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, payload: bytes) -> None:
        """Count a finding's payload (other kinds and repeats are ignored)."""
        f: Finding = parse_finding(payload)
        if f.kind != "panic":
            return
        with self._lock:
            self.ids.add(f.id)
            self.first.setdefault(f.home, time.monotonic())

    def homes(self, wanted: set[str]) -> int:
        """How many of `wanted` have a panic finding."""
        with self._lock:
            return len(wanted & self.first.keys())


class Servers:
    """Mosquitto (ingest, anomaly, alerts, bench accounts), InfluxDB, a 3-node NATS cluster, under one folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.users = {u: new_password() for u in ("ingest", "anomaly", "alerts", "bench")}
        conf = write_broker_files(
            tmp / "mq", self.port, self.users, extra_acl={"bench": [f"topic write {ROOT}/homes/#"]}
        )
        self.broker = ManagedProcess(
            "mosquitto", [find_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)], tmp / "mq" / "mq.out"
        )
        self.broker.start(lambda: port_open(self.port))
        self.influx = InfluxD(tmp / "influx", free_port()).start()
        self.nats = NatsCluster(tmp / "nats").start(timeout=60)

    def mqtt(self, user: str) -> MqttSettings:
        """Client settings of an account."""
        from pydantic import SecretStr

        return MqttSettings(port=self.port, username=user, password=SecretStr(self.users[user]), keepalive_s=120)

    def stop(self) -> None:
        """Stop every server."""
        self.nats.stop()
        self.influx.stop()
        self.broker.stop()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "anxin", *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def _ingest(s: Servers, state: Path, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    metrics = free_port()
    env = ingest_env(
        s.port, s.users["ingest"], s.influx.url, state, metrics, check_homes="false", batch_interval_s=0.05
    )
    env.update(extra)
    proc = _spawn(["ingest"], env, state / "ingest.log")
    _wait(lambda: try_scrape(metrics).get("anxin_ingest_mqtt_connected") == 1.0, 60, "ingest to connect")
    return proc, metrics


def _service_env(s: Servers, state: Path, user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(
        {
            "ANXIN_STATE_DIR": str(state),
            "ANXIN_DATABASE__URL": f"sqlite:///{state / 'anxin.db'}",
            "ANXIN_MQTT__PORT": str(s.port),
            "ANXIN_MQTT__USERNAME": user,
            "ANXIN_MQTT__PASSWORD": s.users[user],
            "ANXIN_LOG_LEVEL": "WARNING",
        }
    )
    return env


def nats_env(n: NatsSettings) -> dict[str, str]:
    """The variables that put a service on the cluster bus."""
    env = {
        "ANXIN_BUS": "nats",
        "ANXIN_NATS__SERVERS": json.dumps(n.servers),
        "ANXIN_NATS__PARTITIONS": str(n.partitions),
        "ANXIN_NATS__LEASE_S": str(n.lease_s),
        "ANXIN_NATS__FINDINGS_TO_MQTT": "false",
    }
    if n.user is not None and n.password is not None:  # its role's login (shell/nats_auth.py)
        env |= {"ANXIN_NATS__USER": n.user, "ANXIN_NATS__PASSWORD": n.password.get_secret_value()}
    return env


def _round(s: Servers, metrics: int, panics: Panics, homes: list[str], per_home: int) -> tuple[float, float]:
    """Publish, then wait for every ack and every home's panic finding; (seconds until stored, until found too)."""
    batch = events(homes, per_home)
    pub = FastPublisher("127.0.0.1", s.port, "bench", s.users["bench"])
    t0 = time.monotonic()
    pub.publish_many(batch)
    wanted = set(homes)
    timeout = 120 + len(batch) / 500
    _wait(lambda: try_scrape(metrics).get("anxin_ingest_acked_total", 0) >= len(batch), timeout, "acks")
    stored = time.monotonic() - t0
    _wait(lambda: panics.homes(wanted) == len(wanted), timeout, "every home's panic finding")
    took = time.monotonic() - t0
    pub.close()
    return stored, took


def embedded(s: Servers, homes: list[str], per_home: int) -> tuple[float, float]:
    """The embedded path's seconds for these events: ingest and one anomaly service on MQTT."""
    from anomaly.service import SUBSCRIPTIONS

    state = s.tmp / "embedded"
    ensure_session(s.mqtt("anomaly"), "bench-anomaly", list(SUBSCRIPTIONS), 3600)
    panics = Panics()
    sub = make_client(s.mqtt("alerts"), "bench-findings")
    sub.on_message = lambda _c, _u, m: panics.add(bytes(m.payload))
    connect_and_wait(sub, s.mqtt("alerts"))
    sub.subscribe(FINDINGS_FILTER, qos=1)
    ingest, metrics = _ingest(s, state, {})
    env = _service_env(s, state, "anomaly") | {"ANXIN_ANOMALY__CLIENT_ID": "bench-anomaly", "ANXIN_LOG_LEVEL": "INFO"}
    anomaly = _spawn(["anomaly"], env, state / "anomaly.log")
    try:
        # Connected before the clock starts, as the cluster round's workers hold their partitions before it.
        _wait(lambda: "anomaly running" in (state / "anomaly.log").read_text(), 60, "the anomaly service to connect")
        return _round(s, metrics, panics, homes, per_home)
    finally:
        for p in (ingest, anomaly):
            p.terminate()
            p.wait(30)
        sub.disconnect()
        sub.loop_stop()


async def lease_table(n: NatsSettings) -> dict[str, str]:
    """The lease bucket now: `p.<partition>` -> the worker holding it, `w.<id>` -> a live worker ({} before any)."""
    import nats
    from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError

    nc = await nats.connect(servers=n.servers, **credentials(n))
    try:
        try:
            kv = await nc.jetstream(timeout=5).key_value(n.lease_bucket)
        except BucketNotFoundError:  # no worker up yet
            return {}
        try:
            keys = await kv.keys()
        except NoKeysError:
            return {}
        out = {}
        for k in keys:
            try:
                entry = await kv.get(k)
            except KeyNotFoundError:  # released or expired since keys() listed it
                continue
            out[k] = (entry.value or b"").decode()
        return out
    finally:
        await nc.close()


async def _leases(n: NatsSettings) -> dict[int, str]:
    """Partition -> the worker holding its lease now."""
    return {int(k[2:]): v for k, v in (await lease_table(n)).items() if k.startswith("p.")}


class NatsFindings:
    """A core NATS subscription on every finding, on its own thread."""

    def __init__(self, n: NatsSettings, panics: Panics) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.nc: Any = asyncio.run_coroutine_threadsafe(self._subscribe(n, panics), self.loop).result(30)

    async def _subscribe(self, n: NatsSettings, panics: Panics) -> Any:
        import nats

        nc = await nats.connect(servers=n.servers, **credentials(n))

        async def on_msg(msg: Any) -> None:
            panics.add(msg.data)

        await nc.subscribe("anxin.findings.>", cb=on_msg)
        await nc.flush()
        return nc

    def close(self) -> None:
        """Close the connection and stop the thread."""
        asyncio.run_coroutine_threadsafe(self.nc.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def cluster(s: Servers, n: NatsSettings, homes: list[str], per_home: int, workers: int) -> dict[str, float]:
    """The cluster path's seconds for these events, then the takeover of a killed worker's partitions."""
    state = s.tmp / "cluster"
    panics = Panics()
    findings = NatsFindings(n, panics)
    ingest, metrics = _ingest(
        s, state, {"ANXIN_INGEST__CLIENT_ID": "bench-ingest-nats", **nats_env(s.nats.as_role(n, "ingest"))}
    )
    procs = [
        _spawn(
            ["anomaly"],
            _service_env(s, state / f"w{i}", "anomaly") | nats_env(s.nats.as_role(n, "anomaly")),
            state / f"worker-{i}.log",
        )
        for i in range(workers)
    ]
    try:
        # Every partition leased (consumers exist) before the clock starts, as the embedded service is subscribed.
        _wait(lambda: _spread(asyncio.run(_leases(n)), n, workers), 120, "every partition leased by the workers")
        stored, took = _round(s, metrics, panics, homes, per_home)
        out = {"cluster_stored_s": stored, "cluster_s": took}
        out.update(takeover(s, n, procs, panics, metrics, per_home))
        return out
    finally:
        for p in [ingest, *procs]:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        findings.close()


def _spread(leases: dict[int, str], n: NatsSettings, workers: int) -> bool:
    """Every partition leased, and every worker holding some."""
    return len(leases) == n.partitions and len(set(leases.values())) == workers


def takeover(
    s: Servers, n: NatsSettings, procs: list[subprocess.Popen[bytes]], panics: Panics, metrics: int, seq: int
) -> dict[str, float]:
    """Kill a worker; seconds until its partitions are leased by others, and until a panic in each is found."""
    before = asyncio.run(_leases(n))
    victim_id = f"anxin-anomaly-{os.uname().nodename}-{procs[0].pid}"
    dead = {p for p, w in before.items() if w == victim_id}
    if not dead:
        raise RuntimeError(f"worker {victim_id} holds no partition: {sorted(set(before.values()))}")
    # One fresh home per dead partition, to press a panic in after the kill.
    probes: dict[int, str] = {}
    i = 0
    while len(probes) < len(dead):
        h = f"h-probe{i:06d}"
        if partition(h, n.partitions) in dead:
            probes.setdefault(partition(h, n.partitions), h)
        i += 1
    t0 = time.monotonic()
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)
    pub = FastPublisher("127.0.0.1", s.port, "bench", s.users["bench"])
    pub.publish_many(events(list(probes.values()), 1, first_seq=seq + 1))
    leased = 0.0
    wanted = set(probes.values())
    deadline = t0 + 60 + 10 * n.lease_s
    while panics.homes(wanted) < len(wanted) or not leased:
        if not leased:
            now = asyncio.run(_leases(n))
            if len(now) == n.partitions and victim_id not in now.values():
                leased = time.monotonic() - t0
        if time.monotonic() > deadline:
            raise RuntimeError("the killed worker's partitions were not taken over")
        time.sleep(0.05)
    found = max(panics.first[h] for h in wanted) - t0
    pub.close()
    return {"takeover_leases_s": leased, "takeover_first_finding_s": found, "takeover_partitions": float(len(dead))}


def main(
    events_n: int = 40_000, homes_n: int = 1000, workers: int = 2, partitions: int = 16, lease_s: float = 3.0
) -> int:
    """Run both paths and the takeover; print the figures as ratios to the embedded path. Returns 0."""
    per_home = max(2, events_n // homes_n)
    total = per_home * homes_n
    tmp = Path(tempfile.mkdtemp(prefix="anxin-bench-cluster-"))
    s = Servers(tmp)
    n = s.nats.settings(partitions=partitions, lease_s=lease_s)  # the admin: the bench's own probes
    try:
        e_stored, e_took = embedded(s, [f"h-emb{i:06d}" for i in range(homes_n)], per_home)
        c = cluster(s, n, [f"h-clu{i:06d}" for i in range(homes_n)], per_home, workers)
    finally:
        s.stop()
    print(f"end to end: {total:,} events of {homes_n} homes published at QoS 1, each home's last a panic press")
    print(f"  {'path':<62} {'stored':>8} {'+ finding':>10} {'events/s':>9}  ratio")
    cluster_name = f"cluster: 1 ingest, {workers} workers, {partitions} partitions, JetStream R3"
    rows = [
        ("embedded: 1 ingest, 1 anomaly service, MQTT", e_stored, e_took),
        (cluster_name, c["cluster_stored_s"], c["cluster_s"]),
    ]
    for name, stored, took in rows:
        print(f"  {name:<62} {stored:6.2f} s {took:8.2f} s {total / took:9,.0f}  {e_took / took:5.2f}")
    print("  (ratio: end-to-end events/s against the embedded path's; stored: until ingest acked the last event)")
    print(
        f"takeover of a SIGKILLed worker's {c['takeover_partitions']:.0f} partitions (lease_s = {lease_s:g}): "
        f"leases held by the survivors after {c['takeover_leases_s']:.1f} s, a panic pressed in each found after "
        f"{c['takeover_first_finding_s']:.1f} s"
    )
    print(f"(logs in {tmp})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
