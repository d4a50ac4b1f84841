"""The anomaly service: events, agent status and responders' feedback in over MQTT, findings out, the clock ticking.

Delivery (docs/anomaly.md, "Service"): a message is acknowledged to the broker only after the findings it caused are
acknowledged by the broker (PUBACK) and the homes it changed are checkpointed, a batch at a time. While checkpoints
fail, acknowledgements follow publishing alone (holding them would stop the broker's delivery to us, and with it
detection for every home) and the failure is retried with backoff, logged and shown in the health file.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from anomaly.config import AnomalySettings
from anomaly.delivery import Health, PubAcks, Seen, digest
from anomaly.engine import Engine
from anomaly.finding_ids import with_epoch
from anomaly.registry import Registry
from anomaly.store import CheckpointStore, summary_rows, write_summaries
from anxin.mqtt import connect_and_wait, make_client
from contracts import (
    ContractError,
    Finding,
    TopicKind,
    dump,
    findings_topic,
    parse_event,
    parse_feedback,
    parse_heartbeat,
    parse_status,
    parse_topic,
)
from contracts.topics import FEEDBACK_FILTER, home_filter

log = logging.getLogger(__name__)
SUBSCRIPTIONS = (
    home_filter(TopicKind.EVENTS),
    home_filter(TopicKind.STATUS),
    home_filter(TopicKind.HEARTBEAT),
    FEEDBACK_FILTER,
)
BATCH = 200  # messages per checkpoint-and-acknowledge under load (the broker allows 1000 unacknowledged)
BATCH_S = 0.5  # the longest a processed message waits for its acknowledgement under load
CONFIRM_TIMEOUT_S = 2.0  # how long one commit waits for the broker to acknowledge our findings
RETRY_MAX_S = 60.0  # backoff ceiling of checkpoint retries
HEALTH_EVERY_S = 5.0
SUBACK_WAIT_S = 10.0  # how long start-up waits for the broker to confirm our subscriptions


@dataclass(frozen=True)
class _Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    conn: int  # the connection it came on: packet ids mean nothing on another one


class AnomalyService:
    """Feeds messages to the engine in arrival order and publishes its findings at QoS 1."""

    def __init__(self, settings: AnomalySettings) -> None:
        self.settings = settings
        opts = settings.anomaly
        configured = {h: s.limits() for h, s in opts.homes.items()}  # the TOML's per-home limits
        self.engine = Engine(opts.engine_options(), configured)
        self._folder = settings.state_dir / "anomaly"
        self.checkpoints: CheckpointStore | None = None
        self.seen = Seen()
        self.health = Health(checkpoints_restored=False)
        self._ckpt_retry_at = 0.0
        self._dirty: set[str] = set()
        self._inbox: queue.Queue[_Inbound] = queue.Queue()
        self._pending: list[_Inbound] = []  # processed, findings published, not yet acknowledged to the broker
        self._unconfirmed: list[tuple[int, str]] = []  # (packet id, home) of findings the broker has not acknowledged
        self._batch_started = 0.0
        self._next_ckpt = 0.0
        self._must_save = False  # the pending batch holds a message whose state must be saved before its ack
        self._health_written = True
        self._conn = 0
        self._subscribed = threading.Event()  # SUBACK seen: "running" means a home's next event reaches us
        self.pubacks = PubAcks()
        self._client = make_client(settings.mqtt, opts.client_id, manual_ack=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self.pubacks.on_publish
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self.feedback_applied = 0
        self.registry = Registry(self.engine, settings.database.url, configured)
        self.registry.load()  # (first: restored homes take what it says now, `_restore`)
        self._restore()

    # --- network thread ----------------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self._conn += 1  # before any PUBLISH of this connection: paho handles packets in order
            self.health.connected = True
            client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.health.connected = False
        if getattr(reason, "is_failure", True):
            log.warning("disconnected from the broker (%s); unacknowledged messages come again on reconnect", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(_Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._conn))

    # --- checkpoints -------------------------------------------------------------------------------------------

    def _restore(self) -> bool:
        """Open the checkpoint file and resume every home from it; False (alarmed, retried later) when unreadable."""
        try:
            if self.checkpoints is None:
                self.checkpoints = CheckpointStore(self._folder / "checkpoints.sqlite")
            homes, seen = self.checkpoints.load()
        except Exception as err:  # any failure to read state must leave detection running
            self._checkpoint_failed(f"checkpoints not read, homes run on fresh state until they are: {err}")
            return False
        # A home that ran afresh while the file was unreadable takes its learned state back: losing a few minutes of
        # short-term state is better than writing a fresh one over weeks of learning.
        for home, monitor in homes.items():  # under the limits, zone and kit in effect now, not the checkpoint's
            self.engine.install(home, monitor, limits=self.registry.budgets_known)
        for home, blob in seen.items():
            self.seen.load(home, blob)
        self.health.checkpoints_restored = True
        if homes:
            log.info("resumed %d homes from checkpoints", len(homes))
        return True

    def _checkpoint_failed(self, why: str) -> None:
        h = self.health
        h.checkpoint_failures += 1
        if h.checkpoint_ok:
            h.checkpoint_ok, h.checkpoint_failing_since = False, time.time()
        delay = min(RETRY_MAX_S, 2.0 ** min(h.checkpoint_failures - 1, 6))
        self._ckpt_retry_at = time.monotonic() + delay
        log.error(
            "CHECKPOINT FAILED (%d in a row): %s; retrying in %.0f s. Findings still go out; until it works, a crash "
            "loses the state learned since the last good checkpoint",
            h.checkpoint_failures,
            why,
            delay,
        )
        self.write_health()

    def checkpoint(self, now: datetime, keep_out: frozenset[str] = frozenset(), *, force: bool = False) -> bool:
        """Write changed homes' state (but `keep_out`); a failure is alarmed and retried with backoff, never raised."""
        if time.monotonic() < self._ckpt_retry_at and not force:
            return False
        if not self.health.checkpoints_restored and not self._restore():
            return False
        homes = [h for h in self._dirty if h in self.engine.homes and h not in keep_out]
        if not homes:
            return True
        assert self.checkpoints is not None
        try:
            biggest = self.checkpoints.save(
                {h: self.engine.homes[h] for h in homes}, {h: self.seen.blob(h) for h in homes}, now
            )
        except Exception as err:  # locked, disk full, read-only: never fatal
            self._checkpoint_failed(f"{type(err).__name__}: {err}")
            return False
        self._dirty.difference_update(homes)
        h = self.health
        recovered = not h.checkpoint_ok or h.checkpoint_last_ok_at is None
        if not h.checkpoint_ok:
            log.warning("checkpoints written again after %d failures", h.checkpoint_failures)
        h.checkpoint_ok, h.checkpoint_failures, h.checkpoint_failing_since = True, 0, None
        h.checkpoint_last_ok_at = time.time()
        if recovered:
            self.write_health()
        log.debug("checkpointed %d homes, largest %d bytes", len(homes), biggest)
        return True

    # --- messages ----------------------------------------------------------------------------------------------

    def _publish(self, findings: list[Finding]) -> None:
        for f in findings:
            log.info("finding %s for %s (%s)", f.kind, f.home, f.severity)
            info = self._client.publish(findings_topic(f.home), dump(f), qos=1)
            # Kept by paho while disconnected and sent again on reconnect; confirmed by on_publish's PUBACK.
            self._unconfirmed.append((info.mid, f.home))
            self._dirty.add(f.home)  # raising a finding changes the home's state
            self.health.findings_published += 1

    def _process(self, item: _Inbound) -> None:
        """One message: skipped when already processed (a redelivery), else handled; then pending acknowledgement."""
        parsed = parse_topic(item.topic)
        home = parsed[1] if parsed is not None else None
        d = digest(item.topic, item.payload)
        if home is not None and self.seen.has(home, d):
            # Its findings went out (and its state was checkpointed) before: processing it again could page twice. (A
            # redelivery; or a retained status published while we subscribed, which comes live and again retained.)
            self.health.redelivered_skipped += 1
            log.info("home %s: a message already processed came again; acknowledged without processing", home)
        else:
            self._publish(self.handle(item.topic, item.payload, datetime.now(UTC)))
            if home is not None and home in self.engine.homes:
                self.seen.add(home, d)
            # A heartbeat only refreshes "agent seen": losing one to a crash costs nothing, so heartbeats (most of
            # the traffic) are acknowledged without a checkpoint of their own and saved with the home's next one.
            self._must_save = self._must_save or parsed is None or parsed[0] is not TopicKind.HEARTBEAT
        if not self._pending:
            self._batch_started = time.monotonic()
        self._pending.append(item)
        self.health.last_message_at = time.time()

    def handle(self, topic: str, payload: bytes, now: datetime) -> list[Finding]:
        """One message; a bad one (or a failing home) is logged and skipped, never stopping the other homes."""
        parsed = parse_topic(topic)
        if parsed is None:
            return []
        kind, home = parsed
        try:
            if kind is TopicKind.EVENTS:
                event = parse_event(payload)
                if event.home != home:
                    return []
                self._dirty.add(home)
                return [with_epoch(f, event) for f in self.engine.observe(event, now)]
            if kind is TopicKind.STATUS:
                status = parse_status(payload)
                self.engine.agent_status(home, now, status.state == "online")
            elif kind is TopicKind.HEARTBEAT:
                self.engine.agent_status(home, now, True)
                parse_heartbeat(payload)
            elif kind is TopicKind.FEEDBACK:
                fb = parse_feedback(payload)
                if fb.home == home:
                    self.engine.feedback(fb, now)
                    self.feedback_applied += 1
                    log.info("feedback %s on %s for %s: thresholds adjusted", fb.outcome, fb.kind, home)
            self._dirty.add(home)
        except ContractError as err:
            log.debug("ignored invalid message on %s: %s", topic, err.reason)
        except Exception:
            log.exception("home %s: message on %s failed; other homes go on", home, topic)
        return []

    def commit(self, now: datetime, *, final: bool = False) -> bool:
        """Once the broker acknowledged our findings: checkpoint, then acknowledge the messages processed before.

        False when findings are still unacknowledged (broker away): nothing is acknowledged, the broker redelivers.
        """
        if self._unconfirmed and self.pubacks.wait([m for m, _ in self._unconfirmed], CONFIRM_TIMEOUT_S):
            self._sync_refused()
            self._unconfirmed.clear()
        if self._unconfirmed:
            self.health.findings_unconfirmed = len(self._unconfirmed)
            if final:
                # Stopping with findings unconfirmed: their homes keep their older checkpoint, and the messages that
                # caused them stay unacknowledged, so the next start processes them again and publishes anew.
                self.checkpoint(now, keep_out=frozenset(h for _, h in self._unconfirmed), force=True)
            return False
        self.health.findings_unconfirmed = 0
        failing = not (self.health.checkpoint_ok and self.health.checkpoints_restored)
        retry_due = failing and time.monotonic() >= self._ckpt_retry_at
        if self._must_save or final or retry_due or time.monotonic() >= self._next_ckpt:
            self.checkpoint(now, force=final)  # one last try on stop, whatever the backoff
            self._must_save = False
            self._next_ckpt = time.monotonic() + self.settings.anomaly.checkpoint_s
        self._ack()
        return True

    def _sync_refused(self) -> None:
        self.health.findings_refused = self.pubacks.refused

    def _ack(self) -> None:
        conn = self._conn
        for item in self._pending:
            if item.qos == 0:
                continue
            if item.conn != conn:
                # It came on an earlier connection: the broker sends it again on this one, where it is skipped
                # as seen and acknowledged. An old packet id could now name another, unprocessed message.
                self.health.acks_stale += 1
                continue
            self._client.ack(item.mid, item.qos)
        self._pending.clear()
        self.health.acks_pending = 0

    # --- summaries and the registry ---------------------------------------------------------------------------

    def summarise(self, now: datetime) -> None:
        """Write routine summaries for the console and re-read the registry's homes; a database problem is logged."""
        try:
            write_summaries(self.settings.database.url, summary_rows(self.engine.homes), now)
        except Exception as err:
            log.warning("routine summaries not written: %s", err)
        self.registry.load()

    def write_health(self) -> None:
        """Refresh `STATE_DIR/anomaly/health.json` (what a supervisor or the console reads)."""
        self.health.acks_pending = len(self._pending)
        self.health.findings_unconfirmed = len(self._unconfirmed)
        self._sync_refused()
        ok = self.health.write(self._folder / "health.json")
        if ok != self._health_written:
            self._health_written = ok
            (log.info if ok else log.warning)("health file %s", "written again" if ok else "not writable")

    # --- the loop ----------------------------------------------------------------------------------------------

    def _batch_due(self, took_one: bool) -> bool:
        # Commit when the inbox is drained (low load: each message at once), or per BATCH / BATCH_S under load.
        return (
            not took_one
            or self._inbox.empty()
            or len(self._pending) >= BATCH
            or time.monotonic() - self._batch_started >= BATCH_S
        )

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set."""
        opts = self.settings.anomaly
        connect_and_wait(self._client, self.settings.mqtt, clean_start=False, session_expiry_s=opts.session_expiry_s)
        # Without a session kept from before, events published before the SUBACK are not ours: say "running" after it.
        if not self._subscribed.wait(SUBACK_WAIT_S):
            log.warning("no SUBACK in %.0f s; running, and subscribing again on reconnect", SUBACK_WAIT_S)
        log.info("anomaly running: %d homes known", len(self.engine.homes))
        now = datetime.now(UTC)
        next_tick, next_health = now, time.monotonic()
        self._next_ckpt = time.monotonic() + opts.checkpoint_s
        next_summary = now + timedelta(seconds=min(60.0, opts.summary_s))
        try:
            while not stop.is_set():
                try:
                    self._process(self._inbox.get(timeout=0.2))
                    took = True
                except queue.Empty:
                    took = False
                now = datetime.now(UTC)
                if now >= next_tick:
                    self._publish(self.engine.tick(now))
                    next_tick = now + timedelta(seconds=opts.tick_s)
                if self._batch_due(took):
                    self.commit(now)
                if now >= next_summary:
                    self.summarise(now)
                    next_summary = now + timedelta(seconds=opts.summary_s)
                if time.monotonic() >= next_health:
                    self.write_health()
                    next_health = time.monotonic() + HEALTH_EVERY_S
        finally:
            self.commit(datetime.now(UTC), final=True)
            self.summarise(datetime.now(UTC))
            self.write_health()
            if self.checkpoints is not None:
                self.checkpoints.close()
            self._client.disconnect()
            self._client.loop_stop()


def run_service(settings: AnomalySettings, stop: threading.Event) -> None:
    """Entry point of `anxin anomaly`."""
    if settings.bus == "nats":  # the cluster topology (docs/scale.md): a worker on JetStream partitions
        from anomaly.worker import run_worker

        run_worker(settings, stop)
        return
    AnomalyService(settings).run(stop)
