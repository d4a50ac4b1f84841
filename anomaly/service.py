"""The anomaly service: events, agent status and responders' feedback in over MQTT, findings out, the clock ticking."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import paho.mqtt.client as mqtt

from anomaly.config import AnomalySettings
from anomaly.engine import Engine
from anomaly.store import CheckpointStore, home_timezones, write_summaries
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


class AnomalyService:
    """Feeds messages to the engine in arrival order and publishes its findings at QoS 1."""

    def __init__(self, settings: AnomalySettings) -> None:
        self.settings = settings
        opts = settings.anomaly
        self.engine = Engine(opts.engine_options(), {h: s.limits() for h, s in opts.homes.items()})
        self.checkpoints = CheckpointStore(settings.state_dir / "anomaly" / "checkpoints.sqlite")
        self.engine.homes.update(self.checkpoints.load())
        for home, limits in self.engine.home_limits.items():
            self.engine.set_limits(home, limits)
        self._dirty: set[str] = set()
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._client = make_client(settings.mqtt, opts.client_id)
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda _c, _u, msg: self._inbox.put(msg)
        self.published = 0
        self.feedback_applied = 0
        self._bad_tz: set[str] = set()
        self.load_timezones()
        if self.engine.homes:
            log.info("resumed %d homes from checkpoints", len(self.engine.homes))

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])

    def _publish(self, findings: list[Finding]) -> None:
        for f in findings:
            log.info("finding %s for %s (%s)", f.kind, f.home, f.severity)
            self._client.publish(findings_topic(f.home), dump(f), qos=1)
            self.published += 1

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
                return self.engine.observe(event, now)
            if kind is TopicKind.STATUS:
                status = parse_status(payload)
                self.engine.agent_status(home, now, status.state == "online")
            elif kind is TopicKind.HEARTBEAT:
                self.engine.agent_status(home, now, True)
                parse_heartbeat(payload)
            elif kind is TopicKind.FEEDBACK:
                fb = parse_feedback(payload)
                if fb.home == home:
                    self.engine.feedback(fb)
                    self.feedback_applied += 1
                    log.info("feedback %s on %s for %s: thresholds adjusted", fb.outcome, fb.kind, home)
            self._dirty.add(home)
        except ContractError as err:
            log.debug("ignored invalid message on %s: %s", topic, err.reason)
        except Exception:
            log.exception("home %s: message on %s failed; other homes go on", home, topic)
        return []

    def checkpoint(self, now: datetime) -> None:
        """Write changed homes' state."""
        if not self._dirty:
            return
        dirty = {h: self.engine.homes[h] for h in self._dirty if h in self.engine.homes}
        self._dirty.clear()
        biggest = self.checkpoints.save(dirty, now)
        log.debug("checkpointed %d homes, largest %d bytes", len(dirty), biggest)

    def load_timezones(self) -> None:
        """Read each home's time zone from the `homes` table; a home with an unknown zone keeps the service's."""
        try:
            names = home_timezones(self.settings.database.url)
        except Exception as err:
            log.warning("home time zones not read, every home uses %s: %s", self.settings.anomaly.timezone, err)
            return
        for home, name in names.items():
            try:
                tz = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError) as err:
                if home not in self._bad_tz:
                    self._bad_tz.add(home)
                    log.warning("home %s: unknown time zone %r (%s), using %s", home, name, err, self.engine.options.tz)
                continue
            self.engine.set_timezone(home, tz)

    def summarise(self, now: datetime) -> None:
        """Write routine summaries for the console and re-read home time zones; a database problem is logged."""
        try:
            write_summaries(self.settings.database.url, self.engine.homes, now)
        except Exception as err:
            log.warning("routine summaries not written: %s", err)
        self.load_timezones()

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set."""
        opts = self.settings.anomaly
        connect_and_wait(self._client, self.settings.mqtt, clean_start=False, session_expiry_s=opts.session_expiry_s)
        log.info("anomaly running: %d homes known", len(self.engine.homes))
        now = datetime.now(UTC)
        next_tick, next_ckpt = now, now + timedelta(seconds=opts.checkpoint_s)
        next_summary = now + timedelta(seconds=min(60.0, opts.summary_s))
        try:
            while not stop.is_set():
                try:
                    msg = self._inbox.get(timeout=0.2)
                    self._publish(self.handle(msg.topic, bytes(msg.payload), datetime.now(UTC)))
                except queue.Empty:
                    pass
                now = datetime.now(UTC)
                if now >= next_tick:
                    self._publish(self.engine.tick(now))
                    next_tick = now + timedelta(seconds=opts.tick_s)
                if now >= next_ckpt:
                    self.checkpoint(now)
                    next_ckpt = now + timedelta(seconds=opts.checkpoint_s)
                if now >= next_summary:
                    self.summarise(now)
                    next_summary = now + timedelta(seconds=opts.summary_s)
        finally:
            self.checkpoint(datetime.now(UTC))
            self.summarise(datetime.now(UTC))
            self.checkpoints.close()
            self._client.disconnect()
            self._client.loop_stop()


def run_service(settings: AnomalySettings, stop: threading.Event) -> None:
    """Entry point of `anxin anomaly`."""
    AnomalyService(settings).run(stop)
