"""Anomaly workers on a real 3-node JetStream cluster: fencing, takeover time, bridge ids, the relay, silent homes.

Over 400 lines on purpose: every test here shares one cluster (`nats_cluster` is module-scoped), started once; a
second module would start a second cluster and add its start-up to the suite's time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.js.api import ConsumerInfo
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy import select

from anomaly.config import AnomalyOptions, AnomalySettings, LimitsSection
from anomaly.engine import Engine
from anomaly.feedback_bridge import FeedbackBridge
from anomaly.relay import DURABLE as RELAY_DURABLE
from anomaly.relay import FindingsRelay
from anomaly.ticks import EVENT, PartitionMessage, apply, run_tick, step
from anomaly.worker import Stale, Worker, pack, unpack
from anxin.bus import (
    AT,
    FEEDBACK,
    HEARTBEAT,
    KIND,
    MSG_ID,
    STATUS,
    TICK,
    control_subject,
    credentials,
    event_msg_id,
    events_subject,
    partition,
    state_key,
)
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import DatabaseSettings, NatsSettings
from contracts import (
    ContractError,
    Feedback,
    Finding,
    Heartbeat,
    SensorEvent,
    Status,
    dump,
    feedback_topic,
    findings_topic,
    parse_finding,
)
from contracts.topics import FINDINGS_FILTER, events_topic, heartbeat_topic, status_topic
from contracts.vocabulary import FindingKind, Severity
from ingest.jetstream import JetStreamBridge
from ingest.mqttlink import Message
from shell.natsd import NatsCluster
from shell.servers import Broker
from tests.support.cluster_fixtures import WorkerProcess, leases, nats_cluster, stream_messages
from tests.support.waiting import wait_for

__all__ = ["nats_cluster"]  # fixture used by name
pytestmark = pytest.mark.timeout(90)
HOME = "h-fence01"
# The KV buckets of this module's own that the anomaly role may use (tests/support/cluster_fixtures.py).
NATS_BUCKETS = (
    *("fence_state", "takeover_leases", "stale_state", "silent_state", "silent_leases"),
    *("burst_state", "burst_leases", "registry_state", "registry_leases", "consumer_state"),
)


@asynccontextmanager
async def opened(settings: AnomalySettings, worker_id: str) -> AsyncIterator[Worker]:
    """A worker connected to the cluster (its streams and buckets open), its connection closed after."""
    worker = Worker(settings, worker_id)
    nc = await worker.open()
    try:
        yield worker
    finally:
        await nc.close()


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


def test_bridge_sends_events_status_and_heartbeats_in_the_home_partition_with_dedupe_ids() -> None:
    e = _event(7)
    ts = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    status = Status(state="offline", agent="pi-1", version="1.0", ts=ts)
    hb = Heartbeat(home=HOME, agent="pi-1", ts=ts, queue_depth=0, uptime_s=5.0)
    msgs = [
        Message(events_topic(HOME), e.model_dump_json().encode(), 1, 1, 1),
        Message(status_topic(HOME), status.model_dump_json().encode(), 1, 2, 1),
        Message(heartbeat_topic(HOME), hb.model_dump_json().encode(), 1, 3, 1),
        Message(heartbeat_topic(HOME), b"{}", 1, 4, 1),  # dead-lettered before: not bridged
    ]
    out = JetStreamBridge.outgoing(msgs, 8, received=1234.5)
    ms = int(ts.timestamp() * 1000)
    subject = events_subject(HOME, 8)
    assert out == [
        (subject, msgs[0].payload, {MSG_ID: f"{HOME}:pi-1:0:7", AT: "1234.5"}),
        (subject, msgs[1].payload, {MSG_ID: f"status/{HOME}/pi-1/offline/{ms}", KIND: STATUS, AT: "1234.5"}),
        (subject, msgs[2].payload, {MSG_ID: f"heartbeat/{HOME}/pi-1/{ms}", KIND: HEARTBEAT, AT: "1234.5"}),
    ]
    assert event_msg_id(e) == f"{HOME}:pi-1:0:7"
    # What the worker makes of them: the same home, kind and time; a kind it does not know is refused, not guessed.
    pm = PartitionMessage.of(subject, out[1][2], out[1][1])
    assert (pm.home, pm.kind, pm.at) == (HOME, STATUS, 1234.5)
    assert PartitionMessage.of(subject, out[0][2], out[0][1]).kind == EVENT
    assert PartitionMessage.of(subject, {}, b"{}").at is None  # an event from an ingest before receipt times
    with pytest.raises(ContractError):
        PartitionMessage.of(subject, {KIND: "gossip", AT: "1.0"}, b"{}")
    # A worker's kinds only on a worker's subject, and an agent's only on an agent's (anxin.bus.control_subject).
    for kind in (TICK, FEEDBACK):
        with pytest.raises(ContractError, match="an agent's subject"):
            PartitionMessage.of(subject, {KIND: kind, AT: "1.0"}, b"{}")
        assert PartitionMessage.of(control_subject(HOME, 8, kind), {KIND: kind, AT: "1.0"}, b"").kind == kind
    with pytest.raises(ContractError, match="the tick subject"):
        PartitionMessage.of(control_subject(HOME, 8, TICK), {KIND: STATUS, AT: "1.0"}, b"{}")
    with pytest.raises(ContractError):
        PartitionMessage.of(control_subject(HOME, 8, TICK), {KIND: TICK, AT: "nan"}, b"")


def test_a_stale_worker_cannot_overwrite_a_newer_checkpoint(nats_cluster: NatsCluster) -> None:
    settings = AnomalySettings(
        bus="nats", nats=nats_cluster.settings("anomaly", partitions=4, state_bucket="fence_state")
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
            entry = await kv.get(state_key(HOME, 4))
            assert entry.revision == st_new.rev
            seq, _monitor = unpack(entry.value or b"")
            assert seq == 2
        finally:
            for nc in conns:
                await nc.close()

    asyncio.run(scenario())


def test_partitions_of_a_killed_worker_are_taken_within_seconds(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    nats = nats_cluster.settings(partitions=8, lease_s=2.0, lease_bucket="takeover_leases", findings_to_mqtt=False)
    workers = [WorkerProcess(f"tw-{c}", tmp_path / c, nats_cluster.as_role(nats, "anomaly")).start() for c in "ab"]
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
    nats = nats_cluster.settings("anomaly", partitions=4)  # the relay's consumer as a worker runs it
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
        async with opened(AnomalySettings(bus="nats", nats=nats), "relay-test") as worker:
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

    try:
        assert asyncio.run(scenario()) == 1
        wait_for(lambda: got, timeout=10, what="finding on MQTT")
        assert got[0][0] == findings_topic(HOME)
        assert parse_finding(got[0][1]).id == finding.id
    finally:
        alerts.disconnect()
        alerts.loop_stop()


def test_a_registry_that_cannot_be_read_leaves_a_checkpoints_limits(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    """The database away when a worker takes a home over: the checkpoint's budget (the last word a worker had) stands,
    not the TOML's, and no partition counts as covered."""
    from anomaly.engine import HomeLimits, HomeMonitor

    nats = nats_cluster.settings("anomaly", partitions=4, state_bucket="registry_state", feedback_from_mqtt=False)
    away = DatabaseSettings(url=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'anxin.db'}")
    home = "h-dbaway01"

    async def scenario() -> None:
        async with opened(AnomalySettings(bus="nats", nats=nats, database=away), "db-away") as worker:
            assert worker._state is not None
            old = HomeMonitor(home, UTC, HomeLimits(false_alarm_budget_per_60d=2.5))
            await worker._state.put(state_key(home, 4), pack(3, old))
            worker._held_since[partition(home, 4)] = 1  # (as if taken)
            await worker.read_registry()
            assert worker._covered == set()
            await worker._home(home)
            assert worker.engine.homes[home].limits.false_alarm_budget_per_60d == 2.5

    asyncio.run(scenario())


def test_verdicts_reach_the_homes_partition_once_and_move_its_limits(nats_cluster: NatsCluster, broker: Broker) -> None:
    """Responders' feedback, published by alerts on MQTT while the bridge is between two workers, waits in its session
    and is stored in its home's partition (once, however often it comes); run there, it loosens that home's limit as
    in the embedded service. Feedback on another home's topic is dropped and counted."""
    nats = nats_cluster.settings("anomaly", partitions=4)
    home = "h-verdict01"
    fb = Feedback(
        home=home,
        alert_id=41,
        kind=FindingKind.DOOR_LEFT_OPEN,
        finding_ids=[f"{home}:door_left_open:1"],
        since=datetime.now(UTC) - timedelta(minutes=30),
        outcome="false_alarm",
        ts=datetime.now(UTC),
    )
    alerts = make_client(broker.settings("alerts"), "verdict-test-alerts")
    connect_and_wait(alerts, broker.settings("alerts"))

    async def bridged(publish: bool) -> dict[str, int]:
        """Run a bridge (the one client id every worker uses) until it handled 3 verdicts, or briefly."""
        async with opened(AnomalySettings(bus="nats", nats=nats), "verdict-test") as worker:
            assert worker._js is not None
            bridge = FeedbackBridge(worker._js, nats, broker.settings("anomaly"), "verdict-test-feedback")
            task = asyncio.create_task(bridge.run())
            for _ in range(150):
                await asyncio.sleep(0.1)
                if sum(bridge.counts.values()) == 3 or (not publish and bridge.subscribed):
                    break
            task.cancel()
            await asyncio.wait({task}, timeout=30)
            return bridge.counts

    try:
        assert asyncio.run(bridged(publish=False)) == {}  # the first holder: the session and its subscription
        for topic in (feedback_topic(home), feedback_topic(home), feedback_topic("h-other01")):
            alerts.publish(topic, dump(fb), qos=1).wait_for_publish(5)  # twice: a redelivery; no bridge running
        counts = asyncio.run(bridged(publish=True))  # the next holder takes them from the session
    finally:
        alerts.disconnect()
        alerts.loop_stop()
    assert counts == {"feedback": 2, "feedback_invalid": 1}
    admin = nats_cluster.settings(partitions=4)
    stored = [m for m in stream_messages(admin, admin.events_stream) if m.headers.get(KIND) == FEEDBACK]
    assert [m.subject for m in stored] == [control_subject(home, 4, FEEDBACK)]  # once, in the home's partition
    engine = Engine()
    apply(engine, PartitionMessage.of(stored[0].subject, stored[0].headers, stored[0].data))
    assert engine.homes[home].scale[FindingKind.DOOR_LEFT_OPEN] == 1.25  # a false alarm loosens that kind's limit


def test_an_unreadable_checkpoint_starts_the_home_afresh_and_is_replaced(nats_cluster: NatsCluster) -> None:
    """An older engine's (or a damaged) checkpoint must not stop the partition: the home starts afresh, CAS holds."""
    settings = AnomalySettings(
        bus="nats", nats=nats_cluster.settings("anomaly", partitions=4, state_bucket="stale_state")
    )

    async def scenario() -> None:
        async with opened(settings, "afresh") as worker:
            kv = worker._state
            assert kv is not None
            rev = await kv.put(state_key(HOME, 4), b"\x00" * 8 + b"not a checkpoint")
            st = await worker._home(HOME)
            assert (st.seq, st.rev) == (0, rev)
            step(worker.engine, _event(1))
            st.seq = 1
            await worker._checkpoint({HOME})
            seq, _monitor = unpack((await kv.get(state_key(HOME, 4))).value or b"")
            assert seq == 1

    asyncio.run(scenario())


def test_a_partitions_consumer_is_recreated_at_its_ack_floor_only_while_events_are_in_flight(
    nats_cluster: NatsCluster,
) -> None:
    """A taken partition's events come in order: a dead owner's unacked batch first, none skipped, none lost.

    A consumer with nothing in flight is kept as it is, so a retry whose create landed though its reply timed out
    binds to it rather than deleting it again (a CI run looped so for over a minute while a node was down). A retry
    whose create failed after its delete starts from the ack floor it read, not the stream's first event.
    """
    settings = AnomalySettings(
        bus="nats", nats=nats_cluster.settings("anomaly", partitions=4, state_bucket="consumer_state")
    )
    admin = nats_cluster.settings(partitions=4)
    home = "h-consumer01"
    p, stream = partition(home, 4), settings.nats.events_stream
    events = [_event(k).model_copy(update={"home": home}) for k in range(1, 9)]

    async def publish(batch: list[SensorEvent]) -> None:  # (as ingest would: the anomaly role may not)
        subject = events_subject(home, 4)
        await _publish(admin, [(subject, e.model_dump_json().encode(), {MSG_ID: event_msg_id(e)}) for e in batch])

    async def taken(worker: Worker, want: list[int]) -> tuple[JetStreamContext.PullSubscription, list[Msg]]:
        sub = await worker._consumer(p)
        msgs = await sub.fetch(len(want), timeout=5)
        assert [SensorEvent.model_validate_json(m.data).seq for m in msgs] == want
        return sub, msgs

    async def created(js: JetStreamContext) -> datetime:
        at: datetime = (await js.consumer_info(stream, f"anomaly-p{p}")).created
        return at

    async def scenario() -> None:
        async with opened(settings, "first") as first:
            js = first._js
            assert js is not None
            with contextlib.suppress(NotFoundError):  # (an earlier test's worker may have left one)
                await js.delete_consumer(stream, f"anomaly-p{p}")
            # A consumer from the stream's end, as a create whose reply never came would leave it: kept, not redone.
            await js.add_consumer(stream, first._consumer_config(p, (await js.stream_info(stream)).state.last_seq))
            made = await created(js)
            await publish(events[:5])
            _sub, msgs = await taken(first, [1, 2, 3, 4, 5])
            assert await created(js) == made
            for m in msgs[:2]:
                await m.ack_sync()  # the owner dies with 3, 4 and 5 delivered and not acked
            async with opened(settings, "second") as second:
                _, msgs = await taken(second, [3, 4, 5])  # at once, not after the 30 s ack wait
                assert await created(js) != made
                made = await created(js)
                for m in msgs:
                    await m.ack_sync()
            async with opened(settings, "third") as third:
                await publish(events[5:8])
                _, msgs = await taken(third, [6, 7, 8])
                assert await created(js) == made  # nothing was in flight: kept
                await msgs[0].ack_sync()
            async with opened(settings, "fourth") as fourth:
                assert fourth._js is not None
                add = fourth._js.add_consumer
                failed: list[str] = []

                async def lost_once(*args: Any, **kw: Any) -> ConsumerInfo:
                    if not failed:  # the delete went through; the create's request is lost on the way
                        failed.append("create")
                        raise TimeoutError("nats: timeout")
                    return await add(*args, **kw)

                fourth._js.add_consumer = lost_once  # type: ignore[method-assign]
                with pytest.raises(TimeoutError):
                    await fourth._consumer(p)
                with pytest.raises(NotFoundError):
                    await created(js)
                await taken(fourth, [7, 8])

    asyncio.run(scenario())


def test_a_worker_reads_the_registry_and_writes_routine_summaries(nats_cluster: NatsCluster, db_url: str) -> None:
    """What an operator sets in the console reaches a cluster worker's homes, checkpointed ones included, and the
    console sees what they learned (as the service does: docs/scale.md)."""
    from anomaly.engine import HomeLimits, HomeMonitor
    from anxin.db.engine import url_session
    from anxin.db.models import Home, HomeSensor, RoutineSummary

    fresh = "h-registry02"
    with url_session(db_url) as s, s.begin():
        for home, budget in ((HOME, 3.0), (fresh, None)):
            now, zone = datetime.now(UTC), "Asia/Shanghai"
            s.add(Home(id=home, label=home, district="d", created_at=now, timezone=zone, false_alarm_budget=budget))
        s.flush()
        s.add(HomeSensor(home_id=HOME, sensor="mat_1", kind="pressure", room="bedroom", role="seat"))
        s.add(HomeSensor(home_id=fresh, sensor="mat_1", kind="pressure", room="bedroom", role="seat"))
    nats = nats_cluster.settings(
        "anomaly", partitions=4, state_bucket="registry_state", lease_bucket="registry_leases", feedback_from_mqtt=False
    )
    settings = AnomalySettings(bus="nats", nats=nats, database=DatabaseSettings(url=db_url))

    async def scenario() -> None:
        async with opened(settings, "registry") as worker:
            kv = worker._state
            assert kv is not None
            # A checkpoint written under what the console said before: budget 2.5, the mat a bed, the service's zone.
            old = HomeMonitor(HOME, UTC, HomeLimits(false_alarm_budget_per_60d=2.5))
            old.set_sensor_meta({"mat_1": {"kind": "pressure", "room": "bedroom", "role": "bed"}})
            await kv.put(state_key(HOME, 4), pack(7, old))
            await worker.balance()  # takes the 4 partitions: each waits for the registry's word before consuming
            await worker.read_registry()  # (what the worker's routine task does when a partition is taken)
            await wait_until(lambda: HOME in worker.homes, "the checkpoint adopted")
            st, m = worker.homes[HOME], worker.engine.homes[HOME]
            assert st.seq == 7 and m.limits.false_alarm_budget_per_60d == 3.0
            assert m.kit.mat_role("mat_1") == "seat" and str(m._tz) == "Asia/Shanghai"
            step(worker.engine, _event(1).model_copy(update={"home": fresh}))  # a home new to the worker
            worker.homes.setdefault(fresh, type(st)())
            mf = worker.engine.homes[fresh]
            assert mf.kit.mat_role("mat_1") == "seat" and str(mf._tz) == "Asia/Shanghai"
            await worker.write_summaries(await worker.summaries(), datetime.now(UTC))
            for p in list(worker.owned):
                await worker.drop(p, release=True)
            assert HOME not in worker.engine.home_kits  # a partition given up takes the registry's word with it
        with url_session(db_url) as s:
            written = {r.home_id: r for r in s.scalars(select(RoutineSummary))}
        assert set(written) == {HOME, fresh} and "stillness" in written[HOME].summary

    asyncio.run(scenario())


async def wait_until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll `cond` on the loop until it holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _first_due(engine: Engine, home: str, kind: FindingKind) -> Finding:
    """Run the home's clock through its due times (as worker ticks do) until it raises `kind`."""
    monitor = engine.homes[home]
    for _ in range(500):
        found = [f for f in run_tick(monitor, monitor.next_check) if f.kind == kind]
        if found:
            return found[0]
    raise AssertionError(f"{home}: no {kind} in 500 due times")


STILL_MIN = 30.0  # the silent homes' inactivity limit, floor and ceilings alike: not the time of day's prior
LIMITS = {"inactivity_floor_min": STILL_MIN, "inactivity_ceiling_day_min": STILL_MIN}
LIMITS["inactivity_ceiling_night_min"] = STILL_MIN


def _options() -> AnomalyOptions:
    return AnomalyOptions(defaults=LimitsSection(**LIMITS))


def _fall(home: str, due_at: float) -> tuple[list[SensorEvent], Finding]:
    """Half an hour of movement, then silence: the pure engine's long_inactivity is due at `due_at`."""
    last = due_at - STILL_MIN * 60
    rooms = ("living", "kitchen", "bathroom")
    events = [
        SensorEvent(
            home=home,
            agent="pi-1",
            seq=k,
            ts=datetime.fromtimestamp(last - (30 - k) * 60, UTC),
            sensor=f"pir_{rooms[k % 3]}",
            kind="motion",
            value=1,
            room=rooms[k % 3],
        )
        for k in range(1, 31)
    ]
    engine = Engine(_options().engine_options())
    for e in events:
        step(engine, e, e.ts.timestamp() + 0.5)
    finding = _first_due(engine, home, FindingKind.LONG_INACTIVITY)
    assert abs(finding.ts.timestamp() - due_at) < 0.01, (finding, due_at)
    return events, finding


def _homes_of(owner: str, owners: dict[str, str], n: int, partitions: int) -> list[str]:
    """n home ids whose partitions `owner` leases (`owners`: the lease bucket as read)."""
    mine = {int(k[2:]) for k, v in owners.items() if k.startswith("p.") and v.startswith(owner)}
    homes = (f"h-silent{i:04d}" for i in range(10_000))
    return [h for h in homes if partition(h, partitions) in mine][:n]


async def _publish(
    nats: NatsSettings, items: list[tuple[str, bytes, dict[str, str]]], pause: tuple[int, float] = (0, 0.0)
) -> None:
    """Publish items in order; `pause` = (n, s): wait s seconds after the first n."""
    import nats as nats_py

    nc = await nats_py.connect(servers=nats.servers, **credentials(nats))
    try:
        js = nc.jetstream(timeout=5)
        for k, (subject, payload, headers) in enumerate(items):
            if k == pause[0]:
                await asyncio.sleep(pause[1])
            await js.publish(subject, payload, headers=headers)
    finally:
        await nc.close()


def test_a_backlog_is_not_ticked_halfway(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    """A home's events that ingest received half an hour ago arrive late, in two parts: no tick judges the first alone.

    The first part alone ends in a silence whose long_inactivity passed long ago on the wall clock; a worker that ticked
    the home between the parts would raise it, though the second part ends that silence (the CI flake of
    test_silent_homes_are_ticked_once_across_a_worker_kill, made certain by a pause). Between the parts, a live
    heartbeat of another home of the same partition: lateness is the home's own, not its partition's.
    """
    nats = nats_cluster.settings(
        partitions=4, lease_s=2.0, state_bucket="burst_state", lease_bucket="burst_leases", findings_to_mqtt=False
    )
    limits = {f"ANXIN_ANOMALY__DEFAULTS__{k.upper()}": str(v) for k, v in LIMITS.items()}
    worker = WorkerProcess("bw-a", tmp_path / "a", nats_cluster.as_role(nats, "anomaly"), env_extra=limits).start()
    try:

        def owns_all() -> bool:
            return len([k for k in leases(nats) if k.startswith("p.")]) == 4

        wait_for(owns_all, timeout=30, interval=0.2, what="the worker owns every partition")
        home = "h-burst0001"
        other = next(h for h in (f"h-live{i:04d}" for i in range(1000)) if partition(h, 4) == partition(home, 4))
        events, want = _fall(home, time.time() + 6)
        items = [
            JetStreamBridge.outgoing(
                [Message(events_topic(home), e.model_dump_json().encode(), 1, 1, 1)],
                nats.partitions,
                received=e.ts.timestamp() + 0.5,
            )[0]
            for e in events
        ]
        hb = Heartbeat(home=other, agent="pi-1", ts=datetime.now(UTC), queue_depth=0, uptime_s=5.0)
        live = Message(heartbeat_topic(other), hb.model_dump_json().encode(), 1, 1, 1)
        half = len(items) // 2
        items.insert(half, JetStreamBridge.outgoing([live], nats.partitions, received=time.time())[0])
        asyncio.run(_publish(nats, items, pause=(half + 1, 0.5)))

        def findings() -> list[Finding]:
            got = (parse_finding(m.data) for m in stream_messages(nats, nats.findings_stream))
            return [f for f in got if f.home == home and f.kind == FindingKind.LONG_INACTIVITY]

        wait_for(findings, timeout=30, interval=0.2, what="the fall's long_inactivity")
        time.sleep(2)  # a second one would come now, if at all
        assert [f.id for f in findings()] == [want.id], worker.log()
    finally:
        worker.stop()


def test_silent_homes_are_ticked_once_across_a_worker_kill(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    """A fall then silence: long_inactivity comes from the worker's clock alone, once, though its worker is killed.

    Three homes of worker A's partitions, through the ingest bridge's message format: `replayed` falls, and A is
    killed right after publishing its long_inactivity, before A checkpoints the tick (every 5 s), so B replays that
    tick and raises the same finding again (deduplicated by id); `silent` falls too but is due only after the kill:
    no message brings it to B, which must find it among the partition's checkpoints and tick it; `offline`'s agent
    said offline (a status with ingest's receipt time), so agent_offline is due once its 10 min grace passed.
    """
    nats = nats_cluster.settings(
        partitions=8,
        lease_s=2.0,
        state_bucket="silent_state",
        lease_bucket="silent_leases",
        findings_to_mqtt=False,
    )
    limits = {f"ANXIN_ANOMALY__DEFAULTS__{k.upper()}": str(v) for k, v in LIMITS.items()}
    anomaly = nats_cluster.as_role(nats, "anomaly")
    workers = [WorkerProcess(f"sw-{c}", tmp_path / c, anomaly, env_extra=limits).start() for c in "ab"]
    try:

        def split() -> dict[str, str] | None:
            held = leases(nats)
            owners = [v for k, v in held.items() if k.startswith("p.")]
            return held if len(owners) == 8 and {o[:4] for o in owners} == {"sw-a", "sw-b"} else None

        held = wait_for(split, timeout=30, interval=0.2, what="both workers own partitions")
        replayed, silent, offline = _homes_of("sw-a", held, 3, nats.partitions)
        t0 = time.time()
        # `replayed` is due well after A's first checkpoint (about 5 s after the falls came) and killed well before its
        # next (5 s after the tick), so B must replay the tick; the others are due after B took over (lease_s = 2).
        falls = {replayed: _fall(replayed, t0 + 12), silent: _fall(silent, t0 + 30)}
        received = t0 + 24 - 600  # the agent's grace is 10 min
        status = Status(state="offline", agent="pi-1", version="1.0", ts=datetime.fromtimestamp(received, UTC))
        off_msg = Message(status_topic(offline), status.model_dump_json().encode(), 1, 1, 1)
        ref = Engine(_options().engine_options())
        (item,) = JetStreamBridge.outgoing([off_msg], nats.partitions, received=received)
        apply(ref, PartitionMessage.of(item[0], item[2], item[1]))
        want = {
            replayed: falls[replayed][1],
            silent: falls[silent][1],
            offline: _first_due(ref, offline, FindingKind.AGENT_OFFLINE),
        }
        # Received as they happened (live, not an agent replaying its queue, which holds the checks back for a while).
        items = [
            *(
                JetStreamBridge.outgoing(
                    [Message(events_topic(e.home), e.model_dump_json().encode(), 1, 1, 1)],
                    nats.partitions,
                    received=e.ts.timestamp() + 0.5,
                )[0]
                for h in falls
                for e in falls[h][0]
            ),
            item,
        ]
        asyncio.run(_publish(nats, items))

        def findings() -> dict[str, list[Finding]]:
            out: dict[str, list[Finding]] = {h: [] for h in want}
            for f in (parse_finding(m.data) for m in stream_messages(nats, nats.findings_stream)):
                if f.home in out:
                    out[f.home].append(f)
            return out

        wait_for(lambda: findings()[replayed], timeout=30, interval=0.1, what="the first fall's long_inactivity")
        workers[0].kill()
        killed_at = time.time()
        wait_for(lambda: all(findings().values()), timeout=45, interval=0.5, what="every silent home's finding")
        time.sleep(3)  # a doubled finding would come now, if at all
        got = findings()
        for home, finding in want.items():
            assert [f.id for f in got[home]] == [finding.id], (home, got[home], workers[1].log())
            # Run at the engine's due time, not the wall time: the same finding as the pure engine, field by field.
            assert got[home][0].model_dump(mode="json") == finding.model_dump(mode="json")
        b_log = (tmp_path / "b" / "worker.log").read_text()
        print(f"killed {killed_at - t0:.1f}s after publishing; B's log:\n{b_log[-3000:]}")
        # B raised `replayed` again from the replayed tick (the store kept one) and `silent` from its own tick.
        assert f"finding long_inactivity for {replayed}" in b_log
        assert f"finding long_inactivity for {silent}" in b_log
        assert f"finding agent_offline for {offline}" in b_log
    finally:
        for w in workers:
            w.stop()
