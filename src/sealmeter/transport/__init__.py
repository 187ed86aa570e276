"""Transports: carriers that move sealed protocol bytes between meters and the head-end.

They move bytes only and never look inside them. A `Carrier` has one method,
`exchange(uplink) -> downlink`, and raises a `TransportError` (an `EnvironmentFault`) when the
bytes or their answer are lost. Carriers: `InProcessCarrier` (a direct call, for simulation and
tests), `HttpCarrier` with its server half `uplink_router` (POST /v1/uplink), MQTT
(`MqttMeterLink`/`MqttCarrier` for meters, `MqttWorker` for head-end workers on a shared
subscription), and `FaultInjector`/`FaultyCarrier`, a seeded fault-injecting wrapper for any
of them.
"""

from __future__ import annotations

from sealmeter.transport.carrier import Carrier, Handler, InProcessCarrier
from sealmeter.transport.errors import (
    TopicError,
    TransportConfigError,
    TransportDropped,
    TransportError,
    TransportRefused,
    TransportTimeout,
)
from sealmeter.transport.faults import (
    FaultInjector,
    FaultKind,
    FaultPlan,
    FaultyCarrier,
    InjectedFault,
)
from sealmeter.transport.httplink import (
    DEFAULT_MAX_UPLINK_BYTES,
    OCTET_STREAM,
    UPLINK_PATH,
    HttpCarrier,
    new_http_client,
    uplink_router,
)
from sealmeter.transport.mqttlink import (
    DEFAULT_PREFIX,
    MqttCarrier,
    MqttMeterLink,
    MqttWorker,
    down_topic,
    shared_up_filter,
    up_topic,
)

__all__ = [
    "DEFAULT_MAX_UPLINK_BYTES",
    "DEFAULT_PREFIX",
    "OCTET_STREAM",
    "UPLINK_PATH",
    "Carrier",
    "FaultInjector",
    "FaultKind",
    "FaultPlan",
    "FaultyCarrier",
    "Handler",
    "HttpCarrier",
    "InProcessCarrier",
    "InjectedFault",
    "MqttCarrier",
    "MqttMeterLink",
    "MqttWorker",
    "TopicError",
    "TransportConfigError",
    "TransportDropped",
    "TransportError",
    "TransportRefused",
    "TransportTimeout",
    "down_topic",
    "new_http_client",
    "shared_up_filter",
    "up_topic",
    "uplink_router",
]
