"""MQTT carrier: meters publish to `<prefix>/<meter>/up`, workers answer on `<prefix>/<meter>/down`.

Meter side (`MqttMeterLink`, one connection serving many meters): each uplink is published with
QoS 1 and an MQTT v5 correlation id; the carrier waits for the downlink carrying the same id
on the meter's down topic. Head-end side (`MqttWorker`): workers subscribe to
`$share/<group>/<prefix>/+/up`, so the broker splits uplinks between them and adding workers
adds throughput. The handler runs before the broker gets its PUBACK, so an uplink whose worker
died mid-way is redelivered (QoS 1: at least once); the head-end stores exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sealmeter.errors import EnvironmentFault, PeerError
from sealmeter.transport.carrier import Handler
from sealmeter.transport.errors import (
    TopicError,
    TransportConfigError,
    TransportDropped,
    TransportRefused,
    TransportTimeout,
)

__all__ = [
    "DEFAULT_PREFIX",
    "MqttCarrier",
    "MqttMeterLink",
    "MqttWorker",
    "down_topic",
    "shared_up_filter",
    "up_topic",
]

DEFAULT_PREFIX = "sealmeter"
_LOG = logging.getLogger(__name__)
_FORBIDDEN = frozenset("/+#\x00")


def _check_segment(name: str, what: str) -> str:
    if not name or any(c in _FORBIDDEN for c in name) or len(name.encode()) > 128:
        raise TopicError(
            f"{what} {name!r} cannot be an MQTT topic segment; use 1-128 bytes without "
            "'/', '+', '#' or NUL"
        )
    return name


def _check_prefix(prefix: str) -> str:
    for part in prefix.split("/"):
        _check_segment(part, "topic prefix part")
    return prefix


def up_topic(meter: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Topic a meter publishes its uplinks to: `<prefix>/<meter>/up`."""
    return f"{_check_prefix(prefix)}/{_check_segment(meter, 'meter id')}/up"


def down_topic(meter: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Topic a meter reads its downlinks from: `<prefix>/<meter>/down`."""
    return f"{_check_prefix(prefix)}/{_check_segment(meter, 'meter id')}/down"


def shared_up_filter(group: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Shared-subscription filter head-end workers of `group` consume: `$share/g/<prefix>/+/up`."""
    return f"$share/{_check_segment(group, 'worker group')}/{_check_prefix(prefix)}/+/up"


def _meter_of(topic: str, prefix: str, leaf: str) -> str | None:
    head = prefix + "/"
    tail = "/" + leaf
    if not (topic.startswith(head) and topic.endswith(tail)):
        return None
    meter = topic[len(head) : -len(tail)]
    return meter if meter and "/" not in meter else None


def _properties(packet_type: int) -> Any:
    """MQTT v5 properties for one packet type (paho's class is untyped)."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def _no_delay(_client: mqtt.Client, _userdata: object, sock: object) -> None:
    """Send small packets at once: without this, Nagle + delayed ACK add ~90 ms per exchange."""
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _quick_ack(client: mqtt.Client) -> None:
    """Ask Linux to acknowledge the broker's next segments at once (no 40 ms delayed ACK),
    so the broker's Nagle does not hold the downlink behind its PUBACK."""
    flag = getattr(socket, "TCP_QUICKACK", None)
    sock = client.socket()
    if flag is not None and isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, flag, 1)


def _new_client(client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_socket_open = _no_delay
    client.on_publish = _acked
    return client


def _acked(client: mqtt.Client, _u: object, _mid: int, _rc: object, _p: object) -> None:
    """The broker acknowledged our publish: acknowledge its segment at once (see _quick_ack)."""
    _quick_ack(client)


def _connect(
    client: mqtt.Client,
    host: str,
    port: int,
    timeout: float,
    ready: threading.Event,
    *,
    clean_start: bool,
    session_expiry: int,
) -> None:
    props = _properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry
    try:
        client.connect(host, port, keepalive=30, clean_start=clean_start, properties=props)
    except OSError as exc:
        raise TransportRefused(
            f"cannot connect to the MQTT broker at {host}:{port} ({exc}); is it running?"
        ) from exc
    client.loop_start()
    if not ready.wait(timeout):
        client.loop_stop()
        client.disconnect()
        raise TransportTimeout(
            f"the MQTT broker at {host}:{port} did not accept the connection and subscription "
            f"within {timeout} s"
        )


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    reply: bytes = b""


class MqttMeterLink:
    """One MQTT connection on the meters' side, shared by the carriers of many meters.

    It subscribes to `<prefix>/+/down` and routes each downlink to the waiting exchange by its
    correlation id; downlinks nobody waits for (late duplicates) are counted and dropped.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 10.0,
        client_id: str | None = None,
    ) -> None:
        """Connect to the broker at `host:port` and subscribe to every meter's down topic."""
        if not timeout > 0:
            raise TransportConfigError(f"timeout must be a positive number of seconds: {timeout}")
        self._prefix = _check_prefix(prefix)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[bytes, _Pending] = {}
        self._ready = threading.Event()
        self.unmatched = 0
        """Downlinks that arrived with no exchange waiting for them (duplicates, late answers)."""
        self._client = _new_client(client_id or f"sealmeter-meters-{os.urandom(6).hex()}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        _connect(self._client, host, port, timeout, self._ready, clean_start=True, session_expiry=0)

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        if getattr(rc, "is_failure", False):
            _LOG.warning("MQTT meter link refused by broker: %s", rc)
            return
        client.subscribe(f"{self._prefix}/+/down", qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _m: int, _rc: object, _p: object) -> None:
        self._ready.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, _rc: object, _p: object
    ) -> None:
        self._ready.clear()

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        _quick_ack(client)
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties else None
        with self._lock:
            slot = self._pending.get(bytes(corr)) if corr else None
            if slot is None or slot.done.is_set():
                self.unmatched += 1
                return
            slot.reply = bytes(msg.payload)
            slot.done.set()

    def carrier(self, meter: str) -> MqttCarrier:
        """Return the carrier of meter `meter` over this connection."""
        return MqttCarrier(self, meter)

    def exchange_for(self, meter: str, uplink: bytes) -> bytes:
        """Publish `uplink` on `meter`'s up topic and wait for its downlink."""
        topic = up_topic(meter, self._prefix)
        if not self._ready.is_set():
            raise TransportDropped(
                "the MQTT connection is down (reconnecting); the meter should call again later"
            )
        corr = os.urandom(16)
        slot = _Pending()
        with self._lock:
            self._pending[corr] = slot
        try:
            props = _properties(PacketTypes.PUBLISH)
            props.ResponseTopic = down_topic(meter, self._prefix)
            props.CorrelationData = corr
            info = self._client.publish(topic, bytes(uplink), qos=1, properties=props)
            _quick_ack(self._client)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise TransportDropped(
                    f"publishing to {topic} failed ({mqtt.error_string(info.rc)}); call again later"
                )
            if not slot.done.wait(self._timeout):
                raise TransportTimeout(
                    f"no downlink on {props.ResponseTopic} within {self._timeout} s; "
                    "call again later (the head-end stores a repeated uplink once)"
                )
            return slot.reply
        finally:
            with self._lock:
                self._pending.pop(corr, None)

    def close(self) -> None:
        """Disconnect from the broker."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttMeterLink:
        """Use the link as a context manager that disconnects on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Disconnect on leaving the `with` block."""
        self.close()


class MqttCarrier:
    """The carrier of one meter over a shared `MqttMeterLink`."""

    def __init__(self, link: MqttMeterLink, meter: str) -> None:
        """Bind meter id `meter` (checked to be a valid topic segment) to `link`."""
        _check_segment(meter, "meter id")
        self._link = link
        self.meter = meter

    def exchange(self, uplink: bytes) -> bytes:
        """Publish the uplink (QoS 1) and return the downlink with the same correlation id."""
        return self._link.exchange_for(self.meter, uplink)


class MqttWorker:
    """A head-end worker consuming uplinks from a shared subscription and answering each.

    Several workers with the same `group` split the uplinks between them. A `PeerError` from
    the handler is answered with nothing (the handler should answer forgeries itself); an
    `EnvironmentFault` (store down) is not answered either, and the meter retries.
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        group: str = "headend",
        prefix: str = DEFAULT_PREFIX,
        client_id: str | None = None,
        timeout: float = 10.0,
        session_expiry: int = 300,
    ) -> None:
        """Connect to the broker and start consuming `$share/<group>/<prefix>/+/up`.

        With a fixed `client_id` the broker keeps the worker's session for `session_expiry`
        seconds, so uplinks in flight when it died are redelivered when it comes back.
        """
        self._prefix = _check_prefix(prefix)
        self._filter = shared_up_filter(group, prefix)
        self._handler = handler
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.handled = 0
        """Uplinks this worker answered."""
        self.failed = 0
        """Uplinks the handler could not answer (left to the meter's retry)."""
        self._client = _new_client(client_id or f"sealmeter-worker-{os.urandom(6).hex()}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        _connect(
            self._client,
            host,
            port,
            timeout,
            self._ready,
            clean_start=client_id is None,
            session_expiry=session_expiry if client_id is not None else 0,
        )

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        if getattr(rc, "is_failure", False):
            _LOG.warning("MQTT worker refused by broker: %s", rc)
            return
        client.subscribe(self._filter, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _m: int, _rc: object, _p: object) -> None:
        self._ready.set()

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        _quick_ack(client)
        meter = _meter_of(msg.topic, self._prefix, "up")
        if meter is None:
            return
        try:
            answer = self._handler(bytes(msg.payload))
        except (PeerError, EnvironmentFault) as exc:
            with self._lock:
                self.failed += 1
            _LOG.warning("uplink on %s not answered: %s", msg.topic, type(exc).__name__)
            return
        except Exception:  # the head-end's own fault: keep serving the other meters
            # raised into paho, it would end the network loop and every meter with it
            with self._lock:
                self.failed += 1
            _LOG.exception("uplink on %s not answered: the head-end failed", msg.topic)
            return
        props = _properties(PacketTypes.PUBLISH)
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties else None
        if corr:
            props.CorrelationData = bytes(corr)
        # Always answer on the meter's own down topic, never on a topic the publisher chose.
        client.publish(down_topic(meter, self._prefix), answer, qos=1, properties=props)
        _quick_ack(client)
        with self._lock:
            self.handled += 1

    def close(self) -> None:
        """Disconnect from the broker (in-flight uplinks are redelivered to other workers)."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttWorker:
        """Use the worker as a context manager that disconnects on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Disconnect on leaving the `with` block."""
        self.close()
