"""Cluster path figures (docs/scale.md): `anxin bench cluster --figures` or `python -m bench.cluster_bench`.

In one run on this machine: events/s through one ingest into InfluxDB (the embedded path) and into InfluxDB plus a
3-node JetStream (R3) cluster (the bridge), the same events; then events/s one anomaly worker drains those events
(engine, findings, KV checkpoints, acks); then KV compare-and-set writes/s of a 4 KB state.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anxin.bus import credentials
from anxin.settings import NatsSettings
from bench.ingest_bench import FastPublisher, home_ids, ingest_env, make_events, start_bench_broker, try_scrape
from shell.natsd import NatsCluster
from shell.servers import InfluxD, free_port


def _nats_env(n: NatsSettings) -> dict[str, str]:
    env = {
        "ANXIN_BUS": "nats",
        "ANXIN_NATS__SERVERS": json.dumps(n.servers),
        "ANXIN_NATS__PARTITIONS": str(n.partitions),
        "ANXIN_NATS__FINDINGS_TO_MQTT": "false",
    }
    if n.user is not None and n.password is not None:  # its role's login (shell/nats_auth.py)
        env |= {"ANXIN_NATS__USER": n.user, "ANXIN_NATS__PASSWORD": n.password.get_secret_value()}
    return env


async def _js_count(s: NatsSettings) -> tuple[int, int, int]:
    """Messages in the events stream, events the anomaly consumers have yet to ack, and consumers created."""
    import nats

    nc = await nats.connect(servers=s.servers, **credentials(s))
    try:
        js = nc.jetstream(timeout=5)
        msgs = (await js.stream_info(s.events_stream)).state.messages
        left = created = 0
        for p in range(s.partitions):
            try:
                info = await js.consumer_info(s.events_stream, f"anomaly-p{p}")
            except Exception:
                left += 1  # not created yet
                continue
            created += 1
            left += info.num_pending + info.num_ack_pending
        return msgs, left, created
    finally:
        await nc.close()


def _ingest(port: int, users: dict[str, str], influx: InfluxD, state: Path, extra: dict[str, str]) -> tuple[Any, int]:
    metrics = free_port()
    env = ingest_env(port, users["ingest"], influx.url, state, metrics, check_homes="false", batch_interval_s=0.05)
    env.update(extra)
    proc = subprocess.Popen([sys.executable, "-m", "anxin", "ingest"], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while try_scrape(metrics).get("anxin_ingest_mqtt_connected") != 1.0:
        if time.monotonic() > deadline:
            raise RuntimeError("ingest did not connect")
        time.sleep(0.2)
    return proc, metrics


def _run_ingest(port: int, users: dict[str, str], events: list[tuple[str, bytes]], metrics: int) -> float:
    """Seconds from the first publish until ingest acknowledged (stored, and published when bridged) them all."""
    pub = FastPublisher("127.0.0.1", port, "bench", users["bench"])
    t0 = time.monotonic()
    pub.publish_many(events)
    while try_scrape(metrics).get("anxin_ingest_acked_total", 0) < len(events):
        time.sleep(0.05)
    took = time.monotonic() - t0
    pub.close()
    return took


def main(events: int = 40_000, homes: int = 1000) -> int:
    """Print the figures; returns 0."""
    tmp = Path(tempfile.mkdtemp(prefix="anxin-cluster-bench-"))
    cluster = NatsCluster(tmp / "nats").start()
    broker, port, users = start_bench_broker(tmp / "mq")
    influx = InfluxD(tmp / "influx", free_port()).start()
    s = cluster.settings(partitions=16)  # the admin: the bench's own probes
    procs: list[subprocess.Popen[bytes]] = []
    try:
        per_home = events // homes
        ids = home_ids(homes)
        out: dict[str, float] = {}
        proc, metrics = _ingest(port, users, influx, tmp / "embedded", {})
        procs.append(proc)
        out["embedded_ingest_events_s"] = events / _run_ingest(port, users, make_events(ids, per_home), metrics)
        proc.terminate()
        proc.wait(30)
        extra = {"ANXIN_INGEST__CLIENT_ID": "ingest-nats", **_nats_env(cluster.as_role(s, "ingest"))}
        proc, metrics = _ingest(port, users, influx, tmp / "bridged", extra)
        procs.append(proc)
        took = _run_ingest(port, users, make_events(ids, per_home, first_seq=per_home + 1), metrics)
        out["bridged_ingest_events_s"] = events / took
        assert asyncio.run(_js_count(s))[0] == events
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
        env.update(
            {
                **_nats_env(cluster.as_role(s, "anomaly")),
                "ANXIN_STATE_DIR": str(tmp / "worker"),
                "ANXIN_LOG_LEVEL": "WARNING",
            }
        )
        t0 = time.monotonic()
        procs.append(subprocess.Popen([sys.executable, "-m", "anxin", "anomaly"], env=env))
        started = 0.0
        while (count := asyncio.run(_js_count(s)))[1] > 0:
            if not started and count[2] == s.partitions:
                started = time.monotonic()  # every partition's consumer exists: the worker is consuming
            time.sleep(0.2)
        out["worker_drain_events_s_incl_start"] = events / (time.monotonic() - t0)
        out["worker_drain_events_s_after_start"] = events / (time.monotonic() - (started or t0))
        out["kv_cas_writes_s_4kb"] = asyncio.run(_kv_rate(s))
        for k, v in out.items():
            print(f"{k}: {v:,.0f}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        influx.stop()
        broker.stop()
        cluster.stop()


async def _kv_rate(s: NatsSettings, n: int = 5000, concurrent: int = 200) -> float:
    """Compare-and-set updates/s of 4 KB values on `concurrent` keys (R3), as worker checkpoints write them."""
    import nats

    nc = await nats.connect(servers=s.servers, **credentials(s))
    try:
        kv = await nc.jetstream(timeout=10).key_value(s.state_bucket)
        blob = os.urandom(4096)
        revs = {k: await kv.put(f"bench.{k}", blob) for k in range(concurrent)}

        async def writer(k: int) -> None:
            for _ in range(n // concurrent):
                revs[k] = await kv.update(f"bench.{k}", blob, last=revs[k])

        t0 = time.monotonic()
        await asyncio.gather(*(writer(k) for k in range(concurrent)))
        return n / (time.monotonic() - t0)
    finally:
        await nc.close()


if __name__ == "__main__":
    raise SystemExit(main())
