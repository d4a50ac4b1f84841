"""Attacks on the NATS cluster of bus = "nats" (shell/nats_auth.py), against a real 3-node JetStream cluster.

Each test logs in as one service role (or as nobody) and tries what that role must not do; the admin then checks the
streams and buckets are untouched. A denied request is answered by nothing (the server sends a permissions violation
to the client and drops it), so each attempt waits a short timeout and the error callback must name the violation.
On the cluster as it was before logins (no `authorization` block, open routes) every attempt here succeeds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from pydantic import SecretStr

from alerts.config import AlertsSettings
from alerts.jetstream import DURABLE as ALERTS_DURABLE
from anxin.bus import (
    MSG_ID,
    LoginRefused,
    connect,
    credentials,
    ensure_bus,
    events_subject,
    findings_subject,
    state_key,
)
from anxin.settings import ConfigError, NatsSettings, load_settings
from shell.natsd import NatsCluster, nats_binary
from shell.servers import ManagedProcess, free_port
from tests.support.cluster_fixtures import nats_cluster, stream_messages
from tests.support.waiting import wait_for

__all__ = ["nats_cluster"]  # fixture used by name
pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
HOME = "h-victim01"
DENIED_S = 1.0  # how long a denied request waits for the answer that never comes


class Session:
    """A login as one role, recording the errors the server sends it (a permissions violation is one)."""

    def __init__(self, settings: NatsSettings) -> None:
        self.settings = settings
        self.errors: list[str] = []
        self.nc: Client | None = None

    async def __aenter__(self) -> Session:
        async def on_error(err: Exception) -> None:
            self.errors.append(str(err).lower())

        self.nc = await nats.connect(
            servers=self.settings.servers, error_cb=on_error, allow_reconnect=False, **credentials(self.settings)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.nc is not None
        await self.nc.close()

    @property
    def js(self) -> JetStreamContext:
        """Its JetStream context, with the short timeout of a denied request."""
        assert self.nc is not None
        return self.nc.jetstream(timeout=DENIED_S)

    async def denied(self, what: str, attempt: Callable[[], Awaitable[Any]], subject: str) -> None:
        """The attempt fails and the server said it was a permissions violation for `subject`."""
        with pytest.raises(Exception) as caught:  # a timeout or nats' own error: no answer either way
            await attempt()
        assert self.nc is not None
        await self.nc.flush(timeout=2)
        await asyncio.sleep(0.1)
        said = [e for e in self.errors if "permissions violation" in e and subject.lower() in e]
        assert said, f"{self.settings.user} {what}: {caught.value!r}; server said {self.errors}"


async def _prepare(admin: NatsSettings) -> None:
    """As the admin: the streams and buckets, one event and a checkpoint of the victim home, the alerts consumer."""
    nc = await nats.connect(servers=admin.servers, **credentials(admin))
    try:
        js = nc.jetstream(timeout=10)
        await ensure_bus(js, admin)
        await js.publish(events_subject(HOME, admin.partitions), b"{}", headers={MSG_ID: "genuine-1"})
        kv = await js.key_value(admin.state_bucket)
        await kv.put(state_key(HOME, admin.partitions), b"genuine checkpoint")
        await js.add_consumer(admin.findings_stream, ConsumerConfig(durable_name=ALERTS_DURABLE))
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def admin(nats_cluster: NatsCluster) -> NatsSettings:
    """The admin's settings, once the victim's data is in the cluster."""
    settings = nats_cluster.settings()
    asyncio.run(_prepare(settings))
    return settings


async def _checkpoint(admin: NatsSettings) -> bytes:
    nc = await nats.connect(servers=admin.servers, **credentials(admin))
    try:
        kv = await nc.jetstream(timeout=5).key_value(admin.state_bucket)
        return (await kv.get(state_key(HOME, admin.partitions))).value or b""
    finally:
        await nc.close()


async def _streams_and_consumers(admin: NatsSettings) -> tuple[list[str], list[str]]:
    nc = await nats.connect(servers=admin.servers, **credentials(admin))
    try:
        js = nc.jetstream(timeout=5)
        streams = sorted(s.config.name or "" for s in await js.streams_info())
        consumers = [c.name for c in await js.consumers_info(admin.findings_stream)]
        return streams, consumers
    finally:
        await nc.close()


def test_a_client_without_a_login_is_refused(nats_cluster: NatsCluster) -> None:
    async def scenario() -> None:
        for url in nats_cluster.urls:  # every node, not only the first
            with pytest.raises(Exception, match=r"(?i)authorization violation"):
                await nats.connect(servers=[url], allow_reconnect=False, connect_timeout=2)
        # The services' own connect says which settings to check, and gives up instead of retrying forever.
        with pytest.raises(LoginRefused, match="ANXIN_NATS__USER"):
            await asyncio.wait_for(connect(NatsSettings(servers=nats_cluster.urls), "anonymous"), 10)

    asyncio.run(scenario())


def test_a_wrong_password_is_refused_and_never_shown(
    nats_cluster: NatsCluster, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong = "wrong-" + secrets.token_urlsafe(12)
    settings = nats_cluster.settings("ingest").model_copy(update={"password": SecretStr(wrong)})
    caplog.set_level(logging.DEBUG)

    async def scenario() -> str:
        with pytest.raises(LoginRefused) as caught:
            await asyncio.wait_for(connect(settings, "wrong-password"), 10)
        return f"{caught.value!s} {caught.value!r}"

    said = asyncio.run(scenario())
    assert "ingest" in said and "ANXIN_NATS__PASSWORD" in said
    time.sleep(0.3)  # the nodes' logs are written
    logs = [(n.folder / "nats.log").read_text() for n in nats_cluster.nodes]
    assert any("authentication error" in text for text in logs)
    for where, text in [("error", said), ("client log", caplog.text), *(("node log", t) for t in logs)]:
        assert wrong not in text, where
    assert nats_cluster.passwords["ingest"] not in caplog.text
    # A worker started with it stops at once with one line naming the variables (no traceback, no retry loop).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env |= {"ANXIN_BUS": "nats", "ANXIN_NATS__SERVERS": json.dumps(nats_cluster.urls), "ANXIN_NATS__USER": "anomaly"}
    env |= {"ANXIN_NATS__PASSWORD": wrong, "ANXIN_STATE_DIR": str(tmp_path), "ANXIN_NATS__FINDINGS_TO_MQTT": "false"}
    run = subprocess.run(
        [sys.executable, "-m", "anxin", "anomaly"], env=env, capture_output=True, text=True, timeout=30
    )
    out = run.stdout + run.stderr
    assert run.returncode == 2 and "anxin: NATS refused the login (user 'anomaly')" in out, out
    assert "ANXIN_NATS__PASSWORD" in out and "Traceback" not in out and wrong not in out, out
    # A bad setting names its variable and hides its value; a password written into a server URL is refused unshown.
    monkeypatch.setenv("ANXIN_BUS", "nats")
    monkeypatch.setenv("ANXIN_NATS__PASSWORD", wrong)
    monkeypatch.delenv("ANXIN_NATS__USER", raising=False)
    monkeypatch.setenv("ANXIN_STATE_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="ANXIN_NATS__PASSWORD") as bad:
        load_settings(AlertsSettings)
    assert wrong not in str(bad.value)
    monkeypatch.delenv("ANXIN_NATS__PASSWORD")
    monkeypatch.setenv("ANXIN_NATS__SERVERS", json.dumps([f"nats://ingest:{wrong}@127.0.0.1:4222"]))
    with pytest.raises(ConfigError, match="ANXIN_NATS__SERVERS") as bad:
        load_settings(AlertsSettings)
    assert wrong not in str(bad.value)


def test_ingest_cannot_publish_a_finding_write_a_checkpoint_nor_read_events(
    nats_cluster: NatsCluster, admin: NatsSettings
) -> None:
    ingest = nats_cluster.as_role(admin, "ingest")
    finding, checkpoint = findings_subject(HOME), f"$KV.{admin.state_bucket}.{state_key(HOME, admin.partitions)}"

    async def scenario() -> None:
        async with Session(ingest) as s:
            assert s.nc is not None
            js = s.js
            await js.publish(events_subject(HOME, admin.partitions), b"{}")  # its own job still works
            await s.denied("published a finding", lambda: js.publish(finding, b"{}", timeout=DENIED_S), finding)
            fake = b"forged checkpoint"
            await s.denied("wrote a checkpoint", lambda: js.publish(checkpoint, fake, timeout=DENIED_S), checkpoint)
            # Read every home's events: a consumer of its own, a stored message, or live on the subjects/inboxes.
            events = admin.events_stream
            create = f"$JS.API.CONSUMER.CREATE.{events}"
            await s.denied("created a consumer", lambda: js.add_consumer(events, ConsumerConfig()), create)
            get = f"$JS.API.STREAM.MSG.GET.{events}"
            await s.denied("read a stored event", lambda: js.get_msg(events, 1), get)
            for subject in ("anxin.events.>", "_INBOX.>"):
                await s.nc.subscribe(subject)
                await s.nc.flush(timeout=2)
                await asyncio.sleep(0.2)
                assert any("permissions violation for subscription" in e and subject.lower() in e for e in s.errors)

    asyncio.run(scenario())
    assert asyncio.run(_checkpoint(admin)) == b"genuine checkpoint"
    assert not stream_messages(admin, admin.findings_stream)


def test_ingest_cannot_pass_for_a_worker_nor_a_worker_for_an_agent(
    nats_cluster: NatsCluster, admin: NatsSettings
) -> None:
    """Ticks and verdicts travel on the workers' own subjects: ingest may not publish there, a worker may not publish
    an agent's message, and a tick or verdict forged on an agent's subject is refused by the worker that reads it."""
    from anomaly.ticks import PartitionMessage
    from anxin.bus import AT, FEEDBACK, KIND, TICK, control_subject
    from contracts import ContractError

    ingest, anomaly = nats_cluster.as_role(admin, "ingest"), nats_cluster.as_role(admin, "anomaly")
    agents = events_subject(HOME, admin.partitions)
    forged = {MSG_ID: "forged-verdict", KIND: FEEDBACK, AT: "1.0"}

    async def scenario() -> None:
        async with Session(ingest) as s:
            js = s.js
            for kind in (TICK, FEEDBACK):
                own = control_subject(HOME, admin.partitions, kind)
                headers = {MSG_ID: f"forged-{kind}", KIND: kind, AT: "1.0"}

                def attempt(own: str = own, h: dict[str, str] = headers) -> Awaitable[Any]:
                    return js.publish(own, b"{}", headers=h)

                await s.denied(f"published a {kind}", attempt, own)
            await js.publish(agents, b"{}", headers=forged)  # the agents' subject is its job: stored, and refused below
        async with Session(anomaly) as s:
            js = s.js
            headers = {MSG_ID: "forged-event"}
            await s.denied("published an agent's event", lambda: js.publish(agents, b"{}", headers=headers), agents)
            tick = control_subject(HOME, admin.partitions, TICK)
            await js.publish(tick, b"", headers={MSG_ID: "genuine-tick", KIND: TICK, AT: "1.0"})  # its own job

    asyncio.run(scenario())
    stored = {m.headers.get(MSG_ID): m for m in stream_messages(admin, admin.events_stream)}
    assert "forged-tick" not in stored and "forged-feedback" not in stored and "forged-event" not in stored
    assert "genuine-tick" in stored
    verdict = stored["forged-verdict"]
    with pytest.raises(ContractError, match="an agent's subject"):
        PartitionMessage.of(verdict.subject, verdict.headers, verdict.data)


def test_alerts_cannot_publish_events(nats_cluster: NatsCluster, admin: NatsSettings) -> None:
    alerts = nats_cluster.as_role(admin, "alerts")
    subject = events_subject(HOME, admin.partitions)

    async def scenario() -> None:
        async with Session(alerts) as s:
            assert s.nc is not None
            nc, js = s.nc, s.js
            await js.stream_info(admin.findings_stream)  # its own job still works
            forged = {MSG_ID: "forged-1"}
            await s.denied("published an event", lambda: js.publish(subject, b"{}", headers=forged), subject)
            # A plain publish (no ack awaited) is stored by the stream too, if the server lets it through.
            await nc.publish(subject, b"{}", headers={MSG_ID: "forged-2"})
            await nc.flush(timeout=2)

    asyncio.run(scenario())
    ids = [m.headers.get(MSG_ID) for m in stream_messages(admin, admin.events_stream)]
    assert "forged-1" not in ids and "forged-2" not in ids and "genuine-1" in ids, ids


def test_a_worker_cannot_delete_a_stream_nor_the_alerts_consumer(
    nats_cluster: NatsCluster, admin: NatsSettings
) -> None:
    anomaly = nats_cluster.as_role(admin, "anomaly")
    events, findings = admin.events_stream, admin.findings_stream

    async def scenario() -> None:
        async with Session(anomaly) as s:
            js = s.js
            await js.stream_info(events)  # its own job still works
            api = "$JS.API"
            await s.denied("deleted a stream", lambda: js.delete_stream(events), f"{api}.STREAM.DELETE.{events}")
            await s.denied("purged a stream", lambda: js.purge_stream(findings), f"{api}.STREAM.PURGE.{findings}")
            info = await js.stream_info(events)
            config = info.config.evolve(max_msgs=1)  # would drop every event but the last
            await s.denied("updated a stream", lambda: js.update_stream(config), f"{api}.STREAM.UPDATE.{events}")
            delete = f"{api}.CONSUMER.DELETE.{findings}.{ALERTS_DURABLE}"
            await s.denied("deleted the alerts consumer", lambda: js.delete_consumer(findings, ALERTS_DURABLE), delete)

    asyncio.run(scenario())
    streams, consumers = asyncio.run(_streams_and_consumers(admin))
    assert {events, findings} <= set(streams) and ALERTS_DURABLE in consumers, (streams, consumers)
    assert any(m.headers.get(MSG_ID) == "genuine-1" for m in stream_messages(admin, events))


def _routes(http_port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/routez", timeout=2) as r:
        routes: list[dict[str, Any]] = json.load(r).get("routes") or []
    return routes


def test_a_node_without_the_route_password_cannot_join(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    # A rogue server that joined the cluster would receive every message routed to it; it may not.
    target = nats_cluster.nodes[0]
    before = len(_routes(target.http_port))
    log = target.folder / "nats.log"
    seen = log.read_text().count("Router connection closed: Authentication Failure")

    def refused() -> int:
        return log.read_text().count("Router connection closed: Authentication Failure") - seen

    rogues = []
    try:
        for name, login in (("rogue-open", ""), ("rogue-guess", f"route:{secrets.token_urlsafe(8)}@")):
            conf = tmp_path / f"{name}.conf"
            conf.write_text(
                f'server_name: "{name}"\nlisten: "127.0.0.1:{free_port()}"\nhttp: "127.0.0.1:{free_port()}"\n'
                f'cluster {{\n  name: "{nats_cluster.name}"\n  listen: "127.0.0.1:{free_port()}"\n'
                f'  routes: ["nats-route://{login}127.0.0.1:{target.route_port}"]\n}}\n'
            )
            proc = ManagedProcess(
                name, [nats_binary(), "-c", str(conf)], tmp_path / f"{name}.log", die_with_parent=True
            )
            rogues.append(proc)
            proc.spawn()
        wait_for(lambda: refused() >= 2, timeout=15, what="both rogues refused")
        time.sleep(1.0)  # a route that got through would be listed by now
        names = [r.get("remote_name", "") for r in _routes(target.http_port)]
        assert not [n for n in names if n.startswith("rogue")], names
        assert len(names) == before
    finally:
        for proc in rogues:
            proc.stop()
