"""An agent's link to the broker: availability, sequence-numbered events at QoS 1, heartbeats."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from anxin.mqtt import make_client
from anxin.settings import MqttSettings
from contracts import Heartbeat, SensorEvent, SensorHealth, Status, dump, events_topic, heartbeat_topic, status_topic
from edge.seqstore import SeqStore

log = logging.getLogger(__name__)
AGENT_VERSION = "0.1.0"


class AgentLink:
    """Publishes one home's messages; paho queues them in memory while the broker is away."""

    def __init__(self, settings: MqttSettings, home: str, agent: str, seqs: SeqStore, now: datetime) -> None:
        self.home, self.agent, self._seqs = home, agent, seqs
        self._settings = settings
        self._started = time.monotonic()
        offline = Status(state="offline", agent=agent, version=AGENT_VERSION, ts=now)
        self._client = make_client(settings, f"agent-{home}", will=(status_topic(home), dump(offline)))
        self._client.on_connect = self._on_connect
        self.connected = threading.Event()
        self.sensors: dict[str, SensorHealth] = {}
        self.sent = 0

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused home %s: %s", self.home, reason)
            return
        online = Status(state="online", agent=self.agent, version=AGENT_VERSION, ts=datetime.now().astimezone())
        client.publish(status_topic(self.home), dump(online), qos=1, retain=True)
        self.connected.set()

    def start(self) -> None:
        """Connect in the background; events published before the connection are queued."""
        self._client.connect_async(
            self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s, clean_start=True
        )
        self._client.loop_start()

    def publish_event(
        self,
        ts: datetime,
        sensor: str,
        kind: str,
        value: int | float | str,
        room: str | None = None,
        battery: int | None = None,
    ) -> SensorEvent:
        """Number, serialise and publish one event at QoS 1."""
        event = SensorEvent(
            home=self.home,
            agent=self.agent,
            seq=self._seqs.next(self.agent),
            ts=ts,
            sensor=sensor,
            kind=kind,
            value=value,
            room=room,
            battery=battery,
        )
        self._client.publish(events_topic(self.home), dump(event), qos=1)
        self.sensors[sensor] = SensorHealth(
            last_seen=ts,
            battery=battery
            if battery is not None
            else (self.sensors[sensor].battery if sensor in self.sensors else None),
        )
        self.sent += 1
        return event

    def heartbeat(self, now: datetime) -> None:
        """Publish a health report."""
        hb = Heartbeat(
            home=self.home,
            agent=self.agent,
            ts=now,
            queue_depth=0,
            uptime_s=round(time.monotonic() - self._started, 1),
            sensors=dict(self.sensors),
        )
        self._client.publish(heartbeat_topic(self.home), dump(hb), qos=1)

    def stop(self, now: datetime, timeout: float = 5.0) -> None:
        """Say offline (a clean disconnect does not fire the will), flush and disconnect."""
        if self.connected.is_set():
            offline = Status(state="offline", agent=self.agent, version=AGENT_VERSION, ts=now)
            info = self._client.publish(status_topic(self.home), dump(offline), qos=1, retain=True)
            info.wait_for_publish(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def kill(self) -> None:
        """Drop the connection without a goodbye, as a power cut would: the broker publishes the will."""
        sock = self._client.socket()
        if sock is not None:
            sock.close()
        self._client.loop_stop()
