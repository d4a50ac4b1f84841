"""The alerts service as a child process on the cluster bus (bus = "nats"), homes to page for, findings to send it."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.jetstream import DURABLE
from anxin.bus import MSG_ID, credentials, ensure_bus, findings_subject
from anxin.settings import MqttSettings, NatsSettings
from bench.cluster_alerts import READY, alerts_env
from contracts import Finding, dump
from shell.twilio_standin import TwilioStandin
from tests.support.processes import ChildProcess
from tests.support.waiting import wait_for

__all__ = ["READY", "AlertsProcess", "consumer_state", "publish_findings", "seed_homes"]


@dataclass
class AlertsProcess(ChildProcess):
    """`python -m anxin alerts` with bus = "nats", on a real database, paging through the Twilio stand-in."""

    log_name = "alerts.log"

    name: str
    state: Path
    nats: NatsSettings
    mqtt: MqttSettings
    db_url: str
    standin: TwilioStandin
    ack_wait_s: float = 5.0
    http_port: int = 0  # its webhooks, mobile page and /healthz; 0: none
    proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """Its environment: the cluster bus, the broker (feedback), the database, Twilio, its HTTP port."""
        env = alerts_env(self.name, self.state, self.nats, self.mqtt, self.db_url, self.standin, self.ack_wait_s)
        env["ANXIN_ALERTS__HTTP_PORT"] = str(self.http_port)
        return env

    def start(self) -> AlertsProcess:
        """Start it (its log goes to STATE/alerts.log)."""
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.state / self.log_name, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([sys.executable, "-m", "anxin", "alerts"], env=self.env(), stdout=log, stderr=log)
        return self

    def wait_ready(self, timeout: float = 30.0) -> AlertsProcess:
        """Wait until it consumes the durable consumer (or fail with its log if it died)."""
        proc = self.proc
        assert proc is not None
        wait_for(lambda: READY in self.log() or proc.poll() is not None, timeout=timeout, what=f"{self.name} up")
        assert proc.poll() is None, self.log()
        return self


def seed_homes(db_url: str, n: int) -> dict[str, str]:
    """n homes with one verified volunteer each (a unique number): home id -> the volunteer's number."""
    from anxin.db.engine import make_engine, session_factory
    from anxin.db.models import Assignment, Home, Responder

    base = 10_000_000 + secrets.randbelow(80_000_000)
    homes: dict[str, str] = {}
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        for i in range(n):
            hid, phone = "h-" + secrets.token_hex(6), f"+86139{base + i:08d}"
            homes[hid] = phone
            s.add(Home(id=hid, label=f"{i // 6 + 1}-{101 + i}", district="东湖社区", created_at=datetime.now(UTC)))
            r = Responder(name=f"V{i}", phone=phone, lang="zh-CN", role="volunteer", verified=True, active=True)
            s.add(r)
            s.flush()
            s.add(Assignment(home_id=hid, responder_id=r.id, priority=1))
        s.commit()
    engine.dispose()
    return homes


async def _send(js: Any, subject: str, data: bytes, msg_id: str | None, within: float = 30.0) -> None:
    """Publish and await JetStream's ack, again while the stream elects a leader (a repeat is deduped by its id)."""
    deadline = time.monotonic() + within
    while True:
        try:
            await js.publish(subject, data, headers={MSG_ID: msg_id} if msg_id else None)
            return
        except Exception as err:  # no responders / no stream response while electing: try again
            if time.monotonic() > deadline:
                raise
            print(f"publish: {type(err).__name__}; again")
            await asyncio.sleep(0.2)


async def _publish_findings(nats: NatsSettings, msgs: list[tuple[Finding, str]], raw: list[tuple[str, bytes]]) -> None:
    import nats as nats_py

    nc = await nats_py.connect(servers=nats.servers, **credentials(nats))
    try:
        js = nc.jetstream(timeout=10)
        await ensure_bus(js, nats)
        for i in range(0, len(msgs), 50):
            chunk = msgs[i : i + 50]
            await asyncio.gather(*(_send(js, findings_subject(f.home), dump(f), mid) for f, mid in chunk))
        for subject, payload in raw:
            await _send(js, subject, payload, None)
    finally:
        await nc.close()


async def _consumer_state(nats: NatsSettings) -> tuple[int, int, int]:
    import nats as nats_py

    nc = await nats_py.connect(servers=nats.servers, **credentials(nats))
    try:
        info = await nc.jetstream(timeout=5).consumer_info(nats.findings_stream, DURABLE)
        return info.num_pending or 0, info.num_ack_pending or 0, info.num_redelivered or 0
    finally:
        await nc.close()


def consumer_state(nats: NatsSettings) -> tuple[int, int, int]:
    """(not yet delivered, delivered and not acked, redelivered and not acked) of the alerts consumer."""
    try:
        return asyncio.run(_consumer_state(nats))
    except Exception as err:  # a leader election: ask again
        print(f"consumer info: {type(err).__name__}: {err}")
        return -1, -1, -1


def publish_findings(nats: NatsSettings, msgs: list[tuple[Finding, str]], raw: list[tuple[str, bytes]]) -> None:
    """Publish findings with their Nats-Msg-Id (a repeat under another id is stored twice), then raw messages."""
    asyncio.run(_publish_findings(nats, msgs, raw))
