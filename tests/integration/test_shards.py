"""Mosquitto shards at provisioning (anxin/shards.py) against two real Mosquitto brokers and the console's registry:
each home is given a shard once, its bundle names that broker, and its password opens its own shard only."""

from __future__ import annotations

import io
import json
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from anxin import shards as sharding
from anxin.broker import Credentials, agent_client_id
from anxin.db.engine import url_session
from anxin.db.models import Home
from anxin.mqtt import connect_and_wait, make_client
from anxin.registry import ensure_service_accounts
from anxin.settings import MqttSettings
from console.app import create_app
from contracts import events_topic
from contracts.topics import TopicKind, home_filter
from shell.servers import InfluxD, Mosquitto, free_port
from tests.integration.test_registry import accounts
from tests.integration.test_registry_install import _can_connect
from tests.support.console_fixtures import bearer, console_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def two_shards(tmp_path: Path) -> Iterator[tuple[Path, list[sharding.Shard]]]:
    """Two Mosquitto brokers, each with the service accounts in its own accounts file, as `[[shards]]` lists them."""
    state = tmp_path / "state"
    services = dict(ensure_service_accounts(state).users)
    shards = [sharding.Shard(name="a", port=free_port()), sharding.Shard(name="b", port=free_port())]
    brokers = []
    for shard in shards:
        creds, folder = sharding.files(shards, shard, state)
        Credentials(creds, dict(services)).save()
        brokers.append(Mosquitto(folder, shard.port, dict(services)).start())
    yield state, shards
    for b in brokers:
        b.stop()


def _publish_seen(state: Path, port: int, home: str, password: str) -> bool:
    """Publish one event as the home's agent on this broker; whether ingest's account received it there."""
    services = Credentials.load(state / "credentials.json").users
    got = threading.Event()
    ingest = MqttSettings(port=port, username="ingest", password=services["ingest"])
    sub = make_client(ingest, f"test-ingest-{port}")
    sub.on_message = lambda _c, _u, m: got.set() if home in m.topic else None
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    connect_and_wait(sub, ingest)
    sub.subscribe(home_filter(TopicKind.EVENTS), qos=1)
    # Publish only once the broker has the subscription (under the full suite's load the SUBACK came late).
    assert subscribed.wait(10), "ingest's subscription was not acknowledged"
    try:
        settings = MqttSettings(port=port, username=home, password=password)
        agent = make_client(settings, agent_client_id(home))
        connect_and_wait(agent, settings)
        event = {"home": home, "agent": "pi", "seq": 1, "ts": "2026-12-01T08:00:00+08:00"}
        event |= {"sensor": "door_front", "kind": "door", "value": "open", "room": "entrance"}
        agent.publish(events_topic(home), json.dumps(event), qos=1).wait_for_publish(5)
        agent.disconnect()
        agent.loop_stop()
        return got.wait(5)
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_homes_on_two_shards_get_their_own_broker_in_the_bundle_and_publish_only_there(
    two_shards: tuple[Path, list[sharding.Shard]], db_url: str, influxd: InfluxD
) -> None:
    state, shards = two_shards
    settings = console_settings(db_url, influxd.url)
    settings.state_dir, settings.shards = state, shards
    settings.mqtt = MqttSettings(port=shards[0].port)
    op = bearer(accounts(db_url)["operator"])
    with TestClient(create_app(settings, background=False)) as c:
        c.post("/api/registry/districts", json={"name": "东湖社区"}, headers=op)
        kit = [{"sensor": "door_front", "kind": "door", "room": "entrance"}]
        homes = []
        for label in ("3-501", "3-502"):
            saved = c.post(
                "/api/registry/homes", json={"label": label, "district": "东湖社区", "sensors": kit}, headers=op
            )
            assert saved.json()["warning"] is None, saved.json()
            homes.append(saved.json()["id"])
        with url_session(db_url) as s:
            on: dict[str, str | None] = {h.id: h.shard for h in s.scalars(select(Home))}
        # The fewest-homes rule spreads two new homes over both shards, and the row keeps each choice.
        assert sorted(on[h] or "" for h in homes) == ["a", "b"]
        # A home imported without an account (CSV) is given its shard when its bundle is issued.
        with url_session(db_url) as s, s.begin():
            s.add(Home(id="h-0000000000cc", label="3-503", district="东湖社区", created_at=datetime.now(UTC)))
        homes.append("h-0000000000cc")
        bundles = {}
        for h in homes:
            got = c.post(f"/api/registry/homes/{h}/bundle", headers=op)
            assert got.status_code == 200, got.text
            bundles[h] = tomllib.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("edge.toml").decode())["mqtt"]
        with url_session(db_url) as s:
            on = {h.id: h.shard for h in s.scalars(select(Home))}
        assert on["h-0000000000cc"] == "a"  # a tie goes to the first listed shard

    port = {s.name: s.port for s in shards}
    for h in homes:
        own, other = port[on[h] or ""], port["b" if on[h] == "a" else "a"]
        assert bundles[h]["port"] == own and bundles[h]["host"] == "127.0.0.1"
        password = bundles[h]["password"]
        # Its own shard takes its events; the other shard does not know the account at all.
        assert _publish_seen(state, own, h, password)
        assert not _can_connect(other, h, password, agent_client_id(h))
    assert bundles[homes[0]]["port"] != bundles[homes[1]]["port"]
    assert len(homes) == 3
    # Each shard's accounts file holds its own homes only (besides the services).
    for shard in shards:
        users = Credentials.load(sharding.files(shards, shard, state)[0]).users
        assert {h for h in homes if h in users} == {h for h in homes if on[h] == shard.name}


def test_a_homes_shard_is_kept_when_shards_are_added_and_a_removed_shard_is_an_error(db_url: str) -> None:
    a, b, c = (sharding.Shard(name=n, port=p) for n, p in (("a", 1883), ("b", 1884), ("c", 1885)))
    with url_session(db_url) as s, s.begin():
        for i in range(3):
            s.add(Home(id=f"h-00000000000{i}", label=str(i), district="d", created_at=datetime.now(UTC)))
        s.flush()
        old = s.get(Home, "h-000000000000")
        assert old is not None and old.shard is None
        # A row from before shards is on the first shard, and stays there.
        assert sharding.shard_of(s, "h-000000000000", [a, b]).name == "a"
        assert sharding.assign(s, "h-000000000001", [a, b]).name == "b"  # a holds the old home (h-2 has none yet)
        # A new shard fills first; the homes already placed do not move.
        assert sharding.assign(s, "h-000000000002", [a, b, c]).name == "c"
        assert sharding.assign(s, "h-000000000001", [a, b, c]).name == "b"
        with pytest.raises(sharding.ShardError, match="not in"):
            sharding.shard_of(s, "h-000000000001", [a, c])
