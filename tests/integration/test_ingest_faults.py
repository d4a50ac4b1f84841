"""Ingest under faults, with real servers and ingest as a real process: every good event stored exactly once."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from anxin.db.engine import make_engine, session_factory
from anxin.db.models import DeadLetter, DeadLetterCount, Home
from anxin.influxql import InfluxQL
from bench.ingest_bench import FastPublisher, home_ids, make_events
from tests.support.ingest_fixtures import (
    FaultServers,
    IngestProcess,
    assert_exactly_once,
    fault_servers,  # noqa: F401 - fixture
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def _publish_paced(servers: FaultServers, items: list[tuple[str, bytes]], seconds: float) -> threading.Thread:
    """Publish in the background, spread over `seconds` (load while the fault happens)."""

    def run() -> None:
        pub = servers.publisher()
        chunk = max(1, len(items) // int(seconds * 20))
        for i in range(0, len(items), chunk):
            pub.publish_many(items[i : i + chunk])
            time.sleep(0.05)
        pub.wait_acked()
        pub.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_sigkill_mid_stream_and_restart(fault_servers: FaultServers, tmp_path: Path) -> None:  # noqa: F811
    homes = home_ids(50)
    ing = IngestProcess(fault_servers, tmp_path, "kill", toml='client_id = "ingest-kill"\n').start()
    pub = _publish_paced(fault_servers, make_events(homes, 400), seconds=3)
    wait_for(lambda: ing.metric("anxin_ingest_stored_total") > 3000, what="ingest storing")
    ing.kill()
    pub.join(30)
    ing = IngestProcess(fault_servers, tmp_path, "kill", toml='client_id = "ingest-kill"\n').start()
    try:
        assert_exactly_once(fault_servers.influx, "kill", homes, 400)
        ing.assert_healthy()
        # Retention was set up on first start from the TOML file.
        rps = InfluxQL(fault_servers.influx.url, "kill").query('SHOW RETENTION POLICIES ON "kill"')[0].records()
        assert any(r["name"] == "autogen" and r["duration"] == "8736h0m0s" for r in rps)
    finally:
        ing.stop()


def test_influxdb_down_under_load_spills_then_replays(fault_servers: FaultServers, tmp_path: Path) -> None:  # noqa: F811
    homes = home_ids(40)
    ing = IngestProcess(fault_servers, tmp_path, "outage", toml='client_id = "ingest-outage"\n').start()
    try:
        pub = _publish_paced(fault_servers, make_events(homes, 300), seconds=5)
        wait_for(lambda: ing.metric("anxin_ingest_stored_total") > 1000, what="ingest storing")
        fault_servers.influx.stop()
        acked = ing.metric("anxin_ingest_acked_total")
        # InfluxDB is gone: ingest keeps acknowledging, into the spill.
        wait_for(lambda: ing.metric("anxin_ingest_spill_events") > 1000, what="events spilled")
        assert ing.metric("anxin_ingest_acked_total") > acked
        assert ing.metric("anxin_ingest_influx_up") == 0.0
        pub.join(30)
        time.sleep(1)
        fault_servers.influx.start("outage")
        assert_exactly_once(fault_servers.influx, "outage", homes, 300)
        wait_for(lambda: ing.metric("anxin_ingest_spill_events") == 0, what="spill drained")
        ing.assert_healthy()
    finally:
        ing.stop()


def test_broker_restart_under_load(fault_servers: FaultServers, tmp_path: Path) -> None:  # noqa: F811
    homes = home_ids(40)
    items = make_events(homes, 300)
    half = len(items) // 2
    ing = IngestProcess(fault_servers, tmp_path, "brokerfault", toml='client_id = "ingest-brk"\n').start()
    try:
        pub = fault_servers.publisher()
        pub.publish_many(items[:half])
        pub.wait_acked()
        pub.close()
        fault_servers.restart_broker()  # while ingest is still draining the first half
        wait_for(lambda: ing.metric("anxin_ingest_mqtt_connected") == 1.0, timeout=30, what="ingest reconnected")
        pub = fault_servers.publisher()
        pub.publish_many(items[half:])
        pub.wait_acked()
        pub.close()
        assert_exactly_once(fault_servers.influx, "brokerfault", homes, 300)
        ing.assert_healthy()
    finally:
        ing.stop()


def _malformed(i: int, homes: list[str], now: datetime) -> tuple[str, bytes, str]:
    home = homes[i % len(homes)]
    topic = f"anxin/v1/homes/{home}/events"
    good = {"v": 1, "home": home, "agent": "pi-x", "seq": 1 + i, "ts": now.isoformat(), "sensor": "s1"}
    good |= {"kind": "motion", "value": 1}
    match i % 7:
        case 0:
            return topic, b"{not json" + str(i).encode(), "not_json"
        case 1:
            return topic, json.dumps(good | {"value": "ajar"}).encode(), "schema"
        case 2:
            return topic, json.dumps(good | {"room": "x" * 5000}).encode(), "too_large"
        case 3:
            return topic, json.dumps(good | {"home": "h-elsewhere"}).encode(), "home_mismatch"
        case 4:
            return topic, json.dumps(good | {"ts": (now + timedelta(days=1)).isoformat()}).encode(), "future_ts"
        case 5:
            return topic, json.dumps(good | {"battery": 250}).encode(), "out_of_range"
        case _:
            stranger = f"h-stranger{i % 100:03d}"
            return f"anxin/v1/homes/{stranger}/events", json.dumps(good | {"home": stranger}).encode(), "unknown_home"


def test_10k_malformed_mixed_into_good_traffic(fault_servers: FaultServers, tmp_path: Path, db_url: str) -> None:  # noqa: F811
    homes = home_ids(50)
    with session_factory(make_engine(db_url))() as s, s.begin():
        s.add_all(Home(id=h, label=h[-3:], district="bench", created_at=datetime.now(UTC)) for h in homes)
    good = make_events(homes, 400)
    now = datetime.now(UTC)
    bad = [_malformed(i, homes, now) for i in range(10_000)]
    expected_reasons: dict[str, int] = {}
    for _t, _p, reason in bad:
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    mixed: list[tuple[str, bytes]] = []
    for i, item in enumerate(good):  # one bad message after every other good one, the rest at the end
        mixed.append(item)
        if i % 2 == 0 and bad:
            topic, payload, _reason = bad.pop()
            mixed.append((topic, payload))
    mixed += [(t, p) for t, p, _r in bad]
    ing = IngestProcess(
        fault_servers,
        tmp_path,
        "malformed",
        toml='client_id = "ingest-bad"\n',
        env_extra={"ANXIN_DATABASE__URL": db_url, "ANXIN_INGEST__HOMES_REFRESH_S": "0.5"},
    ).start()
    try:
        pub = fault_servers.publisher()
        pub.publish_many(mixed)
        pub.wait_acked()
        pub.close()
        assert_exactly_once(fault_servers.influx, "malformed", homes, 400)
        wait_for(lambda: ing.metric("anxin_ingest_received_total") == len(mixed), what="all received")
        m = ing.metrics()
        got = {r: m.get(f'anxin_ingest_invalid_total{{reason="{r}"}}', 0) for r in expected_reasons}
        assert got == expected_reasons
        with session_factory(make_engine(db_url))() as s:
            # Every rejection is counted per home and reason; only a bounded sample is kept as rows (burst 20 per
            # home, at most 5 per home and reason).
            rows = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
            by_reason = dict(
                s.execute(select(DeadLetterCount.reason, func.sum(DeadLetterCount.count)).group_by("reason")).all()
            )
        assert by_reason == expected_reasons
        assert 0 < rows <= 50 * 20 + 100 * 5
        ing.assert_healthy()
    finally:
        ing.stop()


def test_the_bench_publisher_counts_acks_after_a_quiet_spell(fault_servers: FaultServers) -> None:  # noqa: F811
    # The cluster test publishes, waits while a stream elects its leader, then publishes again: acks after a quiet
    # spell longer than the connect timeout must still be counted (the reader's socket once timed out and stopped).
    pub = FastPublisher("127.0.0.1", fault_servers.port, "bench", fault_servers.users["bench"], connect_timeout=1.0)
    try:
        events = make_events(home_ids(2), 10)
        pub.publish_many(events[:5])
        pub.wait_acked(10)
        time.sleep(2.5)  # quiet for longer than the connect timeout
        pub.publish_many(events[5:])
        pub.wait_acked(10)
        assert pub.acked == pub.sent == len(events)
    finally:
        pub.close()
