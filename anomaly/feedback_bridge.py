"""Responders' feedback from MQTT into its home's partition (bus = "nats"), so cluster workers learn from verdicts.

alerts publishes each verdict on `anxin/v1/feedback/<home>` (as for the embedded service). Every worker runs one bridge
on one shared subscription (`$share/<group>/...`: Mosquitto hands each message to one live member): a verdict is
validated, published into its home's partition with `Anxin-Kind: feedback` and a `Nats-Msg-Id` of its alert and
outcome, and acknowledged to Mosquitto only once JetStream stored it, so a copy stored twice (a bridge that died before
its PUBACK) is stored once. In the partition it is applied in order with the home's events by whichever worker holds
the home (anomaly/ticks.py), so a home's findings stay a function of its partition.

Sessions are clean: each worker's id is its own (a process's), and a persistent session left by a restarted worker
would hold the group's messages for a member that never comes back. So a verdict given while no worker runs at all is
not kept (docs/scale.md, "Not built yet").
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import paho.mqtt.client as mqtt
from nats.js import JetStreamContext

from anxin.bus import AT, FEEDBACK, KIND, MSG_ID, events_subject
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import MqttSettings, NatsSettings
from contracts import ContractError, parse_feedback
from contracts.topics import FEEDBACK_FILTER, TopicKind, parse_topic

log = logging.getLogger(__name__)
GROUP = "anomaly-workers"
SHARED = f"$share/{GROUP}/{FEEDBACK_FILTER}"


def feedback_msg_id(home: str, alert_id: int, outcome: str) -> str:
    """Deduplication id of a verdict: one alert ends once, with one outcome."""
    return f"feedback/{home}/{alert_id}/{outcome}"


class FeedbackBridge:
    """Takes verdicts off the shared MQTT subscription and stores them in their homes' partitions before acking."""

    def __init__(self, js: JetStreamContext, nats: NatsSettings, mqtt_settings: MqttSettings, client_id: str) -> None:
        self.js = js
        self.nats = nats
        self.mqtt_settings = mqtt_settings
        self.client_id = client_id
        self.counts = {"forwarded": 0, "invalid": 0}

    async def forward(self, topic: str, payload: bytes) -> bool:
        """Store one verdict in its home's partition; True once stored or dropped as invalid (ack it), else False."""
        parsed = parse_topic(topic)
        try:
            if parsed is None or parsed[0] is not TopicKind.FEEDBACK:
                raise ContractError("topic", f"not a feedback topic: {topic[:80]!r}")
            fb = parse_feedback(payload)
            if fb.home != parsed[1]:
                raise ContractError("home", f"feedback of {fb.home} on the topic of {parsed[1]}")
        except ContractError as err:  # alerts wrote it, so this is a bug or an intruder: counted, logged, dropped
            self.counts["invalid"] += 1
            log.warning("feedback dropped: %s", err)
            return True
        headers = {MSG_ID: feedback_msg_id(fb.home, fb.alert_id, fb.outcome), KIND: FEEDBACK, AT: repr(time.time())}
        subject = events_subject(fb.home, self.nats.partitions)
        try:
            await self.js.publish(subject, payload, timeout=self.nats.ack_timeout_s, headers=headers)
        except Exception as err:  # the cluster away: not acked, so the broker keeps it for us
            log.warning("feedback for alert %s not stored yet: %s: %s", fb.alert_id, type(err).__name__, err)
            return False
        self.counts["forwarded"] += 1
        return True

    async def run(self) -> None:
        """Bridge until cancelled; the broker or the cluster being away is retried, never fatal to the worker."""
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
            client = make_client(self.mqtt_settings, self.client_id, manual_ack=True)

            def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage, inbox: Any = inbox) -> None:
                loop.call_soon_threadsafe(inbox.put_nowait, msg)

            def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
                if not reason.is_failure:
                    c.subscribe(SHARED, qos=1)  # (again on every reconnect)

            client.on_message = on_message
            client.on_connect = on_connect
            try:
                await asyncio.to_thread(connect_and_wait, client, self.mqtt_settings)
                log.info("feedback bridge up: MQTT %s -> JetStream", SHARED)
                delay = 0.5
                while True:
                    msg = await inbox.get()
                    while not await self.forward(msg.topic, bytes(msg.payload)):
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 10.0)
                    delay = 0.5
                    client.ack(msg.mid, msg.qos)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # broker away: try again
                log.warning("feedback bridge: %s: %s; retrying in %.1fs", type(err).__name__, err, delay)
            finally:
                client.disconnect()
                client.loop_stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
