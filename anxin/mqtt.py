"""One way to build a paho-mqtt 2.x client from settings: MQTT v5, TLS, credentials, backoff."""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from anxin.settings import MqttSettings

log = logging.getLogger(__name__)


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
    client = mqtt.Client(
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
