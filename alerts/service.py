"""The alerts service: findings from MQTT through the pipeline (alerts/pipeline.py) to SMS, on one worker thread.

With bus = "nats" the findings come from JetStream instead (alerts/jetstream.py) and MQTT only carries feedback out.

The paho network thread only queues messages; the worker records each finding, acknowledges it to the broker once
its transaction is committed, sends the SMS it queued, and sweeps the clock (ladder, outbox, feedback to anomaly).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from alerts import pipeline, retry, track
from alerts.config import AlertsSettings
from alerts.notifier import Notifier, make_notifier
from alerts.pipeline import Outcome
from alerts.replies import LinkMaker
from anxin.db.engine import make_engine, session_factory
from anxin.mqtt import connect_and_wait, make_client
from contracts.messages import ContractError, Feedback, Finding, dump, parse_finding
from contracts.topics import FINDINGS_FILTER, TopicKind, feedback_topic, parse_topic

log = logging.getLogger(__name__)


@dataclass
class ServiceStats:
    """Counters of what the service did, and `ready` once its subscription is granted."""

    ready: threading.Event = field(default_factory=threading.Event)
    # For /healthz: the MQTT session is up now; when the last finding was handled (time.monotonic()).
    connected: threading.Event = field(default_factory=threading.Event)
    last_finding_at: float | None = None
    # bus = "nats": consuming findings from JetStream now (None on the MQTT bus).
    jetstream: threading.Event | None = None
    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def incr(self, name: str, n: int = 1) -> None:
        """Add to a counter."""
        with self._lock:
            self._counts[name] += n

    def get(self, name: str) -> int:
        """A counter's value."""
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """All counters."""
        with self._lock:
            return dict(self._counts)


@dataclass(frozen=True)
class _Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    ack: Callable[[], None] | None = None  # bus = "nats": acks to JetStream (alerts/jetstream.py)


def read_finding(topic: str, payload: bytes) -> tuple[Finding | None, str, str]:
    """The finding a message carries, or None with the reason and detail (its topic must name the same home)."""
    parsed = parse_topic(topic)
    if parsed is None or parsed[0] is not TopicKind.FINDINGS:
        return None, "topic", "not a findings topic"
    try:
        finding = parse_finding(payload)
    except ContractError as err:
        return None, err.reason, err.detail
    if finding.home != parsed[1]:
        return None, "home_mismatch", f"payload home differs from topic home {parsed[1]}"
    return finding, "", ""


class _Worker:
    """Does every DB write and send off the paho network thread, acknowledging each message once committed."""

    def __init__(
        self,
        settings: AlertsSettings,
        client: mqtt.Client,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        stats: ServiceStats,
        stop: threading.Event,
        links: LinkMaker | None,
    ) -> None:
        self.settings = settings
        self.links = links
        self.worker_id = f"{settings.alerts.client_id}-{random.SystemRandom().getrandbits(32):08x}"
        self.client = client
        self.sessions = sessions
        self.notifier = notifier
        self.stats = stats
        self.stop = stop
        self.inbox: queue.Queue[_Inbound | None] = queue.Queue()
        self.rng = random.SystemRandom()
        self.thread = threading.Thread(target=self._run, name="alerts-worker", daemon=True)
        self._last_sweep = 0.0
        opts = settings.alerts
        # The outbox's retry policy, lease and rate limit, as configured; every send of this worker uses it.
        self.send = retry.SendOptions(
            backoff_s=opts.retry_backoff_s,
            max_attempts=opts.max_send_attempts,
            worker=self.worker_id,
            lease_s=opts.send_lease_s,
            rate_per_number=opts.rate_per_number,
            rate_window_s=opts.rate_window_s,
        )

    def _run(self) -> None:
        self._sweep()
        while True:
            every = self.settings.alerts.sweep_every_s
            try:
                item = self.inbox.get(timeout=every)
            except queue.Empty:
                item = None if self.stop.is_set() else _IDLE
            if item is None:
                return
            if item is _WAKE:
                self._sweep()
            elif item is not _IDLE:
                self._handle(item)
            if time.monotonic() - self._last_sweep >= every:
                self._sweep()

    def enqueue(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        """A finding from JetStream, acked through `ack` once its transaction committed."""
        self.inbox.put(_Inbound(topic, payload, 0, 1, ack))

    def wake(self) -> None:
        """Sweep soon: the web app queued SMS (a reply's "X took it") that should not wait for the next tick."""
        self.inbox.put(_WAKE)

    def _sweep(self) -> None:
        self._last_sweep = time.monotonic()
        try:
            with self.sessions() as session:
                now = datetime.now(UTC)
                sent = pipeline.tick(session, self.notifier, now, links=self.links, **self.send)
                if sent:
                    self.stats.incr("sms_swept", sent)
                self._publish_feedback(session)
        except Exception:
            log.exception("sweep failed")

    def _publish_feedback(self, session: Session, most: int = 50) -> None:
        # One verdict per transaction: its alert stays locked from reading to marking (PostgreSQL: another replica's
        # sweep skips it), and SQLite holds no write lock while the broker is awaited.
        for _ in range(most):
            try:
                pending = track.pending_feedback(session, limit=1)
                if not pending or not self._publish_one(pending[0]):
                    return
                track.mark_feedback_sent(session, pending[0].alert_id, datetime.now(UTC))
            finally:
                session.commit()
            self.stats.incr("feedback_published")
            log.info("feedback for alert %s (%s): %s", pending[0].alert_id, pending[0].home, pending[0].outcome)

    def _publish_one(self, fb: Feedback) -> bool:
        """Publish one verdict at QoS 1; True once the broker acknowledged it."""
        info = self.client.publish(feedback_topic(fb.home), dump(fb), qos=1)
        try:
            info.wait_for_publish(5)
        except (RuntimeError, ValueError) as err:
            log.warning("feedback for alert %s not published yet: %s", fb.alert_id, err)
            return False
        if not info.is_published():
            log.warning("feedback for alert %s not acknowledged by the broker yet", fb.alert_id)
            return False
        return True

    def _handle(self, item: _Inbound) -> None:
        self.stats.incr("received")
        finding = self._parse(item)
        if finding is None:
            self._ack(item)  # poison is counted and logged, never redelivered forever
            return
        outcome = self._record(finding)
        if outcome is None:  # stopping while the database was unavailable: the broker redelivers it
            return
        self._ack(item)
        self.stats.last_finding_at = time.monotonic()
        self.stats.incr(outcome.action)
        if outcome.action == "unknown_home":
            log.warning("finding %s for unknown home %s: ignored", finding.id, finding.home)
        elif outcome.action != "error":
            log.info(
                "finding %s (%s, %s): %s alert %s",
                finding.id,
                finding.home,
                finding.kind,
                outcome.action,
                outcome.alert_id,
            )
        for oid in outcome.outbox_ids:
            status = self._deliver(oid)
            if status is not None:
                self.stats.incr(f"sms_{status}")

    def _ack(self, item: _Inbound) -> None:
        if item.ack is not None:
            item.ack()
        else:
            self.client.ack(item.mid, item.qos)

    def _parse(self, item: _Inbound) -> Finding | None:
        finding, reason, detail = read_finding(item.topic, item.payload)
        if finding is None:
            self.stats.incr("invalid")
            self.stats.incr(f"invalid_{reason}")
            log.warning(
                "invalid finding on %s (%d bytes): %s: %s", item.topic[:120], len(item.payload), reason, detail[:200]
            )
        return finding

    def _record(self, finding: Finding) -> Outcome | None:
        delays = retry.db_delays()
        while True:
            try:
                with self.sessions() as session:
                    return pipeline.record_finding(session, finding, datetime.now(UTC), rng=self.rng, links=self.links)
            except OperationalError as err:
                # The database is away or locked: wait for it rather than drop an alert or ack what is not stored.
                delay = next(delays)
                log.error(
                    "database unavailable for finding %s, retrying in %.1fs: %s",
                    finding.id,
                    delay,
                    type(err.orig).__name__ if err.orig else err,
                )
            except Exception:
                log.exception("finding %s could not be processed; acknowledged so it cannot block the rest", finding.id)
                return Outcome("error")
            if self.stop.wait(delay):
                return None

    def _deliver(self, outbox_id: int) -> str | None:
        try:
            with self.sessions() as session:
                return pipeline.deliver(
                    session, outbox_id, self.notifier, datetime.now(UTC), links=self.links, **self.send
                )
        except Exception:
            # The row stays pending; the sweep sends it later.
            log.exception("sending outbox row %s failed", outbox_id)
            return None


_IDLE = _Inbound("", b"", 0, 0)
_WAKE = _Inbound("", b"", -1, 0)


def link_secret(settings: AlertsSettings) -> bytes:
    """The key that signs mobile-page links: configured, or a random one kept in the state folder (0600)."""
    configured = settings.alerts.link_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    path = settings.state_dir / "alerts-link.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def link_maker(settings: AlertsSettings) -> LinkMaker | None:
    """Signed links to the mobile page, when the alerts HTTP server runs."""
    opts = settings.alerts
    if not opts.http_port and not opts.public_url:
        return None
    return LinkMaker(opts.base_url(), link_secret(settings), timedelta(seconds=opts.link_ttl_s))


def run_service(
    settings: AlertsSettings,
    stop: threading.Event,
    *,
    notifier: Notifier | None = None,
    stats: ServiceStats | None = None,
) -> None:
    """Run the alerts service until `stop` is set."""
    stats = stats if stats is not None else ServiceStats()
    opts = settings.alerts
    web_on = opts.http_port != 0
    callback = f"{opts.base_url()}/twilio/status" if web_on else None
    notifier = notifier if notifier is not None else make_notifier(opts.twilio, callback)
    engine = make_engine(settings.database.url)
    sessions = session_factory(engine)
    on_nats = settings.bus == "nats"
    if on_nats:  # nats-py is the `cluster` extra: imported only with bus = "nats"
        from alerts import jetstream
    # On JetStream, MQTT only carries feedback out: a session of this process's own (replicas must not share one).
    client_id = jetstream.mqtt_client_id(opts.client_id) if on_nats else opts.client_id
    client = make_client(settings.mqtt, client_id, manual_ack=True)
    links = link_maker(settings)
    worker = _Worker(settings, client, sessions, notifier, stats, stop, links)
    web = None
    if web_on:
        from alerts.web.app import WebServer, create_app

        web = WebServer(
            create_app(settings, sessions, links=links, wake=worker.wake, stats=stats), opts.http_host, opts.http_port
        )

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        stats.connected.set()
        # Subscribing again on each connect is harmless with a resumed session and needed on a fresh one.
        if not on_nats:
            c.subscribe(FINDINGS_FILTER, qos=1)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, reasons: list[Any], props: Any) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("subscription to %s refused: %s", FINDINGS_FILTER, failed[0])
            return
        log.info("subscribed to %s (QoS 1, persistent session %s)", FINDINGS_FILTER, settings.alerts.client_id)
        stats.ready.set()

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        worker.inbox.put(_Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    def on_disconnect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        stats.connected.clear()
        if not stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    log.info("alerts: SMS via %s", notifier.provider)
    worker.thread.start()
    if web is not None:
        web.start()
    consumer = None
    try:
        if on_nats:
            connect_and_wait(client, settings.mqtt)
            stats.jetstream = threading.Event()
            consumer = jetstream.JetStreamFindings(
                settings, worker.enqueue, worker.thread.is_alive, stats.ready, stats.jetstream, client_id
            ).start()
        else:
            connect_and_wait(client, settings.mqtt, clean_start=False, session_expiry_s=opts.session_expiry_s)
        stop.wait()
    finally:
        stop.set()
        if consumer is not None:
            consumer.stop()
        if web is not None:
            web.stop()
        client.disconnect()
        client.loop_stop()
        worker.inbox.put(None)
        worker.thread.join(timeout=30)
        engine.dispose()
        log.info("alerts stopped: %s", stats.snapshot())
