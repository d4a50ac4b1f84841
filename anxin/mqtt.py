"""One way to build a paho-mqtt 2.x client from settings: MQTT v5, TLS, credentials, backoff, takeover alarm."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from anxin.settings import MqttSettings

log = logging.getLogger(__name__)

# MQTT 5 DISCONNECT reason: another connection used our client id and the broker gave it our session.
SESSION_TAKEN_OVER = 0x8E
# Mosquitto 2.0 (Debian's 2.0.11) sends no reason: it just closes the old connection. Two clients fighting over one
# id then drop each other every few seconds, so this many silent closes within the window count as a takeover.
SILENT_CLOSES_FOR_TAKEOVER = 3
SILENT_CLOSE_WINDOW_S = 60.0
_takeovers: Counter[str] = Counter()
_takeovers_lock = threading.Lock()


def session_takeovers() -> dict[str, int]:
    """How often each client id's session went to another connection in this process (reported or inferred)."""
    with _takeovers_lock:
        return dict(_takeovers)


def note_takeover(client_id: str, how: str = "reason 0x8E") -> None:
    """Count and log a session takeover; the caller keeps reconnecting (and takes the session back)."""
    with _takeovers_lock:
        _takeovers[client_id] += 1
    log.error(
        "MQTT session of client id %s was taken over by another connection (%s); reconnecting. "
        "Someone else uses this id: the broker log names the account that connected as it",
        client_id,
        how,
    )


class SilentCloses:
    """Connections the broker closed without a DISCONNECT: one is a restart or a takeover, a burst is a takeover."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self._times: list[float] = []

    def closed(self, now: float) -> bool:
        """Record one silent close; True (and logged, counted) when it completes a burst that means a takeover."""
        self._times = [t for t in self._times if now - t < SILENT_CLOSE_WINDOW_S] + [now]
        if len(self._times) >= SILENT_CLOSES_FOR_TAKEOVER:
            self._times.clear()
            note_takeover(self.client_id, f"{SILENT_CLOSES_FOR_TAKEOVER} silent closes in {SILENT_CLOSE_WINDOW_S:.0f}s")
            return True
        log.warning(
            "MQTT connection of client id %s closed without a reason from the broker (a dropped network, a broker "
            "restart, or another connection taking this id); reconnecting",
            self.client_id,
        )
        return False


class _Client(mqtt.Client):
    """paho's client, noticing a session takeover whatever on_disconnect the service installs."""

    silent: SilentCloses | None = None
    takeovers = 0

    def _do_on_disconnect(
        self,
        packet_from_broker: bool,
        v1_rc: MQTTErrorCode,
        reason: ReasonCode | None = None,
        properties: Properties | None = None,
    ) -> None:
        # A private hook of paho 2.x: the public on_disconnect belongs to the service and is often replaced.
        client_id = self._client_id.decode(errors="replace")
        if packet_from_broker and reason is not None and reason.value == SESSION_TAKEN_OVER:
            note_takeover(client_id)
            self.takeovers += 1
        elif not packet_from_broker and v1_rc == MQTTErrorCode.MQTT_ERR_CONN_LOST:
            if self.silent is None:
                self.silent = SilentCloses(client_id)
            self.takeovers += self.silent.closed(time.monotonic())
        super()._do_on_disconnect(packet_from_broker, v1_rc, reason, properties)


def client_takeovers(client: mqtt.Client) -> int:
    """How often this client's own session was taken over (0 for a client not made by make_client)."""
    return client.takeovers if isinstance(client, _Client) else 0


class MqttConnectError(RuntimeError):
    """The broker refused us or could not be reached."""


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    manual_ack: bool = False,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """A configured but unconnected client; `will` is a retained QoS 1 last will."""
    client = _Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
        )
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # Our own QoS 1 messages in flight; the broker's queue does the deep buffering.
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def session_properties(expiry_s: int) -> Properties:
    """CONNECT properties asking the broker to keep our session for `expiry_s` seconds."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry_s
    return props


def connect_and_wait(
    client: mqtt.Client,
    settings: MqttSettings,
    *,
    clean_start: bool = True,
    session_expiry_s: int | None = None,
    timeout: float = 15.0,
) -> None:
    """Connect, start the network loop and wait for CONNACK; raise MqttConnectError on refusal."""
    done = threading.Event()
    result: dict[str, Any] = {}
    previous = client.on_connect

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        result["reason"] = reason
        done.set()
        if previous is not None:
            previous(c, userdata, flags, reason, props)  # type: ignore[call-arg]

    client.on_connect = on_connect
    props = session_properties(session_expiry_s) if session_expiry_s else None
    try:
        client.connect(
            settings.host, settings.port, keepalive=settings.keepalive_s, clean_start=clean_start, properties=props
        )
    except OSError as err:
        raise MqttConnectError(f"cannot reach MQTT broker at {settings.host}:{settings.port}: {err}") from err
    client.loop_start()
    if not done.wait(timeout):
        client.loop_stop()
        raise MqttConnectError(f"no answer from MQTT broker at {settings.host}:{settings.port} in {timeout:.0f}s")
    client.on_connect = previous
    reason = result["reason"]
    if reason.is_failure:
        client.loop_stop()
        raise MqttConnectError(f"MQTT broker refused {settings.username or 'anonymous'}: {reason}")


def ensure_session(settings: MqttSettings, client_id: str, filters: list[str], expiry_s: int) -> None:
    """Create a persistent QoS 1 session with its subscriptions, so the broker queues for it before it first runs."""
    client = make_client(settings, client_id)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_a: subscribed.set()
    connect_and_wait(client, settings, clean_start=False, session_expiry_s=expiry_s)
    try:
        client.subscribe([(f, 1) for f in filters])
        if not subscribed.wait(10):
            raise MqttConnectError(f"broker did not acknowledge the subscriptions of {client_id}")
    finally:
        client.disconnect()
        client.loop_stop()
