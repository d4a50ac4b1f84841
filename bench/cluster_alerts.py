"""alerts on JetStream: findings/s drained by 1 and by 2 replicas on one PostgreSQL, as a ratio in the same run.

`python -m bench.cluster_alerts [--findings 600] [--rounds 2]`. Real servers: a 3-node JetStream cluster (R3
findings stream), PostgreSQL, Mosquitto (alerts publishes feedback there) and the Twilio stand-in. Each round starts
the replicas as `python -m anxin alerts` processes with bus = "nats", publishes `findings` critical findings of
distinct homes (each pages one volunteer), and times the first publish to the last finding recorded and its page
sent. Rounds of 1 and 2 replicas alternate and the best of each is compared, since the load of a shared machine moves
during a run; the replicas' CPU per finding is printed too, the figure that does not depend on that load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from anxin.bus import MSG_ID, credentials, ensure_bus, findings_subject
from anxin.db.engine import make_engine, session_factory, upgrade
from anxin.db.models import Alert, AlertFinding, SmsOutbox
from anxin.settings import MqttSettings, NatsSettings
from bench.alerts import seed_homes
from contracts import Finding, Severity, dump
from shell.natsd import NatsCluster
from shell.servers import Broker, free_port
from shell.twilio_standin import TwilioStandin

FROM = "+15005550006"
READY = "consuming findings from JetStream"


def alerts_env(
    name: str,
    state: Path,
    nats: NatsSettings,
    mqtt: MqttSettings,
    db_url: str,
    standin: TwilioStandin,
    ack_wait_s: float,
) -> dict[str, str]:
    """The environment of one alerts replica on the cluster bus, paging through the stand-in, no HTTP server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(
        {
            "ANXIN_BUS": "nats",
            "ANXIN_NATS__SERVERS": json.dumps(nats.servers),
            "ANXIN_NATS__REPLICAS": str(nats.replicas),
            "ANXIN_NATS__FINDINGS_STREAM": nats.findings_stream,
            "ANXIN_NATS__FINDINGS_TO_MQTT": "false",
            "ANXIN_STATE_DIR": str(state),
            "ANXIN_LOG_LEVEL": "INFO",
            "ANXIN_MQTT__HOST": mqtt.host,
            "ANXIN_MQTT__PORT": str(mqtt.port),
            "ANXIN_MQTT__USERNAME": mqtt.username or "",
            "ANXIN_MQTT__PASSWORD": mqtt.password.get_secret_value() if mqtt.password else "",
            "ANXIN_DATABASE__URL": db_url,
            "ANXIN_ALERTS__CLIENT_ID": name,
            "ANXIN_ALERTS__HTTP_PORT": "0",
            "ANXIN_ALERTS__SEND_LEASE_S": "5",
            "ANXIN_ALERTS__JETSTREAM_ACK_WAIT_S": str(ack_wait_s),
            "ANXIN_ALERTS__TWILIO__ACCOUNT_SID": standin.account_sid,
            "ANXIN_ALERTS__TWILIO__AUTH_TOKEN": standin.auth_token,
            "ANXIN_ALERTS__TWILIO__FROM_NUMBER": FROM,
            "ANXIN_ALERTS__TWILIO__API_BASE": standin.url,
        }
    )
    if nats.user is not None and nats.password is not None:  # the alerts role's login (shell/nats_auth.py)
        env |= {"ANXIN_NATS__USER": nats.user, "ANXIN_NATS__PASSWORD": nats.password.get_secret_value()}
    return env


async def _publish(nats: NatsSettings, homes: list[str]) -> None:
    import nats as nats_py

    nc = await nats_py.connect(servers=nats.servers, **credentials(nats))
    try:
        js = nc.jetstream(timeout=10)
        await ensure_bus(js, nats)
        now = datetime.now(UTC)
        fs = [
            Finding(
                id=f"f-{secrets.token_hex(8)}",
                home=h,
                kind="panic",
                severity=Severity.CRITICAL,
                ts=now,
                since=now - timedelta(minutes=1),
                detector="bench",
                evidence={},
            )
            for h in homes
        ]
        for i in range(0, len(fs), 100):
            await asyncio.gather(
                *(js.publish(findings_subject(f.home), dump(f), headers={MSG_ID: f.id}) for f in fs[i : i + 100])
            )
    finally:
        await nc.close()


def _done(sessions: sessionmaker[Session]) -> tuple[int, int]:
    """(findings recorded, outbox rows not yet sent)."""
    with sessions() as s:
        recorded = s.scalar(select(func.count()).select_from(AlertFinding)) or 0
        unsent = s.scalar(
            select(func.count()).select_from(SmsOutbox).where(SmsOutbox.status.in_(("pending", "sending")))
        )
        return recorded, unsent or 0


@dataclass(frozen=True)
class Round:
    """What one round measured."""

    replicas: int
    rate: float  # findings/s, first publish to last recorded and paged
    cpu_per_finding_s: float  # the replicas' CPU (user + system) per finding


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(replicas: int, tag: str, env: dict[str, str], tmp: Path) -> list[subprocess.Popen[bytes]]:
    """Start the replicas and wait until each consumes the durable consumer."""
    procs: list[subprocess.Popen[bytes]] = []
    for i in range(replicas):
        state = tmp / f"{tag}-{i}"
        state.mkdir(parents=True)
        e = {**env, "ANXIN_STATE_DIR": str(state), "ANXIN_ALERTS__CLIENT_ID": f"bench-alerts-{tag}-{i}"}
        log = open(state / "alerts.log", "ab")  # noqa: SIM115 - lives as long as the process
        procs.append(subprocess.Popen([sys.executable, "-m", "anxin", "alerts"], env=e, stdout=log, stderr=log))
    deadline = time.monotonic() + 60
    for i, p in enumerate(procs):
        log_path = tmp / f"{tag}-{i}" / "alerts.log"
        while READY not in log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError(f"replica {i} did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
    return procs


def _round(replicas: int, tag: str, findings: int, env: dict[str, str], tmp: Path, nats: NatsSettings) -> Round:
    """One round: `replicas` processes drain `findings` (recorded and paged); its rate and the replicas' CPU."""
    db_url = env["ANXIN_DATABASE__URL"]
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    first = _done(sessions)[0]
    homes = [f"h-bench{i:07d}" for i in range(first, first + findings)]
    seed_homes(db_url, homes, first)
    before = _done(sessions)[0]
    procs = _start(replicas, tag, env, tmp)
    try:
        cpu0 = sum(_cpu_s(p.pid) for p in procs)
        t0 = time.monotonic()
        asyncio.run(_publish(nats, homes))
        while True:
            recorded, unsent = _done(sessions)
            if recorded - before >= findings and unsent == 0:
                break
            if time.monotonic() - t0 > 600:
                raise RuntimeError(f"only {recorded - before} of {findings} recorded")
            time.sleep(0.1)
        took = time.monotonic() - t0
        with sessions() as s:  # closed, so their ladders do not escalate into the next round's time
            s.execute(update(Alert).where(Alert.state != "resolved").values(state="resolved", next_action_at=None))
            s.commit()
        return Round(replicas, findings / took, (sum(_cpu_s(p.pid) for p in procs) - cpu0) / findings)
    finally:
        engine.dispose()
        for p in procs:
            p.terminate()
            p.wait(30)


def main(findings: int = 600, rounds: int = 2) -> int:
    """Print findings/s with 1 and 2 replicas, alternating rounds, and the ratio of the best of each; returns 0."""
    from shell.postgres import Postgres  # here: tests import this module for alerts_env

    tmp = Path(tempfile.mkdtemp(prefix="anxin-bench-cluster-alerts-"))
    cluster = NatsCluster(tmp / "nats").start()
    pg = Postgres(tmp / "pg", free_port()).start("anxin")
    broker = Broker.start(tmp / "mq")
    standin = TwilioStandin.start()
    try:
        db_url = pg.url("anxin")
        upgrade(db_url)
        nats = cluster.settings(findings_to_mqtt=False)  # the admin publishes; the replicas log in as alerts
        env = alerts_env(
            "bench-alerts", tmp, cluster.as_role(nats, "alerts"), broker.settings("alerts"), db_url, standin, 15.0
        )
        print(f"alerts on JetStream, PostgreSQL: {findings} critical findings per round, each paging once")
        # Alternating rounds: a shared machine's load moves while it runs; the best of each is compared.
        done: list[Round] = []
        for k in range(rounds):
            for n in (1, 2):
                r = _round(n, f"k{k}-r{n}", findings, env, tmp, nats)
                done.append(r)
                print(
                    f"  {n} replica{'s' if n > 1 else ' '}: {r.rate:6,.1f} findings/s, "
                    f"{r.cpu_per_finding_s * 1000:.0f} ms of replica CPU per finding"
                )
        best = {n: max(r.rate for r in done if r.replicas == n) for n in (1, 2)}
        print(f"  best: 1 replica {best[1]:,.1f}/s, 2 replicas {best[2]:,.1f}/s; ratio {best[2] / best[1]:.2f}")
        print(f"  SMS accepted by the stand-in: {len(standin.accepted)} (one per finding)")
        return 0
    finally:
        standin.stop()
        broker.server.stop()
        pg.stop()
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--findings", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2, help="alternating pairs of rounds (1 replica, then 2)")
    args = parser.parse_args()
    sys.exit(main(args.findings, args.rounds))
