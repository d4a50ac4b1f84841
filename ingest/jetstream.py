"""ingest as the bridge of `bus = "nats"`: each stored event is published to JetStream, acks awaited, then PUBACK.

Order per batch (ingest/service.py store_batch): validate, write the time series (or spill), publish every stored event
to `anxin.events.<partition>.<home>` with `Nats-Msg-Id = home:agent:epoch:seq`, wait for JetStream's acks, and only
then acknowledge the MQTT messages. Agent status and heartbeats go to the same subject (one ordered partition per home)
with `Anxin-Kind` and an id of their agent and time. Every message carries `Anxin-At`, when ingest received it: the
embedded service's clock for status and heartbeats, and how the engine tells an agent replaying its queue (events
received long after their time) from a live one. A publish that fails (a node died, a leader election) is retried
with the same id, so JetStream stores it once; while the cluster is unreachable the MQTT acks are held and the broker
keeps the events.
Publishing MQTT straight into NATS is not done: NATS acks an MQTT QoS 1 publish before the stream stored it (issue 16).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from nats.aio.client import Client
from nats.js import JetStreamContext

from anxin.bus import (
    AT,
    HEARTBEAT,
    KIND,
    MSG_ID,
    STATUS,
    LoopThread,
    connect,
    ensure_bus,
    event_msg_id,
    events_subject,
    heartbeat_msg_id,
    status_msg_id,
)
from anxin.settings import NatsSettings
from contracts import ContractError, TopicKind, parse_event, parse_heartbeat, parse_status, parse_topic
from ingest.mqttlink import Message

log = logging.getLogger(__name__)
RETRY_MAX_S = 5.0
Item = tuple[str, bytes, dict[str, str]]  # subject (one per home), payload, headers (Nats-Msg-Id first)


class JetStreamBridge:
    """Publishes stored events to JetStream and waits for every ack; one asyncio loop on its own thread."""

    def __init__(self, settings: NatsSettings, name: str) -> None:
        self.settings = settings
        self._loop = LoopThread("ingest-nats")
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._name = name
        self.published = 0
        self.retries = 0

    def _connect(self) -> JetStreamContext:
        if self._js is None:
            if self._nc is None:
                self._nc = self._loop.run(connect(self.settings, self._name), 30)
            js = self._nc.jetstream(timeout=self.settings.ack_timeout_s)
            self._loop.run(ensure_bus(js, self.settings, findings=False, buckets=False), 60)
            self._js = js
            log.info("JetStream bridge up: %s", ", ".join(self.settings.servers))
        return self._js

    @staticmethod
    def outgoing(msgs: list[Message], partitions: int, received: float | None = None) -> list[Item]:
        """(subject, payload, headers) of each event, status and heartbeat, all in their home's partition."""
        at = repr(time.time() if received is None else received)
        out = []
        for m in msgs:
            parsed = parse_topic(m.topic)
            if parsed is None:
                continue
            kind, home = parsed
            try:
                if kind is TopicKind.EVENTS:
                    headers = {MSG_ID: event_msg_id(parse_event(m.payload)), AT: at}
                elif kind is TopicKind.STATUS:
                    headers = {MSG_ID: status_msg_id(home, parse_status(m.payload)), KIND: STATUS, AT: at}
                elif kind is TopicKind.HEARTBEAT:
                    headers = {MSG_ID: heartbeat_msg_id(parse_heartbeat(m.payload)), KIND: HEARTBEAT, AT: at}
                else:
                    continue
            except ContractError:  # validated before; a message here that does not parse was dead-lettered
                continue
            out.append((events_subject(home, partitions), m.payload, headers))
        return out

    async def _publish_all(self, js: JetStreamContext, items: list[Item]) -> list[Item]:
        """Publish, each home's events one after the other (homes concurrently); what is left to publish, in order.

        A home's next event is sent only once the previous one is acked: a retried event can never land after a newer
        one of its home, so the stream holds each home's events in the order ingest received them.
        """
        chains: dict[str, list[Item]] = {}
        for item in items:
            chains.setdefault(item[0], []).append(item)
        timeout = self.settings.ack_timeout_s

        async def chain(todo: list[Item]) -> list[Item]:
            for n, (subject, payload, headers) in enumerate(todo):
                try:
                    await js.publish(subject, payload, timeout=timeout, headers=headers)
                except Exception as err:  # no ack (a node died, a leader election): this and the rest wait
                    log.debug("JetStream did not ack %s: %s", headers[MSG_ID], err)
                    return todo[n:]
            return []

        left = [i for rest in await asyncio.gather(*(chain(c) for c in chains.values())) for i in rest]
        if left:
            log.warning("JetStream did not ack %d of %d events: retrying them", len(left), len(items))
        return left

    def publish(self, msgs: list[Message], stop: threading.Event) -> bool:
        """Publish a stored batch's messages; True once JetStream acked them all, False when stopped before."""
        items = self.outgoing(msgs, self.settings.partitions)
        delay = 0.2
        while items:
            try:
                js = self._connect()
                left = self._loop.run(self._publish_all(js, items), self.settings.ack_timeout_s * len(items) + 30)
            except Exception as err:  # cluster unreachable: hold the MQTT acks, the broker keeps the events
                log.warning("JetStream unreachable (%s): holding %d acknowledgements", err, len(msgs))
                left = items
            self.published += len(items) - len(left)
            if not left:
                return True
            self.retries += len(left)
            items = left
            if stop.wait(delay):
                return False
            delay = min(delay * 2, RETRY_MAX_S)
        return True

    def close(self) -> None:
        """Drain the connection and stop the loop."""
        if self._nc is not None:
            try:
                self._loop.run(self._nc.drain(), 10)
            except Exception as err:  # closing anyway
                log.debug("NATS drain: %s", err)
        self._loop.stop()
