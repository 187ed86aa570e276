"""The `Carrier` seam between a meter's driver and the head-end, and the in-process carrier.

A carrier moves bytes only: it hands a sealed uplink to the head-end and returns the sealed
downlink it answered with. It never looks inside the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from sealmeter.errors import EnvironmentFault
from sealmeter.transport.errors import TransportConfigError, TransportDropped, TransportError

__all__ = ["Carrier", "Handler", "InProcessCarrier"]

Handler = Callable[[bytes], bytes]
"""The head-end side of an exchange: sealed uplink bytes in, sealed downlink bytes out."""


@runtime_checkable
class Carrier(Protocol):
    """Moves one uplink to the head-end and brings back its downlink (request/response)."""

    def exchange(self, uplink: bytes) -> bytes:
        """Deliver `uplink`, return the downlink; raise a `TransportError` on timeout/drop."""
        ...


class InProcessCarrier:
    """A carrier that calls the head-end's handler directly, for speed in simulation and tests.

    A `TransportError` raised by the handler passes through unchanged (a handler may simulate
    a crash that way); any other `EnvironmentFault` from the handler is reported as a dropped
    exchange, as a network carrier would see a server error.
    """

    def __init__(self, handler: Handler) -> None:
        """Wrap `handler` (e.g. `lambda b: headend.handle_uplink(b, clock.now())`)."""
        if not callable(handler):
            raise TransportConfigError(
                f"InProcessCarrier needs a callable handler, got {type(handler).__name__}; "
                "pass a function taking uplink bytes and returning downlink bytes"
            )
        self._handler = handler

    def exchange(self, uplink: bytes) -> bytes:
        """Call the handler with a copy of `uplink` and return its answer as `bytes`."""
        try:
            answer = self._handler(bytes(uplink))
        except TransportError:
            raise
        except EnvironmentFault as exc:
            raise TransportDropped(
                f"the head-end failed while handling the uplink ({exc}); the meter should "
                "keep its queue and call again later"
            ) from exc
        return bytes(answer)
