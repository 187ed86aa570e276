"""The one exception hierarchy of sealmeter, split by whose fault a failure is.

Every error sealmeter raises derives from `SealmeterError` and belongs to exactly one of
three branches:

- `UsageError`: the caller misused the API or gave bad input (a bad file, an argument out of
  range). Fix the call or the input.
- `PeerError`: the other side of a protocol sent something bad (a forged, replayed, truncated
  or malformed message). Towards the peer it is answered opaquely; towards the operator the
  subclass and message say exactly what was wrong.
- `EnvironmentFault`: the outside world broke (a memory device, a database, a network). Retry,
  repair or replace the device; the data is either safe or the error says what is lost.

Packages define their own subclasses of these three next to the code that raises them; every
message says what was wrong and what to do.
"""

from __future__ import annotations

__all__ = ["EnvironmentFault", "PeerError", "SealmeterError", "UsageError"]


class SealmeterError(Exception):
    """Root of every error sealmeter raises on purpose; catch this to catch them all."""


class UsageError(SealmeterError, ValueError):
    """The caller misused the API or passed bad input; the message says what to change."""


class PeerError(SealmeterError):
    """A peer (meter, head-end, transport) sent data that is malformed, forged or out of order.

    Raised by decoders and verifiers. Answer the peer opaquely; log the precise subclass.
    """


class EnvironmentFault(SealmeterError):
    """A device, database or network failed; the message says what state the data is in."""
