"""The cluster topology (bus = "nats", docs/scale.md) survives kill -9 of an anomaly worker, a NATS node and ingest.

3 nats-server nodes (JetStream, R3), 1 Mosquitto, InfluxDB, 1 ingest bridging to JetStream, 2 anomaly workers on
8 partitions, alerts on PostgreSQL consuming findings from JetStream and paging through the Twilio stand-in. Homes
publish events and a heartbeat at QoS 1; mid-stream the test kills -9 one worker, then the node leading the events
stream, then ingest (started again on the same session: one ingest per shard, docs/scale.md), and one home presses
panic right after each kill. One home falls silent before the kills: only the workers' wall-clock ticks
(anomaly/ticks.py), which the stream holds among the agents' messages, can raise its long_inactivity. The hour of
events arrives in seconds, as an agent replaying its queue: each home's checks wait until that settles (60 s), as in
the embedded service. It asserts: every message the broker acknowledged is in JetStream exactly once (by Nats-Msg-Id),
each home's in the order sent; the set of finding ids equals a reference run of the stream through the pure engine,
each stored once; each home's checkpoint holds the reference's state; the survivor owns every partition; alerts
recorded every finding once and paged each panic and the fall once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

from anomaly.config import AnomalyOptions, LimitsSection
from anomaly.engine import Engine
from anomaly.store import freeze, thaw
from anomaly.ticks import EVENT, PartitionMessage, reference
from anomaly.worker import unpack
from anxin.bus import KIND, MSG_ID, TICK, credentials, event_msg_id, heartbeat_msg_id, home_of, state_key
from anxin.db.engine import make_engine, session_factory
from anxin.db.models import Alert, AlertFinding, SmsOutbox
from anxin.settings import NatsSettings
from contracts import Heartbeat, SensorEvent, parse_event
from contracts.topics import events_topic, heartbeat_topic
from shell.natsd import NatsCluster
from shell.servers import Broker
from shell.twilio_standin import TwilioStandin
from tests.support.alerts_fixtures import PostgresServer, postgres
from tests.support.alerts_process import AlertsProcess, seed_homes
from tests.support.cluster_fixtures import (
    StoredMsg,
    WorkerProcess,
    leases,
    nats_cluster,
    nats_env,
    state_tree,
    stream_leader,
    stream_messages,
)
from tests.support.ingest_fixtures import FaultServers, IngestProcess, fault_servers
from tests.support.waiting import wait_for

__all__ = ["fault_servers", "nats_cluster", "postgres"]  # fixtures used by name

pytestmark = pytest.mark.timeout(170)

T = TypeVar("T")
N_HOMES = 16
PER_HOME = 60
KILLS = (15, 30, 45)  # after these many minutes of every home: kill a worker, the events leader, ingest
HEARTBEAT_AT = 10
FALL_AT = 10  # one home's last movement (before the kills): it falls silent, only the workers' clock can find it
STILL_MIN = 30.0  # every home's inactivity limit (floor and ceilings), so the fall is due within the hour
LIMITS = {f"inactivity_{k}_min": STILL_MIN for k in ("floor", "ceiling_day", "ceiling_night")}


def options() -> AnomalyOptions:
    """The workers' detection options (LIMITS), for the reference run."""
    return AnomalyOptions(defaults=LimitsSection(**LIMITS))


@dataclass
class World:
    """What the homes send: MQTT items in order, the events and heartbeat ids among them, where each minute ends."""

    items: list[tuple[str, bytes]] = field(default_factory=list)
    fall_items: list[tuple[str, bytes]] = field(default_factory=list)  # the fall's home's, sent first
    events: list[SensorEvent] = field(default_factory=list)
    beats: list[str] = field(default_factory=list)
    ends: dict[int, int] = field(default_factory=dict)  # minute -> len(items) after it


def make_world(homes: list[str], panics: list[str], fall: str) -> World:
    """Each home's hour in fast motion (a minute apart, ending now), minute by minute across homes.

    A low battery here and there, one heartbeat per home, panics[i] presses its button right after kill i, and `fall`
    moves for the last time at minute FALL_AT (its messages are apart, in `fall_items`).
    """
    start = datetime.now(UTC) - timedelta(minutes=PER_HOME + 1)
    rooms = ("living", "kitchen", "bedroom", "bathroom")
    w = World()
    for k in range(1, PER_HOME + 1):
        ts = start + timedelta(minutes=k)
        for n, home in enumerate(homes):
            if home == fall and k > FALL_AT:
                continue
            room = rooms[(k + n) % len(rooms)]
            kw: dict[str, Any]
            if any(home == panics[i] and k == at + 1 for i, at in enumerate(KILLS)):
                kw = {"sensor": "btn_bed", "kind": "button", "value": "press", "room": "bedroom"}
            else:
                kw = {"sensor": f"pir_{room}", "kind": "motion", "value": 1, "room": room}
            battery = 8 if n % 5 == 0 and k > 30 else 90
            e = SensorEvent(home=home, agent="pi-1", seq=k, ts=ts, battery=battery, **kw)
            w.events.append(e)
            out = w.fall_items if home == fall else w.items
            out.append((events_topic(home), e.model_dump_json(exclude_none=True).encode()))
            if k == HEARTBEAT_AT:
                hb = Heartbeat(home=home, agent="pi-1", ts=ts, queue_depth=0, uptime_s=600.0)
                w.beats.append(heartbeat_msg_id(hb))
                out.append((heartbeat_topic(home), hb.model_dump_json().encode()))
        w.ends[k] = len(w.items)
    return w


def settled(probe: Callable[[], T | None]) -> Callable[[], T | None]:
    """A probe that answers None while the cluster is electing a leader (a request timed out) instead of failing."""

    def run() -> T | None:
        try:
            return probe()
        except Exception as err:  # nats.errors.TimeoutError, NoRespondersError while a node is down
            print(f"probe: {type(err).__name__}: {err}")
            return None

    return run


def reference_run(stream: list[StoredMsg]) -> tuple[list[str], dict[str, Any]]:
    """Finding ids and each home's state from the pure engine over the events stream, as the workers must have."""
    engine = Engine(options().engine_options())
    ids = [f.id for f in reference(engine, (PartitionMessage.of(m.subject, m.headers, m.data) for m in stream))]
    # As a checkpoint holds it: without the caches that are not part of the state (a thawed home has them empty).
    return ids, {h: state_tree(thaw(freeze(m))) for h, m in engine.homes.items()}


def tree_diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two state trees differ (paths, the first few)."""
    if type(a) is not type(b):
        return [f"{path}: {a!r:.80} != {b!r:.80}"]
    if isinstance(a, dict):
        return [d for k in sorted(set(a) | set(b)) for d in tree_diff(a.get(k), b.get(k), f"{path}.{k}")][:5]
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in tree_diff(x, y, f"{path}[{i}]")][:5]
    return [] if a == b else [f"{path}: {a!r:.80} != {b!r:.80}"]


async def _stream_count(settings: NatsSettings) -> int:
    import nats

    nc = await nats.connect(servers=settings.servers, **credentials(settings))
    try:
        return (await nc.jetstream(timeout=5).stream_info(settings.events_stream)).state.messages + 1
    finally:
        await nc.close()


def stream_count(settings: NatsSettings) -> int:
    """Messages in the events stream, plus one (so that an empty stream is a truthy answer)."""
    return asyncio.run(_stream_count(settings))


async def _checkpoints(settings: NatsSettings, homes: list[str]) -> dict[str, tuple[int, Any]]:
    import nats

    nc = await nats.connect(servers=settings.servers, **credentials(settings))
    try:
        kv = await nc.jetstream(timeout=5).key_value(settings.state_bucket)
        out = {}
        for home in homes:
            entry = await kv.get(state_key(home, settings.partitions))
            seq, monitor = unpack(entry.value or b"")
            out[home] = (seq, state_tree(monitor))
        return out
    finally:
        await nc.close()


def test_kill_worker_node_and_ingest_mid_stream(
    nats_cluster: NatsCluster, fault_servers: FaultServers, postgres: PostgresServer, broker: Broker, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    nats = nats_cluster.settings(partitions=8, ack_timeout_s=2.0, lease_s=2.0, findings_to_mqtt=False)  # the admin
    db_url = postgres.create_database()
    phones = seed_homes(db_url, N_HOMES)
    homes = sorted(phones)
    panics = [homes[1], homes[2], homes[3]]  # no low battery (n % 5 != 0): their one page is the panic's
    fall = homes[4]
    ingest = IngestProcess(
        fault_servers,
        tmp_path / "ingest",
        "cluster",
        env_extra={
            **nats_env(nats_cluster.as_role(nats, "ingest")),
            "ANXIN_INGEST__CHECK_HOMES": "false",
            "ANXIN_INGEST__CLIENT_ID": "ingest-c1",
        },
    )
    (tmp_path / "ingest").mkdir()
    standin = TwilioStandin.start()
    as_alerts = nats_cluster.as_role(nats, "alerts")
    alerts = AlertsProcess(
        "alerts-c1", tmp_path / "alerts", as_alerts, broker.settings("alerts"), db_url, standin
    ).start()
    limits = {f"ANXIN_ANOMALY__DEFAULTS__{k.upper()}": str(v) for k, v in LIMITS.items()}
    anomaly = nats_cluster.as_role(nats, "anomaly")
    workers = [WorkerProcess(f"worker-{c}", tmp_path / c, anomaly, env_extra=limits).start() for c in "ab"]
    ingest.start()
    # The fall's home first: its checks wait 60 s for its replay to settle, while the rest goes on.
    world = make_world(homes, panics, fall)
    pub = fault_servers.publisher()
    pub.publish_many(world.fall_items)
    db = make_engine(db_url)
    sessions = session_factory(db)
    try:
        alerts.wait_ready()
        wait_for(
            settled(
                lambda: (
                    sum(v.startswith("worker-a") for v in leases(nats).values()) >= 2
                    and sum(v.startswith("worker-b") for v in leases(nats).values()) >= 2
                )
            ),
            timeout=30,
            what="both workers own partitions",
        )
        items = world.items
        cut = [0, *(world.ends[at] for at in KILLS), len(items)]
        pub.publish_many(items[cut[0] : cut[1]])
        time.sleep(1.0)
        workers[0].kill()  # 1: an anomaly worker
        pub.publish_many(items[cut[1] : cut[2]])
        leader = stream_leader(nats, nats.events_stream)
        victim = next(i for i, n in enumerate(nats_cluster.nodes) if n.name == leader)
        nats_cluster.kill(victim)  # 2: the node leading the events stream
        pub.publish_many(items[cut[2] : cut[3]])
        time.sleep(0.3)  # ingest holds these while the events stream elects a leader, or is publishing them
        in_stream = wait_for(settled(lambda: stream_count(nats)), timeout=30, what="the events stream answers")
        ingest.kill()  # 3: ingest, mid-stream (the broker keeps its session and the unacknowledged messages)
        print(f"ingest killed with {in_stream - 1} of {cut[3]} messages sent so far in JetStream (and some ticks)")
        pub.publish_many(items[cut[3] : cut[4]])
        pub.wait_acked(60)
        pub.close()
        ingest.start()  # the same session: only one ingest per shard at a time
        t_published = time.monotonic() - t0

        # Every acknowledged message in JetStream exactly once, each home's in the order it was sent.
        want = Counter([event_msg_id(e) for e in world.events] + world.beats)

        def agents_messages() -> Counter[str] | None:
            got = Counter(
                m.headers.get(MSG_ID, "")
                for m in stream_messages(nats, nats.events_stream)
                if m.headers.get(KIND) != TICK
            )
            return got if got == want else None

        wait_for(settled(agents_messages), timeout=60, interval=1.0, what="every message in JetStream once")

        @dataclass
        class Snapshot:
            stream: list[StoredMsg]  # the events stream: agents' messages and ticks
            state: dict[str, tuple[int, Any]]  # each home's checkpoint: last stream sequence, state
            ref_ids: list[str]  # the reference run's findings over `stream`
            ref_state: dict[str, Any]
            stored: Counter[str]  # finding ids in the findings stream

        def consistent() -> Snapshot | None:
            """Every home's checkpoint includes its last message, and the fall's tick came (workers ticking on)."""
            stream = stream_messages(nats, nats.events_stream)
            last = {home_of(m.subject): m.seq for m in stream}
            state = asyncio.run(_checkpoints(nats, homes))
            if any(state[h][0] != last[h] for h in homes):
                return None
            ref_ids, ref_state = reference_run(stream)
            if not any(":long_inactivity:" in i for i in ref_ids):
                return None  # the fall's home waits for its replay to settle (60 s after its last event came)
            stored = Counter(m.headers.get(MSG_ID, "") for m in stream_messages(nats, nats.findings_stream))
            return Snapshot(stream, state, ref_ids, ref_state, stored)

        snap = wait_for(settled(consistent), timeout=90, interval=1.0, what="checkpoints include every message")
        stream, ref_ids = snap.stream, snap.ref_ids
        for home in homes:
            seqs = [
                parse_event(m.data).seq
                for m in stream
                if home_of(m.subject) == home and m.headers.get(KIND, EVENT) == EVENT
            ]
            assert seqs == list(range(1, (FALL_AT if home == fall else PER_HOME) + 1)), (home, seqs)
        ticks = Counter(m.headers[MSG_ID] for m in stream if m.headers.get(KIND) == TICK)
        assert all(n == 1 for n in ticks.values()), ticks

        # Findings: the reference's set over the same stream, each stored once; a panic per kill, the fall once.
        assert len(ref_ids) == len(set(ref_ids))
        assert set(snap.stored) == set(ref_ids), set(snap.stored) ^ set(ref_ids)
        assert all(n == 1 for n in snap.stored.values()), snap.stored
        panic_ids = [i for i in ref_ids if ":panic:" in i]
        assert sorted(i.split(":")[0] for i in panic_ids) == sorted(panics), panic_ids
        assert [i.split(":")[0] for i in ref_ids if ":long_inactivity:" in i] == [fall], ref_ids
        print(f"{len(stream)} partition messages ({len(ticks)} ticks), {len(ref_ids)} findings")
        # Each home's checkpoint holds the reference's state, field by field.
        diff = {h: tree_diff(snap.state[h][1], snap.ref_state[h]) for h in homes}
        assert not any(diff.values()), {h: d for h, d in diff.items() if d}

        # The survivor owns every partition. (Read until the lease bucket answers: with a node killed, a read can time
        # out while its replicas elect a leader, and an empty table says nothing of who owns what.)
        def survivor_owns_all() -> dict[str, str] | None:
            owners = {k: v for k, v in leases(nats).items() if k.startswith("p.")}
            done = len(owners) == nats.partitions and all(v.startswith("worker-b") for v in owners.values())
            return owners if done else None

        wait_for(survivor_owns_all, timeout=30, what="the surviving worker owning every partition")

        # alerts: every finding recorded once, every page sent; each panic paged once, to its home's volunteer.
        def paged() -> bool:
            with sessions() as s:
                recorded = list(s.scalars(select(AlertFinding.finding_id)))
                unsent = s.scalar(
                    select(func.count()).select_from(SmsOutbox).where(SmsOutbox.status.in_(("pending", "sending")))
                )
            return sorted(recorded) == sorted(ref_ids) and unsent == 0

        wait_for(paged, timeout=45, interval=0.5, what="alerts records every finding and sends every page")
        with sessions() as s:
            panic_alerts = Counter(s.scalars(select(Alert.home_id).where(Alert.kind == "panic")))
            sent = select(SmsOutbox.alert_id).where(SmsOutbox.status == "sent", SmsOutbox.alert_id.is_not(None))
            pages = Counter(s.scalars(sent))
            fell = Counter(s.scalars(select(Alert.home_id).where(Alert.kind == "long_inactivity")))
        assert panic_alerts == Counter(panics), panic_alerts
        assert fell == Counter([fall]), fell
        assert all(n == 1 for n in pages.values()), pages
        by_number = Counter(r.to for r in standin.accepted)
        assert all(by_number[phones[h]] == 1 for h in [*panics, fall]), by_number
        took = time.monotonic() - t0
        print(f"published and killed by {t_published:.1f}s, everything checked at {took:.1f}s")
        assert took < 120
    finally:
        for w in workers:
            w.stop()
        ingest.stop()
        alerts.stop()
        standin.stop()
        db.dispose()
        print(workers[1].log()[-3000:])
        print(ingest.log()[-2000:])
