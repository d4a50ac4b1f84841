"""The parts both demos are built from (`anxin demo`, shell/demo.py; `anxin demo --cluster`, shell/demo_cluster.py).

Ports, the stop flag set by signals, supervision and the stopping order, the console's demo operator, the consumers'
MQTT sessions opened before the simulator sends, and the volunteers' phones through a local Twilio stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from anxin.mqtt import ensure_session
from anxin.settings import MqttSettings
from shell.servers import ManagedProcess, ServerError
from shell.supervisor import Supervisor, describe_exit, stop_all
from shell.twilio_standin import TwilioStandin

# The simulator first replays eight days of routine, so homes are past their first week of learning
# (console/queries/homes.py LEARNING_DAYS) and the console has history.
DEMO_HISTORY_MIN = 8 * 24 * 60


class Stop:
    """Set by SIGINT, SIGTERM or SIGHUP (the terminal closed): the demo stops every child, then exits."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def set(self, signum: int, _frame: object) -> None:
        """Signal handler: remember the first signal."""
        self.signal = self.signal or signum

    def __bool__(self) -> bool:
        return self.signal is not None


def supervise(children: list[ManagedProcess], stop: Stop) -> None:
    """Restart whatever dies, with backoff, until a signal; the rest keep running meanwhile."""
    supervisor = Supervisor(say=lambda line: say(f"anxin demo: {line}"))
    for c in children:
        supervisor.watch(c)
    while not stop:
        supervisor.poll()
        time.sleep(0.2)


def died_at_start(children: list[ManagedProcess]) -> bool:
    """Whether a child died at start, a fault to fix rather than retry; if so, say which, how, and its log's end."""
    dead = [c for c in children if not c.running()]
    if dead:
        c = dead[0]
        why = describe_exit(c.proc.returncode if c.proc else None)
        say(f"anxin demo: {c.name} {why}; last lines of {c.log}:\n{tail(c.log)}", err=True)
    return bool(dead)


def say_stopping(stop: Stop) -> None:
    """Say the demo is stopping, and on which signal."""
    why = f" on {signal.Signals(stop.signal).name}" if stop.signal else ""
    say(f"anxin demo: stopping{why} ...")


def stop_children(services: list[ManagedProcess], servers: list[ManagedProcess]) -> None:
    """The simulator first (nothing left half-sent), then the services together, then the servers (`servers`)."""
    sim = [c for c in services if c.name.startswith("sim")]  # the cluster demo runs one per shard
    stop_all(sim, timeout=15)
    stop_all([c for c in services if c not in sim], timeout=15)
    stop_all(servers, timeout=15)


def say(line: str, err: bool = False) -> None:
    """Print a line; a closed terminal (SIGHUP) or pipe must not stop the demo from stopping its children."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(line, file=stream, flush=True)
    except OSError:
        devnull = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead stream for the rest of the run
        if err:
            sys.stderr = devnull
        else:
            sys.stdout = devnull


def demo_operator(db_url: str, state: Path) -> Path:
    """Create the demo's console admin; its password and an API token go to a 0600 file in the state folder."""
    from datetime import UTC, datetime

    from anxin.db.engine import url_session
    from console.accounts import ensure_demo_admin

    path = state / "console-admin.json"
    with url_session(db_url) as s:
        ensure_demo_admin(s, path, datetime.now(UTC))
    return path


def prime_sessions(port: int, users: dict[str, str], *, alerts: bool = True, ingest_id: str | None = None) -> None:
    """Open each consumer's persistent session first, so nothing the simulator sends early is lost.

    `ingest_id` names the cluster demo's ingest of a shard, whose anomaly workers read JetStream, not MQTT."""
    from pydantic import SecretStr

    from anomaly.config import AnomalySettings
    from anomaly.service import SUBSCRIPTIONS as ANOMALY_TOPICS
    from contracts.topics import FINDINGS_FILTER, TopicKind, home_filter
    from ingest.config import IngestSettings

    homes = [home_filter(k) for k in (TopicKind.EVENTS, TopicKind.STATUS, TopicKind.HEARTBEAT)]
    ingest, anomaly = IngestSettings().ingest, AnomalySettings().anomaly
    consumers = [("ingest", ingest_id or ingest.client_id, homes, ingest.session_expiry_s)]
    if ingest_id is None:
        consumers.append(("anomaly", anomaly.client_id, list(ANOMALY_TOPICS), anomaly.session_expiry_s))
    if alerts:
        consumers.append(("alerts", "anxin-alerts", [FINDINGS_FILTER], 86_400))
    for user, client_id, filters, expiry in consumers:
        settings = MqttSettings(port=port, username=user, password=SecretStr(users[user]))
        ensure_session(settings, client_id, filters, expiry)


def wait_http(url: str, children: list[ManagedProcess], stop: Stop, timeout: float = 60) -> None:
    """Wait until `url` answers (any HTTP status), a child dies or a signal comes; ServerError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: a 503 names a server that is down, which the console's health page shows
        except OSError:
            if any(not c.running() for c in children) or stop:
                return  # the demo (run_demo, run_cluster) reports which one died
            time.sleep(0.3)
    raise ServerError(f"console did not answer on {url} in {timeout:.0f}s")


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for a child that died."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the volunteer's side of the demo (issue 15): SMS through a local Twilio stand-in, replies through the real
# signed webhook, played from the console's demo-only phones page.

DEMO_FROM = "+15005550006"  # Twilio's magic test number: the demo's SMS come "from" it
DEMO_PHONES = "demo-phones.json"  # the console's demo mode (console/routers/demo.py reads it)


def _real_twilio() -> bool:
    """Twilio credentials given in the environment: SMS go out for real, and replies come from real phones."""
    return bool(os.environ.get("ANXIN_ALERTS__TWILIO__ACCOUNT_SID"))


def start_phones(state: Path, config: Path, alerts_port: int) -> TwilioStandin | None:
    """Run the Twilio stand-in for the alerts service and tell the console (demo-phones.json) how to reply; None
    (and no phones page) when real Twilio credentials are given."""
    (state / DEMO_PHONES).unlink(missing_ok=True)
    if _real_twilio():
        return None
    standin = TwilioStandin.start()
    with config.open("a") as fh:  # the config now holds the stand-in's auth token: owner only
        fh.write(
            f'\n[alerts.twilio]\naccount_sid = "{standin.account_sid}"\nauth_token = "{standin.auth_token}"\n'
            f'from_number = "{DEMO_FROM}"\napi_base = "{standin.url}"\n'
        )
    config.chmod(0o600)
    details = {
        "webhook": f"http://127.0.0.1:{alerts_port}/twilio/sms",  # as the alerts service signs it (its base_url)
        "auth_token": standin.auth_token,
        "account_sid": standin.account_sid,
        "from": DEMO_FROM,
    }
    path = state / DEMO_PHONES
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(details, fh)
    return standin


def end_phones(state: Path, phones: TwilioStandin | None) -> None:
    """Stop the Twilio stand-in, and the console's demo mode: a console run later on this folder is not a demo."""
    if phones is not None:
        phones.stop()
    (state / DEMO_PHONES).unlink(missing_ok=True)


def say_phones(web_port: int, example: str, config: Path, phones: bool) -> None:
    """Tell the user how to play an incident and, with the stand-in, where the responders' phones are."""
    days = DEMO_HISTORY_MIN // 1440
    say(f"  Play an incident:      .venv/bin/anxin sim incident {example} long_lie -c {config}")
    say(f"  (or the button on a home's page). The homes learn from {days} days of history replayed in about a minute.")
    if phones:
        say(f"  Each responder's phone, to reply as them: http://127.0.0.1:{web_port}/demo/phones")
