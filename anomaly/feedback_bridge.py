"""Responders' feedback from MQTT into its home's partition (bus = "nats"), so cluster workers learn from verdicts.

alerts publishes each verdict on `anxin/v1/feedback/<home>` (as for the embedded service). One bridge runs in the
cluster: the worker holding partition 0's lease, renewed within `lease_s`, runs it (`Worker._run_bridge`), under one
client id for the cluster (`CLIENT_ID`, named after the events stream) and a persistent session, so verdicts published
while the bridge moves from one worker to another, or while it is down, wait in the broker, and those it had in hand
unacknowledged come again to the next holder. (Verdicts published before any bridge ever connected, when no session
exists yet, are not kept.) A shared subscription of every worker was measured losing verdicts: Mosquitto does not hand
a dead member's unacknowledged messages to the others.

Each verdict is validated (another home's on a home's topic: dropped, counted), published into its home's partition on
the workers' subject (`anxin.bus.control_subject`) with `Anxin-Kind: feedback` and a `Nats-Msg-Id` of its alert and
outcome, and acknowledged to Mosquitto only once JetStream stored it: a verdict redelivered within the stream's
duplicate window is stored once. The holder of the home applies it in order with its events (anomaly/ticks.py), so a
home's findings stay a function of its partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import paho.mqtt.client as mqtt
from nats.js import JetStreamContext

from anxin.bus import AT, FEEDBACK, KIND, MSG_ID, control_subject
from anxin.mqtt import connect_and_wait, make_client
from anxin.settings import MqttSettings, NatsSettings
from contracts import ContractError, parse_feedback
from contracts.topics import FEEDBACK_FILTER, TopicKind, parse_topic

log = logging.getLogger(__name__)
PARTITION = 0  # whose lease holder runs the bridge
# One client id for the cluster whatever each worker's `[anomaly] client_id`, so the session follows the lease.
CLIENT_ID = "anxin-feedback-{stream}"
SESSION_EXPIRY_S = 86400  # verdicts given while no worker runs the bridge wait this long in the broker
CONNECT_WAIT_S = 20.0  # longer than connect_and_wait's own timeout


def feedback_msg_id(home: str, alert_id: int, outcome: str) -> str:
    """Deduplication id of a verdict: one alert ends once, with one outcome."""
    return f"feedback/{home}/{alert_id}/{outcome}"


class FeedbackBridge:
    """Takes verdicts off MQTT and stores them in their homes' partitions before acknowledging them."""

    def __init__(
        self,
        js: JetStreamContext,
        nats: NatsSettings,
        mqtt_settings: MqttSettings,
        client_id: str,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.js = js
        self.nats = nats
        self.mqtt_settings = mqtt_settings
        self.client_id = client_id
        self.counts = counts if counts is not None else {}  # `feedback`, `feedback_invalid` (the worker's, logged)
        self._conn = 0  # the MQTT connection a message came on: a packet id means nothing on another one
        self.subscribed = False  # the broker granted the subscription (once per session is enough)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

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
            self._count("feedback_invalid")
            log.warning("feedback dropped: %s", err)
            return True
        headers = {MSG_ID: feedback_msg_id(fb.home, fb.alert_id, fb.outcome), KIND: FEEDBACK, AT: repr(time.time())}
        subject = control_subject(fb.home, self.nats.partitions, FEEDBACK)
        try:
            await self.js.publish(subject, payload, timeout=self.nats.ack_timeout_s, headers=headers)
        except Exception as err:  # the cluster away: not acknowledged, so the broker keeps it for us
            log.warning("feedback for alert %s not stored yet: %s: %s", fb.alert_id, type(err).__name__, err)
            return False
        self._count("feedback")
        return True

    def _client(self, inbox: asyncio.Queue[tuple[int, mqtt.MQTTMessage]]) -> mqtt.Client:
        """An MQTT client whose messages land in `inbox` with the connection they came on."""
        loop = asyncio.get_running_loop()
        client = make_client(self.mqtt_settings, self.client_id, manual_ack=True)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                self._conn += 1  # (before any PUBLISH of this connection: paho handles packets in order)
                c.subscribe(FEEDBACK_FILTER, qos=1)  # (the session keeps it; asked again, it changes nothing)

        def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, codes: list[Any], _p: Any) -> None:
            if any(rc.is_failure for rc in codes):
                log.error("feedback subscription refused by the broker (%s): verdicts do not reach the workers", codes)
            else:
                self.subscribed = True

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            loop.call_soon_threadsafe(inbox.put_nowait, (self._conn, msg))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        return client

    async def run(self) -> None:
        """Bridge until cancelled; the broker or the cluster being away is retried, never fatal to the worker."""
        delay = 0.5
        while True:
            inbox: asyncio.Queue[tuple[int, mqtt.MQTTMessage]] = asyncio.Queue()
            client = self._client(inbox)
            connecting = asyncio.ensure_future(
                asyncio.to_thread(
                    connect_and_wait, client, self.mqtt_settings, clean_start=False, session_expiry_s=SESSION_EXPIRY_S
                )
            )
            try:
                await asyncio.shield(connecting)
                log.info("feedback bridge up: MQTT %s -> JetStream", FEEDBACK_FILTER)
                delay = 0.5
                while True:
                    conn, msg = await inbox.get()
                    while not await self.forward(msg.topic, bytes(msg.payload)):
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 10.0)
                    delay = 0.5
                    if conn == self._conn:  # (else the broker sends it again on this connection, and it is stored once)
                        client.ack(msg.mid, msg.qos)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # broker away: try again
                log.warning("feedback bridge: %s: %s; retrying in %.1fs", type(err).__name__, err, delay)
            finally:
                # A connect still running in its thread would start paho's loop after we stopped it: let it end.
                await asyncio.wait({connecting}, timeout=CONNECT_WAIT_S)
                client.disconnect()
                client.loop_stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
