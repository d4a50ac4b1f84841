"""Findings from JetStream to MQTT (bus = "nats"), so today's alerts service pages in the cluster topology too.

A stopgap until alerts consumes `anxin.findings.>` itself (docs/scale.md, "Not built yet"). Every worker runs one relay
on one shared durable consumer: a finding is republished at QoS 1 to its MQTT topic and acked to JetStream only after
Mosquitto's PUBACK. A relay that dies mid-way leaves it unacked and another relay sends it again after `ack_wait`;
alerts already ignores a finding id it has recorded, so a finding sent twice pages once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import paho.mqtt.client as mqtt
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError

from anxin.bus import FINDINGS_PREFIX
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import MqttSettings, NatsSettings
from contracts import findings_topic

log = logging.getLogger(__name__)
DURABLE = "findings-to-mqtt"
BATCH = 100
ACK_WAIT_S = 30.0
PUBACK_TIMEOUT_S = 10.0


def home_of(subject: str) -> str | None:
    """The home of a findings subject `anxin.findings.<home>`."""
    prefix = FINDINGS_PREFIX + "."
    home = subject[len(prefix) :] if subject.startswith(prefix) else ""
    return home if home and "." not in home else None


class FindingsRelay:
    """Pulls findings from the shared durable consumer and republishes them to MQTT before acking them."""

    def __init__(self, js: JetStreamContext, nats: NatsSettings, mqtt_settings: MqttSettings, client_id: str) -> None:
        self.js = js
        self.nats = nats
        self.mqtt_settings = mqtt_settings
        self.client_id = client_id
        self.relayed = 0

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        cfg = ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            deliver_policy=DeliverPolicy.ALL,
            num_replicas=self.nats.replicas,
        )
        with contextlib.suppress(BadRequestError):  # created by another worker with another config: bind to it
            await self.js.add_consumer(self.nats.findings_stream, cfg)
        return await self.js.pull_subscribe_bind(DURABLE, self.nats.findings_stream)

    async def _forward(self, client: mqtt.Client, msgs: list[Msg]) -> None:
        """Publish each at QoS 1, wait for Mosquitto's PUBACKs, then ack the ones confirmed."""
        sent: list[tuple[Msg, mqtt.MQTTMessageInfo]] = []
        for m in msgs:
            home = home_of(m.subject)
            if home is None:
                log.warning("finding on unexpected subject %s: acked and dropped", m.subject)
                await m.ack()
                continue
            sent.append((m, client.publish(findings_topic(home), m.data, qos=1)))
        for m, info in sent:
            await asyncio.to_thread(info.wait_for_publish, PUBACK_TIMEOUT_S)
            if info.is_published():
                await m.ack()
                self.relayed += 1
            # else: not acked; JetStream sends it again after ack_wait

    async def run(self) -> None:
        """Relay until cancelled; the broker or the cluster being away is retried, never fatal to the worker."""
        delay = 0.5
        while True:
            client = make_client(self.mqtt_settings, self.client_id)
            try:
                await asyncio.to_thread(connect_and_wait, client, self.mqtt_settings)
                sub = await self._subscribe()
                log.info("findings relay up: JetStream %s -> MQTT", self.nats.findings_stream)
                delay = 0.5
                while True:
                    try:
                        msgs = await sub.fetch(BATCH, timeout=1.0)
                    except (NatsTimeout, TimeoutError):
                        continue
                    await self._forward(client, msgs)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # broker or cluster away: try again
                log.warning("findings relay: %s: %s; retrying in %.1fs", type(err).__name__, err, delay)
            finally:
                client.disconnect()
                client.loop_stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
