"""The alerts service as a child process on the cluster bus (bus = "nats"), and a world of homes to page for."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from anxin.settings import MqttSettings, NatsSettings
from bench.cluster_alerts import READY, alerts_env
from shell.twilio_standin import TwilioStandin
from tests.support.processes import ChildProcess
from tests.support.waiting import wait_for

__all__ = ["READY", "AlertsProcess", "seed_homes"]


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
