"""An agent's link to the broker: availability, sequence-numbered events from the disk queue at QoS 1, heartbeats."""

from __future__ import annotations

import collections
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from anxin.broker import agent_client_id
from anxin.mqtt import make_client
from anxin.settings import MqttSettings
from contracts import Heartbeat, SensorEvent, SensorHealth, Status, dump, events_topic, heartbeat_topic, status_topic
from edge.queue import DiskQueue

log = logging.getLogger(__name__)
AGENT_VERSION = "0.2.0"
# Kinds whose events are never dropped from a full queue.
SAFETY_KINDS = frozenset({"button"})
# The pseudo-sensor under which the agent reports its own queue drops as events (kind `queue_drop`).
AGENT_SENSOR = "agent"


def backoff_bounds(rng: random.Random, min_s: float = 1.0, max_s: float = 30.0) -> tuple[float, float]:
    """Reconnect delay bounds with jitter, so homes cut off together do not all return in the same second."""
    return min_s * rng.uniform(1.0, 2.0), max_s * rng.uniform(0.75, 1.25)


class TokenBucket:
    """At most `rate` per second on average, `burst` at once; `now` is monotonic seconds."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, 0.0, now

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until the next token."""
        return max(0.001, (1.0 - self.tokens) / self.rate)


class AgentLink:
    """Publishes one home's messages; every event goes through the disk queue and leaves it when the broker acks."""

    def __init__(
        self,
        settings: MqttSettings,
        home: str,
        agent: str,
        queue: DiskQueue,
        now: datetime,
        *,
        drain_rate: float | None = None,
        max_inflight: int = 20,
        cpu_temp: Callable[[], float | None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.home, self.agent, self._queue = home, agent, queue
        queue.claim(agent, home)
        self._settings = settings
        self._started = time.monotonic()
        self._rng = rng or random.Random()
        self._cpu_temp = cpu_temp
        offline = Status(state="offline", agent=agent, version=AGENT_VERSION, ts=now)
        self._client = make_client(settings, agent_client_id(home), will=(status_topic(home), dump(offline)))
        self._client.reconnect_delay_set(*(round(b) for b in backoff_bounds(self._rng)))
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self.connected = threading.Event()
        self.sensors: dict[str, SensorHealth] = {}
        self.sent = 0  # events accepted into the queue
        self.acked = 0  # events the broker acknowledged
        self.rejected = 0  # events the broker refused (kept in the log with the reason)
        self.max_inflight = max_inflight
        # None: no drain limit, strict seq order per home (the simulator); the Pi agent sets its configured rate.
        self._bucket = TokenBucket(drain_rate, max(1.0, drain_rate / 5), time.monotonic()) if drain_rate else None
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._inflight_seqs: set[int] = set()
        self._acks: collections.deque[tuple[int, bool, str]] = collections.deque()
        self._live_from = queue.last_seq(agent) + 1
        self._backlog_sensors: set[str] = set()
        self._lock = threading.Lock()
        self._again = False
        self._timer: threading.Timer | None = None
        self._closed = False

    # --- paho callbacks (network thread; never block on our lock: paho holds its own while calling on_publish)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused home %s: %s", self.home, reason)
            return
        online = Status(state="online", agent=self.agent, version=AGENT_VERSION, ts=datetime.now().astimezone())
        client.publish(status_topic(self.home), dump(online), qos=1, retain=True)
        # Everything queued before this connection is backlog, drained at a bounded rate; later events are live.
        live_from = self._queue.last_seq(self.agent) + 1
        self._backlog_sensors = self._queue.backlog_sensors(self.agent, live_from)
        self._live_from = live_from
        if self._bucket is not None:
            self._bucket.tokens, self._bucket.at = 0.0, time.monotonic()
        self.connected.set()
        log.info("home %s connected; backlog from %d sensor(s)", self.home, len(self._backlog_sensors))
        self._kick()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.connected.is_set():
            log.warning("home %s lost the broker: %s", self.home, reason)
        self.connected.clear()
        # Paho keeps the messages in flight and resends them after reconnecting; so do we not.
        self._client.reconnect_delay_set(*(round(b) for b in backoff_bounds(self._rng)))

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._acks.append((mid, bool(reason.is_failure), str(reason)))
        self._kick()

    # --- the pump: acks out of the queue, queued events into paho

    def _kick(self) -> None:
        self._again = True
        while self._again and not self._closed and self._lock.acquire(blocking=False):
            try:
                self._again = False
                self._pump()
            except Exception:
                log.exception("home %s: queue pump failed", self.home)
            finally:
                self._lock.release()

    def _pump(self) -> None:
        done: list[int] = []
        while self._acks:
            mid, failed, reason = self._acks.popleft()
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # status or heartbeat
            self._inflight_seqs.discard(seq)
            done.append(seq)
            if failed:
                self.rejected += 1
                log.error("broker refused event %s/%d: %s", self.agent, seq, reason)
            else:
                self.acked += 1
        self._queue.ack(self.agent, done)
        if not self.connected.is_set():
            return
        window = self.max_inflight - len(self._inflight)
        if window <= 0:
            return
        scan = len(self._inflight) + 4 * self.max_inflight
        blocked: set[str] = set()
        need_timer = False
        now = time.monotonic()
        if self._bucket is None:
            for row in self._queue.head(self.agent, None, scan):
                if window <= 0:
                    break
                if row.seq not in self._inflight_seqs:
                    self._send(row.seq, row.payload)
                    window -= 1
            return
        if self._backlog_sensors:
            backlog = self._queue.head(self.agent, self._live_from, scan)
            safety = self._queue.head(self.agent, self._live_from, scan, safety_only=True)
            rows = sorted({r.seq: r for r in backlog + safety}.values(), key=lambda r: r.seq)
            if len(backlog) < scan:
                self._backlog_sensors = {r.sensor for r in backlog}
            for row in rows:
                if window <= 0:
                    break
                if row.seq in self._inflight_seqs or row.sensor in blocked:
                    continue
                if row.safety or self._bucket.take(now):
                    self._send(row.seq, row.payload)
                    window -= 1
                else:
                    blocked.add(row.sensor)
                    need_timer = True
        if window > 0:
            for row in self._queue.after(self.agent, self._live_from, scan):
                if window <= 0:
                    break
                if row.seq in self._inflight_seqs or row.sensor in self._backlog_sensors:
                    continue
                self._send(row.seq, row.payload)
                window -= 1
        if need_timer and self._timer is None and not self._closed:
            self._timer = threading.Timer(self._bucket.wait_s(), self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        self._timer = None
        self._kick()

    def _send(self, seq: int, payload: bytes) -> None:
        info = self._client.publish(events_topic(self.home), payload, qos=1)
        self._inflight[info.mid] = seq
        self._inflight_seqs.add(seq)

    # --- the public API

    def start(self) -> None:
        """Connect in the background; events published before the connection wait in the disk queue."""
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
        """Number the event, store it in the disk queue and send it at QoS 1 when the link allows."""
        box: list[SensorEvent] = []

        def build(seq: int) -> bytes:
            event = SensorEvent(
                home=self.home,
                agent=self.agent,
                seq=seq,
                ts=ts,
                sensor=sensor,
                kind=kind,
                value=value,
                room=room,
                battery=battery,
                epoch=self._queue.epoch,
            )
            box.append(event)
            return dump(event)

        self._queue.enqueue(self.agent, sensor, kind in SAFETY_KINDS, time.time(), build=build)
        self._note_seen(sensor, ts, battery)
        self.sent += 1
        self._kick()
        return box[0]

    def hold_event(
        self,
        boot: tuple[str, float],
        sensor: str,
        kind: str,
        value: int | float | str,
        room: str | None = None,
        battery: int | None = None,
    ) -> int:
        """Queue an event that cannot be stamped yet (the clock is wrong); `stamp_held` stamps it later."""
        draft = json.dumps({"sensor": sensor, "kind": kind, "value": value, "room": room, "battery": battery})
        seq = self._queue.enqueue(self.agent, sensor, kind in SAFETY_KINDS, time.time(), draft=draft, boot=boot)
        self.sent += 1
        return seq

    def stamp_held(self, now: datetime, boot: tuple[str, float]) -> int:
        """Stamp held events from their boot-clock offset now that the wall clock is sane; returns how many."""
        from datetime import timedelta

        payloads: dict[int, bytes] = {}
        for held in self._queue.held(self.agent):
            d = json.loads(held.draft)
            if held.boot_id == boot[0] and held.boot_s is not None:
                ts = now - timedelta(seconds=max(0.0, boot[1] - held.boot_s))
            else:
                ts = now  # held across a reboot: the best we know is "before now"
                log.warning(
                    "event %s/%d was held across a reboot; stamped with the time it was sent", self.agent, held.seq
                )
            event = SensorEvent(
                home=self.home,
                agent=self.agent,
                seq=held.seq,
                ts=ts,
                sensor=d["sensor"],
                kind=d["kind"],
                value=d["value"],
                room=d["room"],
                battery=d["battery"],
                epoch=self._queue.epoch,
            )
            payloads[held.seq] = dump(event)
            self._note_seen(d["sensor"], ts, d["battery"])
        if payloads:
            self._queue.stamp(self.agent, payloads, time.time())
            # Held events are older than anything live: they drain as backlog.
            self._backlog_sensors |= {json.loads(h.draft)["sensor"] for h in self._queue.held(self.agent)}
            self._kick()
        return len(payloads)

    def _note_seen(self, sensor: str, ts: datetime, battery: int | None) -> None:
        """Remember when a sensor last spoke and its battery (kept from before when this reading has none)."""
        old = self.sensors.get(sensor)
        self.sensors[sensor] = SensorHealth(
            last_seen=ts, battery=battery if battery is not None else (old.battery if old else None)
        )

    def queue_state(self) -> tuple[int, float | None]:
        """Events waiting in the disk queue and the oldest one's age in seconds."""
        return self._queue.depth(self.agent, time.time())

    def heartbeat(self, now: datetime) -> None:
        """Publish a health report; report queue drops (as a `queue_drop` event) and expire old events first."""
        self._queue.expire(self.agent, time.time())
        _total, unreported = self._queue.drops(self.agent)
        if unreported:
            log.warning("home %s: dropped %d queued event(s) (queue full or too old)", self.home, unreported)
            self._queue.mark_drops_reported(self.agent, unreported)
            self.publish_event(now, AGENT_SENSOR, "queue_drop", unreported)
            self.sensors.pop(AGENT_SENSOR, None)
        depth, oldest = self.queue_state()
        hb = Heartbeat(
            home=self.home,
            agent=self.agent,
            ts=now,
            queue_depth=depth,
            oldest_unsent_s=round(oldest, 1) if oldest is not None else None,
            uptime_s=round(time.monotonic() - self._started, 1),
            cpu_temp_c=self._cpu_temp() if self._cpu_temp else None,
            sensors=dict(list(self.sensors.items())[:64]),
        )
        self._client.publish(heartbeat_topic(self.home), dump(hb), qos=1)
        self._kick()

    def flush(self, timeout: float) -> bool:
        """Wait until the queue is empty (True) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._kick()
            if self._queue.depth(self.agent, time.time())[0] == 0:
                return True
            time.sleep(0.02)
        return False

    def _close(self) -> None:
        self._closed = True
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def stop(self, now: datetime, timeout: float = 5.0) -> None:
        """Say offline (a clean disconnect does not fire the will), flush and disconnect; unsent events stay queued."""
        if self.connected.is_set():
            offline = Status(state="offline", agent=self.agent, version=AGENT_VERSION, ts=now)
            info = self._client.publish(status_topic(self.home), dump(offline), qos=1, retain=True)
            info.wait_for_publish(timeout)
        self._close()
        with self._lock:
            self._pump_acks_only()
        self._client.disconnect()
        self._client.loop_stop()

    def _pump_acks_only(self) -> None:
        connected = self.connected.is_set()
        self.connected.clear()
        self._pump()
        if connected:
            self.connected.set()

    def kill(self) -> None:
        """Drop the connection without a goodbye, as a power cut would: the broker publishes the will."""
        self._close()
        sock = self._client.socket()
        if sock is not None:
            sock.close()
        self._client.loop_stop()
