"""The anomaly service: events in over MQTT, findings out, the clock ticking in between."""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

from anomaly.config import AnomalySettings
from anomaly.engine import Engine, NightRule
from anxin.mqtt import connect_and_wait, make_client
from contracts import ContractError, Finding, TopicKind, dump, findings_topic, parse_event
from contracts.topics import home_filter

log = logging.getLogger(__name__)


class AnomalyService:
    """Feeds events to the engine in arrival order and publishes its findings at QoS 1."""

    def __init__(self, settings: AnomalySettings) -> None:
        self.settings = settings
        opts = settings.anomaly
        night = NightRule(
            timedelta(seconds=opts.night_limit_s), opts.night_hours[0], opts.night_hours[1], ZoneInfo(opts.timezone)
        )
        self.engine = Engine(timedelta(seconds=opts.inactivity_limit_s), timedelta(seconds=opts.exit_grace_s), night)
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._client = make_client(settings.mqtt, opts.client_id)
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda _c, _u, msg: self._inbox.put(msg)
        self.published = 0

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(home_filter(TopicKind.EVENTS), qos=1)

    def _publish(self, findings: list[Finding]) -> None:
        for f in findings:
            log.info("finding %s for %s (%s)", f.kind, f.home, f.severity)
            self._client.publish(findings_topic(f.home), dump(f), qos=1)
            self.published += 1

    def run(self, stop: threading.Event) -> None:
        """Run until `stop` is set."""
        opts = self.settings.anomaly
        connect_and_wait(self._client, self.settings.mqtt, clean_start=False, session_expiry_s=opts.session_expiry_s)
        log.info("anomaly running: inactivity limit %.0f min", opts.inactivity_limit_s / 60)
        next_tick = datetime.now(UTC)
        try:
            while not stop.is_set():
                try:
                    msg = self._inbox.get(timeout=0.2)
                    try:
                        self._publish(self.engine.observe(parse_event(bytes(msg.payload)), datetime.now(UTC)))
                    except ContractError as err:
                        log.debug("ignored invalid event on %s: %s", msg.topic, err.reason)
                except queue.Empty:
                    pass
                now = datetime.now(UTC)
                if now >= next_tick:
                    self._publish(self.engine.tick(now))
                    next_tick = now + timedelta(seconds=opts.tick_s)
        finally:
            self._client.disconnect()
            self._client.loop_stop()


def run_service(settings: AnomalySettings, stop: threading.Event) -> None:
    """Entry point of `anxin anomaly`."""
    AnomalyService(settings).run(stop)
