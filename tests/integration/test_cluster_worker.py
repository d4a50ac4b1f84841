"""Anomaly workers on a real 3-node JetStream cluster: checkpoint fencing, takeover time, bridge ids, the relay."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anomaly.config import AnomalySettings
from anomaly.relay import DURABLE as RELAY_DURABLE
from anomaly.relay import FindingsRelay
from anomaly.worker import Stale, Worker, step, unpack
from anxin.bus import event_msg_id, events_subject, partition
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import NatsSettings
from contracts import Finding, SensorEvent, findings_topic, parse_finding
from contracts.topics import FINDINGS_FILTER, events_topic
from contracts.vocabulary import FindingKind, Severity
from ingest.jetstream import JetStreamBridge
from ingest.mqttlink import Message
from shell.natsd import NatsCluster
from shell.servers import Broker
from tests.support.cluster_fixtures import WorkerProcess, leases, nats_cluster
from tests.support.waiting import wait_for

__all__ = ["nats_cluster"]  # fixture used by name
pytestmark = pytest.mark.timeout(90)
HOME = "h-fence01"


def _event(seq: int) -> SensorEvent:
    ts = datetime.now(UTC) - timedelta(minutes=100 - seq)
    return SensorEvent(
        home=HOME, agent="pi-1", seq=seq, ts=ts, sensor="pir_living", kind="motion", value=1, room="living"
    )


def test_partition_is_stable_and_spreads_homes() -> None:
    # FNV-1a: the same home lands in the same partition in every process and release.
    assert partition("h-aaaaaa", 256) == partition("h-aaaaaa", 256)
    assert events_subject("h-aaaaaa", 256) == f"anxin.events.{partition('h-aaaaaa', 256)}.h-aaaaaa"
    used = {partition(f"h-home{i:05d}", 256) for i in range(5000)}
    assert len(used) == 256


def test_bridge_sends_events_only_with_their_dedupe_id() -> None:
    e = _event(7)
    msgs = [
        Message(events_topic(HOME), e.model_dump_json().encode(), 1, 1, 1),
        Message(f"anxin/v1/homes/{HOME}/heartbeat", b"{}", 1, 2, 1),
    ]
    out = JetStreamBridge.outgoing(msgs, 8)
    assert out == [(events_subject(HOME, 8), msgs[0].payload, f"{HOME}:pi-1:0:7")]
    assert event_msg_id(e) == f"{HOME}:pi-1:0:7"


def test_a_stale_worker_cannot_overwrite_a_newer_checkpoint(nats_cluster: NatsCluster) -> None:
    settings = AnomalySettings(
        bus="nats", nats=NatsSettings(servers=nats_cluster.urls, partitions=4, state_bucket="fence_state")
    )

    async def scenario() -> None:
        old, new = Worker(settings, "old"), Worker(settings, "new")
        conns = [await old.open(), await new.open()]
        try:
            # The old owner checkpoints the home after event 1.
            st = await old._home(HOME)
            step(old.engine, _event(1))
            st.seq = 1
            await old._checkpoint({HOME})
            # Its lease lapsed (a long pause): the new owner resumes from that checkpoint and moves on.
            st_new = await new._home(HOME)
            assert st_new.seq == 1
            step(new.engine, _event(2))
            st_new.seq = 2
            await new._checkpoint({HOME})
            # The old owner wakes up and processes event 2 too: its write on the old revision is refused.
            step(old.engine, _event(2))
            st.seq = 2
            with pytest.raises(Stale):
                await old._checkpoint({HOME})
            kv = old._state
            assert kv is not None
            entry = await kv.get(f"h.{HOME}")
            assert entry.revision == st_new.rev
            seq, _monitor = unpack(entry.value or b"")
            assert seq == 2
        finally:
            for nc in conns:
                await nc.close()

    asyncio.run(scenario())


def test_partitions_of_a_killed_worker_are_taken_within_seconds(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    nats = NatsSettings(
        servers=nats_cluster.urls, partitions=8, lease_s=2.0, lease_bucket="takeover_leases", findings_to_mqtt=False
    )
    workers = [WorkerProcess(f"tw-{c}", tmp_path / c, nats).start() for c in "ab"]
    try:

        def split() -> bool:
            owners = [v for k, v in leases(nats).items() if k.startswith("p.")]
            return len(owners) == 8 and {o[:4] for o in owners} == {"tw-a", "tw-b"}

        wait_for(split, timeout=30, interval=0.2, what="both workers own partitions")
        workers[0].kill()
        t0 = time.monotonic()

        def survivor_owns_all() -> bool:
            owners = [v for k, v in leases(nats).items() if k.startswith("p.")]
            return len(owners) == 8 and all(o.startswith("tw-b") for o in owners)

        wait_for(survivor_owns_all, timeout=20, interval=0.1, what="survivor owns every partition")
        took = time.monotonic() - t0
        print(f"takeover of a killed worker's partitions: {took:.1f}s (lease_s = {nats.lease_s})")
        assert took < nats.lease_s + 4, workers[1].log()
    finally:
        for w in workers:
            w.stop()


def test_relay_republishes_findings_to_mqtt_once_acked(nats_cluster: NatsCluster, broker: Broker) -> None:
    """A finding in JetStream reaches an MQTT subscriber (the alerts account) through the relay, and is acked."""
    nats = NatsSettings(servers=nats_cluster.urls, partitions=4)
    got: list[tuple[str, bytes]] = []
    alerts = make_client(broker.settings("alerts"), "relay-test-alerts")
    alerts.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    connect_and_wait(alerts, broker.settings("alerts"))
    alerts.subscribe(FINDINGS_FILTER, qos=1)
    time.sleep(0.3)
    finding = Finding(
        id=f"{HOME}:panic:pi-1:9",
        home=HOME,
        kind=FindingKind.PANIC,
        severity=Severity.CRITICAL,
        ts=datetime.now(UTC),
        since=datetime.now(UTC),
        detector="button",
    )

    async def scenario() -> int:
        worker = Worker(AnomalySettings(bus="nats", nats=nats), "relay-test")
        nc = await worker.open()
        try:
            await worker._publish([finding])
            await worker._publish([finding])  # again (a replay after a takeover): JetStream stores it once
            assert worker._js is not None
            relay = FindingsRelay(worker._js, nats, broker.settings("anomaly"), "relay-test-anomaly")
            task = asyncio.create_task(relay.run())
            for _ in range(100):
                if relay.relayed:
                    break
                await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            info = await worker._js.consumer_info(nats.findings_stream, RELAY_DURABLE)
            assert info.num_ack_pending == 0 and info.num_pending == 0
            return relay.relayed
        finally:
            await nc.close()

    try:
        assert asyncio.run(scenario()) == 1
        wait_for(lambda: got, timeout=10, what="finding on MQTT")
        assert got[0][0] == findings_topic(HOME)
        assert parse_finding(got[0][1]).id == finding.id
    finally:
        alerts.disconnect()
        alerts.loop_stop()


def test_an_unreadable_checkpoint_starts_the_home_afresh_and_is_replaced(nats_cluster: NatsCluster) -> None:
    """An older engine's (or a damaged) checkpoint must not stop the partition: the home starts afresh, CAS holds."""
    settings = AnomalySettings(
        bus="nats", nats=NatsSettings(servers=nats_cluster.urls, partitions=4, state_bucket="stale_state")
    )

    async def scenario() -> None:
        worker = Worker(settings, "afresh")
        nc = await worker.open()
        try:
            kv = worker._state
            assert kv is not None
            rev = await kv.put(f"h.{HOME}", b"\x00" * 8 + b"not a checkpoint")
            st = await worker._home(HOME)
            assert (st.seq, st.rev) == (0, rev)
            step(worker.engine, _event(1))
            st.seq = 1
            await worker._checkpoint({HOME})
            seq, _monitor = unpack((await kv.get(f"h.{HOME}")).value or b"")
            assert seq == 1
        finally:
            await nc.close()

    asyncio.run(scenario())
