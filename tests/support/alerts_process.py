"""The alerts service as a child process on the cluster bus (bus = "nats"), and a world of homes to page for."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from anxin.settings import MqttSettings, NatsSettings
from shell.twilio_standin import TwilioStandin
from tests.support.cluster_fixtures import nats_env
from tests.support.processes import ChildProcess
from tests.support.waiting import wait_for

FROM = "+15005550006"
READY = "consuming findings from JetStream"


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
    proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """Its environment: the cluster bus, the broker (feedback), the database, Twilio, no HTTP server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
        env.update(nats_env(self.nats))
        env.update(
            {
                "ANXIN_STATE_DIR": str(self.state),
                "ANXIN_LOG_LEVEL": "INFO",
                "ANXIN_MQTT__HOST": self.mqtt.host,
                "ANXIN_MQTT__PORT": str(self.mqtt.port),
                "ANXIN_MQTT__USERNAME": self.mqtt.username or "",
                "ANXIN_MQTT__PASSWORD": self.mqtt.password.get_secret_value() if self.mqtt.password else "",
                "ANXIN_DATABASE__URL": self.db_url,
                "ANXIN_ALERTS__CLIENT_ID": self.name,
                "ANXIN_ALERTS__HTTP_PORT": "0",
                "ANXIN_ALERTS__SEND_LEASE_S": "5",
                "ANXIN_ALERTS__JETSTREAM_ACK_WAIT_S": str(self.ack_wait_s),
                "ANXIN_ALERTS__TWILIO__ACCOUNT_SID": self.standin.account_sid,
                "ANXIN_ALERTS__TWILIO__AUTH_TOKEN": self.standin.auth_token,
                "ANXIN_ALERTS__TWILIO__FROM_NUMBER": FROM,
                "ANXIN_ALERTS__TWILIO__API_BASE": self.standin.url,
            }
        )
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
