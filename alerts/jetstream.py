"""Findings from JetStream (bus = "nats"): one durable pull consumer shared by every alerts replica.

Each replica fetches small batches from the durable consumer `alerts` on `anxin.findings.>` (stream ANXIN_FINDINGS)
and hands each finding to the service's worker thread, the same `pipeline.record_finding` the MQTT path runs. A
finding is acked to JetStream only once its transaction committed (ack-after-store, as ingest); its SMS is sent
after, from the outbox, which a surviving replica's sweep sends if this one dies. A replica that dies mid-batch leaves
its findings unacked: JetStream hands them to another replica after `jetstream_ack_wait_s`. The next batch is fetched
only when the worker has handled the last one, so a replica never holds findings it is not working on; while a batch
waits (behind a sweep, or for the database) the replica tells JetStream every third of the ack wait that it is still
working on them, so a slow but live replica does not see its findings handed to another.

Work-queue style (any replica gets any finding) and not a consumer per partition as the anomaly workers need, because:

- Dedupe does not depend on order. A finding id is recorded once (`alert_findings.finding_id` and
  `alerts.first_finding_id` are unique; a second insert is an IntegrityError, handled as a duplicate), so a
  redelivery or a relay repeat on two replicas at the same moment pages once. What a join computes is a count, the
  earliest `since`, the most severe severity: the same in any order (only `evidence` is the last one processed).
- What does depend on concurrency is "one active alert per home and kind": two *different* findings of one home and
  kind on two replicas would both see no active alert and both open one (two pages). `record_finding` therefore takes
  a per-home transaction lock first on PostgreSQL (`dedupe.lock_home`, an advisory lock), so a home's findings are
  decided one after the other; SQLite serialises writers anyway.
- Inhibit (an open agent_offline holds a new low_battery or sensor_silent) looks at the alerts open when a new one
  opens: the explaining finding must be recorded first. The anomaly engine does not promise that order either (the
  rules fire independently, at their own times), and two replicas can only swap two findings of one home that are in
  flight together (milliseconds apart within a batch), or when a replica dies holding the older one (redelivered
  after the ack wait). A home's findings come minutes apart, so this is accepted rather than paid for with a
  partitioned consumer and leases.

Heartbeats, agent status and responders' feedback stay on MQTT (feedback is published from the sweep, as before).
With every alerts replica on JetStream the anomaly workers' relay to MQTT is not needed: set
`[nats] findings_to_mqtt = false` (if both run, a relayed finding reaches alerts only if it also subscribes MQTT,
which with bus = "nats" it does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError

from alerts.config import AlertsSettings
from anxin.bus import FINDINGS_PREFIX, LoopThread, connect, ensure_bus
from contracts.topics import findings_topic

log = logging.getLogger(__name__)
DURABLE = "alerts"
# Small batches: replicas share the stream finely, and a dead replica holds few findings for the ack wait.
BATCH = 16
# (topic the finding would have had on MQTT, payload, ack to call once committed) -> the service's worker inbox.
Deliver = Callable[[str, bytes, Callable[[], None]], None]


def subject_home(subject: str) -> str | None:
    """The home of a findings subject `anxin.findings.<home>`, or None for any other subject."""
    prefix = FINDINGS_PREFIX + "."
    home = subject[len(prefix) :] if subject.startswith(prefix) else ""
    return home if home and "." not in home else None


def as_topic(subject: str) -> str:
    """The MQTT findings topic of a JetStream subject, so `read_finding` checks the home the same way ('' if none)."""
    home = subject_home(subject)
    return findings_topic(home) if home is not None else ""


def mqtt_client_id(client_id: str) -> str:
    """A per-process MQTT client id: replicas sharing one id would take each other's session over, endlessly."""
    return f"{client_id}-{os.getpid()}-{secrets.token_hex(3)}"[:64]


class JetStreamFindings:
    """Fetches findings from the shared durable consumer and hands them to the worker, one batch at a time."""

    def __init__(
        self,
        settings: AlertsSettings,
        deliver: Deliver,
        working: Callable[[], bool],
        ready: threading.Event,
        up: threading.Event,
        name: str,
    ) -> None:
        self.nats = settings.nats
        self.ack_wait_s = settings.alerts.jetstream_ack_wait_s
        self.deliver = deliver
        self.working = working  # the worker thread is alive: findings it holds are still being handled
        self.ready = ready  # set once, when first consuming
        self.up = up  # consuming and connected now (/healthz)
        self.name = name
        self._loop = LoopThread("alerts-jetstream")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> JetStreamFindings:
        """Start consuming on its own loop thread."""

        async def begin() -> None:
            self._task = asyncio.create_task(self._run(), name="alerts-jetstream")

        self._loop.run(begin(), timeout=5)
        return self

    def stop(self) -> None:
        """Stop fetching; findings fetched and not acked come again (to another replica) after the ack wait."""

        async def end() -> None:
            if self._task is not None:
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=5)

        with contextlib.suppress(Exception):
            self._loop.run(end(), timeout=10)
        self._loop.stop()

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        cfg = ConsumerConfig(
            durable_name=DURABLE,
            filter_subject=f"{FINDINGS_PREFIX}.>",
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            deliver_policy=DeliverPolicy.ALL,
            num_replicas=self.nats.replicas,
        )
        with contextlib.suppress(BadRequestError):  # created by another replica (or another config): bind to it
            await js.add_consumer(self.nats.findings_stream, cfg)
        return await js.pull_subscribe_bind(DURABLE, self.nats.findings_stream)

    async def _hand_over(self, msgs: list[Msg]) -> None:
        """Give each message to the worker and wait until it has acked every one (stopping cancels the wait)."""
        loop = asyncio.get_running_loop()
        done: list[asyncio.Future[None]] = []
        for m in msgs:
            fut: asyncio.Future[None] = loop.create_future()
            done.append(fut)
            self.deliver(as_topic(m.subject), m.data, self._acker(loop, m, fut))
        of = dict(zip(done, msgs, strict=True))
        pending = set(done)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=self.ack_wait_s / 3)
            if pending and self.working():
                # Still ours (waiting behind a sweep, or the database is retried): JetStream must not hand them to
                # another replica meanwhile. A dead process stops saying so and they go elsewhere after ack_wait.
                await asyncio.gather(*(self._in_progress(of[f]) for f in pending))

    @staticmethod
    async def _in_progress(msg: Msg) -> None:
        try:
            await msg.in_progress()
        except Exception as err:  # the cluster is away: at worst it is redelivered and recognised as a duplicate
            log.warning("in-progress of a finding failed: %s: %s", type(err).__name__, err)

    def _acker(self, loop: asyncio.AbstractEventLoop, msg: Msg, fut: asyncio.Future[None]) -> Callable[[], None]:
        """The callback the worker thread calls once the finding's transaction committed."""

        async def ack() -> None:
            try:
                await msg.ack()
            except Exception as err:  # not acked: it comes again and is recognised as a duplicate
                log.warning("ack of a finding failed: %s: %s", type(err).__name__, err)
            if not fut.done():
                fut.set_result(None)

        def acker() -> None:
            if loop.is_running():  # stopping: not acked, JetStream hands it to a replica that is not
                asyncio.run_coroutine_threadsafe(ack(), loop)

        return acker

    async def _consume(self, nc: Client) -> None:
        js = nc.jetstream(timeout=self.nats.ack_timeout_s)
        try:
            await ensure_bus(js, self.nats, events=False, buckets=False)
        except BadRequestError as err:  # a bucket the workers configured otherwise: alerts needs the stream only
            log.info("bus exists with another configuration (%s); using stream %s", err, self.nats.findings_stream)
            await js.stream_info(self.nats.findings_stream)
        sub = await self._subscribe(js)
        log.info("consuming findings from JetStream %s (durable %s)", self.nats.findings_stream, DURABLE)
        self.ready.set()
        while True:
            # nats-py reconnects by itself; meanwhile fetches time out and /healthz says JetStream is down.
            if nc.is_connected:
                self.up.set()
            else:
                self.up.clear()
            try:
                msgs = await sub.fetch(BATCH, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            await self._hand_over(msgs)

    async def _run(self) -> None:
        """Consume until cancelled; the cluster being away (a leader election) is retried, never fatal."""
        delay = 0.5
        while True:
            nc: Client | None = None
            began = time.monotonic()
            try:
                nc = await connect(self.nats, self.name)
                await self._consume(nc)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.up.clear()
                log.warning("JetStream findings: %s: %s; retrying in %.1fs", type(err).__name__, err, delay)
            finally:
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()
            # Back off while it keeps failing at once; a session that ran a while starts over quickly.
            delay = 0.5 if time.monotonic() - began > 30 else min(delay * 2, 10.0)
            await asyncio.sleep(delay)
