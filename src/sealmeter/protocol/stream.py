"""Cutting a byte stream into envelopes, for carriers without message framing (serial, TCP).

`EnvelopeBuffer` is fed bytes as they arrive, in any pieces, and hands out whole envelopes
(still sealed: open them with `open_uplink` / `open_downlink`). The length of an envelope
follows from its clear header, so no extra framing is needed. A header that cannot start an
envelope, or a declared size over the limit, raises `MalformedMessage`; the stream is then
out of step and the carrier should drop the connection.
"""

from __future__ import annotations

import struct

from sealmeter.protocol import _suites
from sealmeter.protocol._answerkey import CALL_ID_SIZE
from sealmeter.protocol.envelope import ENVELOPE_VERSION, Direction
from sealmeter.protocol.errors import (
    MalformedMessage,
    ProtocolUsageError,
    UnknownSuite,
    UnsupportedVersion,
)
from sealmeter.protocol.keys import Suite

__all__ = ["DEFAULT_MAX_ENVELOPE", "EnvelopeBuffer", "envelope_length"]

DEFAULT_MAX_ENVELOPE = 1 << 20
"""Largest envelope `EnvelopeBuffer` accepts by default (1 MiB)."""

_DIRECTIONS = {d.value for d in Direction}
_U32 = struct.Struct(">I")
_MAX_HEADER = 4 + 255 + 16 + 384 + _suites.AEAD_NONCE_SIZE + 4


def envelope_length(prefix: bytes) -> int | None:
    """Total length of the envelope that `prefix` starts, or None if more bytes are needed.

    Raises `MalformedMessage` (or a subclass) when `prefix` cannot start an envelope.
    """
    if len(prefix) < 4:
        _check_start(prefix)
        return None
    _check_start(prefix)
    suite = Suite.from_wire_id(prefix[1])
    shape = _suites.shape(suite)
    # an answer carries its call's id where other envelopes carry the key encapsulation
    encapsulation = CALL_ID_SIZE if prefix[2] == Direction.ANSWER.value else shape.encapsulation
    fixed = 4 + prefix[3] + 16 + encapsulation + _suites.AEAD_NONCE_SIZE
    if len(prefix) < fixed + 4:
        return None
    ct_len: int = _U32.unpack_from(prefix, fixed)[0]
    return fixed + 4 + ct_len + shape.signature


def _check_start(prefix: bytes) -> None:
    if len(prefix) >= 1 and prefix[0] != ENVELOPE_VERSION:
        raise UnsupportedVersion(
            f"stream byte {prefix[0]:#04x} does not start a version-{ENVELOPE_VERSION} envelope"
        )
    if len(prefix) >= 2:
        try:
            Suite.from_wire_id(prefix[1])
        except ProtocolUsageError:
            raise UnknownSuite(f"stream names unknown suite id {prefix[1]}") from None
    if len(prefix) >= 3 and prefix[2] not in _DIRECTIONS:
        raise MalformedMessage(f"stream direction byte {prefix[2]:#04x} is unknown")
    if len(prefix) >= 4 and prefix[3] == 0:
        raise MalformedMessage("stream envelope has an empty meter id")


class EnvelopeBuffer:
    """Collects stream bytes and yields whole envelopes in order (sans-IO, like h11's buffer)."""

    def __init__(self, max_size: int = DEFAULT_MAX_ENVELOPE) -> None:
        """Start empty; envelopes declaring more than `max_size` bytes are refused."""
        if max_size < 64:
            raise ProtocolUsageError("max_size must be at least 64 bytes")
        self._data = bytearray()
        self._max = max_size

    def __len__(self) -> int:
        """Bytes received but not yet handed out."""
        return len(self._data)

    def feed(self, data: bytes) -> None:
        """Append bytes received from the carrier (any size, including empty)."""
        self._data += data

    def next_envelope(self) -> bytes | None:
        """The next whole envelope, or None until enough bytes have arrived."""
        size = envelope_length(bytes(self._data[:_MAX_HEADER]))
        if size is None:
            return None
        if size > self._max:
            raise MalformedMessage(
                f"stream envelope declares {size} bytes, over the {self._max}-byte limit; "
                "drop the connection"
            )
        if len(self._data) < size:
            return None
        envelope = bytes(self._data[:size])
        del self._data[:size]
        return envelope

    def envelopes(self) -> list[bytes]:
        """Every whole envelope available now, in order."""
        out = []
        while (envelope := self.next_envelope()) is not None:
            out.append(envelope)
        return out
