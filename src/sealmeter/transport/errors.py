"""Errors of the transports: a carrier could not move the bytes, or was set up wrongly.

A `TransportError` is an `EnvironmentFault`: the network, the broker or the far server broke.
The bytes were not delivered, or their answer was lost; the meter keeps its registrations
queued and calls again later (`meter.call_failed(now)`), so nothing is lost.
"""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, UsageError

__all__ = [
    "TopicError",
    "TransportConfigError",
    "TransportDropped",
    "TransportError",
    "TransportRefused",
    "TransportTimeout",
]


class TransportError(EnvironmentFault):
    """The carrier could not complete an exchange; retry later, the meter keeps its queue."""


class TransportTimeout(TransportError):
    """No answer arrived within the carrier's timeout (the uplink may or may not have landed)."""


class TransportDropped(TransportError):
    """The link lost the uplink or its answer (connection reset, broker gone, injected drop)."""


class TransportRefused(TransportError):
    """The far end would not take the uplink: connection refused or an HTTP error status.

    `status` is the HTTP status when there was one (413 too large, 415 wrong type, 503 the
    head-end's store is down, ...), else None.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        """Keep the message and, for HTTP, the status code the server answered with."""
        super().__init__(message)
        self.status = status


class TransportConfigError(UsageError):
    """A carrier was configured wrongly (bad URL, timeout, size limit, probability)."""


class TopicError(TransportConfigError):
    """A meter id or topic prefix cannot be used in an MQTT topic (empty, '/', '+', '#')."""
