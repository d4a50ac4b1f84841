"""The cluster bus of `bus = "nats"`: subjects, partitions, message ids, and the JetStream streams and buckets.

Layout (docs/scale.md): ingest publishes each stored event, agent status and heartbeat to
`anxin.events.<partition>.<home>` in the events stream (an `Anxin-Kind` header tells a status, a heartbeat or a
worker's tick from an event); anomaly workers own partitions, checkpoint each home in the state bucket
(`h.<partition>.<home>`) and publish findings to `anxin.findings.<home>` in the findings stream. A home's partition is
a stable hash of its id, so all its messages are in one partition, in the order they were published. nats-py is
imported here only: the embedded default never loads this module.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from anxin.settings import NatsSettings
from contracts import Finding, Heartbeat, SensorEvent, Status

EVENTS_PREFIX = "anxin.events"
FINDINGS_PREFIX = "anxin.findings"
MSG_ID = "Nats-Msg-Id"
KIND = "Anxin-Kind"  # a partition message other than an event: STATUS, HEARTBEAT, TICK or FEEDBACK (none: an event)
# (TICK and FEEDBACK travel on a worker's subject, `control_subject`; the others on the agents', `events_subject`.)
AT = "Anxin-At"  # epoch seconds: when ingest (or the feedback bridge) received it; a tick's due time
STATUS, HEARTBEAT, TICK, FEEDBACK = "status", "heartbeat", "tick", "feedback"
T = TypeVar("T")
log = logging.getLogger(__name__)


class LoginRefused(Exception):
    """The cluster refused this user's login (a wrong user or password): not a fault that retrying mends."""


def partition(home: str, partitions: int) -> int:
    """The home's partition: FNV-1a 32 of its id modulo `partitions` (stable across processes and releases)."""
    h = 0x811C9DC5
    for b in home.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def events_subject(home: str, partitions: int) -> str:
    """The subject a home's events are published on."""
    return f"{EVENTS_PREFIX}.{partition(home, partitions)}.{home}"


def control_subject(home: str, partitions: int, kind: str) -> str:
    """The subject of a partition message an anomaly worker writes itself (a TICK, a FEEDBACK): the kind is a token.

    ingest may publish only the agents' subjects (`anxin.events.<p>.<home>`) and the workers only these, so neither
    login can pass for the other: a tick or a verdict on an agent's subject is refused (anomaly/ticks.py), and a
    worker cannot publish an agent's event (docs/security.md).
    """
    return f"{events_subject(home, partitions)}.{kind}"


def partition_filter(p: int) -> str:
    """The filter subject of one partition: its homes' agents' messages and the workers' ticks and verdicts."""
    return f"{EVENTS_PREFIX}.{p}.>"


def home_of(subject: str) -> str:
    """The home a partition subject names (`anxin.events.<p>.<home>[.<kind>]`)."""
    tokens = subject.split(".")
    return tokens[3] if len(tokens) > 3 else tokens[-1]


def subject_kind(subject: str) -> str | None:
    """The kind a worker's partition subject carries (`control_subject`); None on an agent's subject."""
    tokens = subject.split(".")
    return tokens[4] if len(tokens) == 5 else None


def state_key(home: str, partitions: int) -> str:
    """A home's checkpoint key: under its partition, so a worker taking a partition finds its silent homes too."""
    return f"h.{partition(home, partitions)}.{home}"


def state_filter(p: int) -> str:
    """The checkpoint keys of one partition's homes."""
    return f"h.{p}.*"


def findings_subject(home: str) -> str:
    """The subject a home's findings are published on."""
    return f"{FINDINGS_PREFIX}.{home}"


def event_msg_id(event: SensorEvent) -> str:
    """JetStream's deduplication id of an event: a redelivered or re-published event is stored once."""
    return f"{event.home}:{event.agent}:{event.epoch or 0}:{event.seq}"


def status_msg_id(home: str, status: Status) -> str:
    """Deduplication id of an agent's status (a retained one comes again on every subscribe)."""
    return f"status/{home}/{status.agent}/{status.state}/{round(status.ts.timestamp() * 1000)}"


def heartbeat_msg_id(hb: Heartbeat) -> str:
    """Deduplication id of a heartbeat; `/` never occurs in a home id, so it never equals an event's id."""
    return f"heartbeat/{hb.home}/{hb.agent}/{round(hb.ts.timestamp() * 1000)}"


def tick_msg_id(home: str, due: float) -> str:
    """Deduplication id of a tick: two workers (or one replaying a takeover) ticking one due time store it once."""
    return f"tick/{home}/{due!r}"


def finding_msg_id(finding: Finding) -> str:
    """JetStream's deduplication id of a finding: a worker replaying after a takeover does not page twice."""
    return finding.id


def credentials(settings: NatsSettings) -> dict[str, Any]:
    """nats-py's options for the settings' user: its password, and its role's own inbox (the only one it may read)."""
    if settings.user is None:
        return {}
    secret = settings.password.get_secret_value() if settings.password else None
    return {"user": settings.user, "password": secret, "inbox_prefix": f"_INBOX.{settings.user}"}


async def connect(settings: NatsSettings, name: str) -> Client:
    """A client of the cluster that reconnects forever (to any listed server) instead of giving up.

    A refused login ends the first connect with LoginRefused (naming the settings, never the password) instead of
    retrying four times a second; once connected, nats-py's errors are logged in one line each, not a traceback.
    """
    refused = asyncio.Event()

    async def on_error(err: Exception) -> None:
        if "authorization violation" in str(err).lower():
            refused.set()
        log.warning("NATS (%s): %s", name, err)

    options: dict[str, Any] = {
        "servers": settings.servers,
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.25,  # typed int by nats-py, used as seconds
        "connect_timeout": 2,
        "allow_reconnect": True,
        "error_cb": on_error,
    }
    nc = Client()
    attempt = asyncio.ensure_future(nc.connect(**options, **credentials(settings)))
    waiting = asyncio.ensure_future(refused.wait())
    await asyncio.wait({attempt, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if not attempt.done():
        attempt.cancel()
        await asyncio.wait({attempt}, timeout=5)
        await nc.close()
        who = f"user {settings.user!r}" if settings.user else "no user"
        raise LoginRefused(
            f"NATS refused the login ({who}): check nats.user and nats.password"
            " (ANXIN_NATS__USER, ANXIN_NATS__PASSWORD)"
        )
    attempt.result()
    return nc


async def ensure_bus(
    js: JetStreamContext, s: NatsSettings, *, events: bool = True, findings: bool = True, buckets: bool = True
) -> None:
    """Create the streams and buckets if missing (idempotent; every process calls it on start, for what it uses).

    A role's user may create only what it uses (shell/nats_auth.py): ingest the events stream, alerts the findings.
    """
    age = s.max_age_days * 86_400
    streams = [
        StreamConfig(
            name=s.events_stream,
            subjects=[f"{EVENTS_PREFIX}.>"],
            storage=StorageType.FILE,
            num_replicas=s.replicas,
            retention=RetentionPolicy.LIMITS,
            max_age=age,
            duplicate_window=120.0,
        ),
        StreamConfig(
            name=s.findings_stream,
            subjects=[f"{FINDINGS_PREFIX}.>"],
            storage=StorageType.FILE,
            num_replicas=s.replicas,
            max_age=age,
            duplicate_window=600.0,
        ),
    ]
    for cfg in [c for c, wanted in zip(streams, (events, findings), strict=True) if wanted]:
        try:
            await js.add_stream(cfg)
        except BadRequestError:  # exists with another config (an operator changed it): keep theirs
            await js.stream_info(cfg.name or "")
    if not buckets:
        return
    await js.create_key_value(KeyValueConfig(bucket=s.state_bucket, history=1, replicas=s.replicas))
    await js.create_key_value(KeyValueConfig(bucket=s.lease_bucket, history=1, replicas=s.replicas, ttl=s.lease_s))


class LoopThread:
    """An asyncio loop on its own thread, for the threaded services that call nats-py (ingest)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule a coroutine on the loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
