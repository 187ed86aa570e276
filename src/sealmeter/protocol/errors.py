"""Errors of the protocol core, split by whose fault they are.

Decoders and openers raise a precise `ProtocolPeerError` subclass for the operator's log
(bad signature, wrong recipient, downgrade, replay, ...). Towards the peer, answer with
`InvalidMessage` only (see `ProtocolPeerError.opaque`), so an attacker learns nothing from
the answer. API misuse by the local caller raises `ProtocolUsageError`.
"""

from __future__ import annotations

from sealmeter.errors import PeerError, UsageError

__all__ = [
    "AnswerForAnotherCall",
    "BadAuthCode",
    "BadSignature",
    "ChainConflict",
    "ChainDuplicate",
    "ChainError",
    "ChainGap",
    "ChainReorder",
    "ChainStale",
    "DecryptionFailed",
    "EnableCodeExpired",
    "InvalidMessage",
    "MalformedMessage",
    "ProtocolPeerError",
    "ProtocolUsageError",
    "ReaddressedMessage",
    "ReplayedDownlink",
    "ReplayedUplink",
    "SuiteDowngrade",
    "TrailingData",
    "TruncatedMessage",
    "UnexpectedAnswer",
    "UnknownSuite",
    "UnsupportedVersion",
    "WrongDirection",
    "WrongRecipient",
    "WrongSender",
]


class ProtocolUsageError(UsageError):
    """The local caller misused the protocol API (bad key, out-of-range field, wrong suite)."""


class InvalidMessage(PeerError):
    """The one opaque answer for a peer: the message was rejected, with no reason given.

    Never log this instead of the precise error; send it (or its text) to the peer only.
    """

    def __init__(self) -> None:
        """Build the opaque rejection; its text never says why."""
        super().__init__("invalid message")


class ProtocolPeerError(PeerError):
    """Root of the precise protocol errors: the peer's bytes were bad in the named way.

    Log the subclass and message for the operator; answer the peer with `opaque()`.
    """

    def opaque(self) -> InvalidMessage:
        """Return the opaque error to answer the peer with (it reveals nothing)."""
        return InvalidMessage()


class MalformedMessage(ProtocolPeerError):
    """The bytes do not follow the wire format (bad field, bad length, bad value)."""


class TruncatedMessage(MalformedMessage):
    """The bytes end before the message does: a field or section is cut short."""


class TrailingData(MalformedMessage):
    """Extra bytes follow a complete message; an extended message is never accepted."""


class UnsupportedVersion(MalformedMessage):
    """The version byte names a format this implementation does not speak."""


class UnknownSuite(MalformedMessage):
    """The suite id names no known crypto suite."""


class SuiteDowngrade(ProtocolPeerError):
    """The envelope names a suite other than the one pinned for this peer at provisioning."""


class WrongDirection(ProtocolPeerError):
    """An uplink was fed to the downlink opener or vice versa (a reflected message)."""


class WrongRecipient(ProtocolPeerError):
    """The envelope is addressed to another key than ours."""


class WrongSender(ProtocolPeerError):
    """The envelope claims another sender (meter id or key) than the one expected."""


class ReaddressedMessage(ProtocolPeerError):
    """An authentic inner message names another meter than its envelope (re-addressed)."""


class BadSignature(ProtocolPeerError):
    """The sender's signature over the envelope does not verify: forged or modified."""


class DecryptionFailed(ProtocolPeerError):
    """The ciphertext does not decrypt under our key: modified, or not meant for us."""


class ReplayedDownlink(ProtocolPeerError):
    """A downlink does not echo the meter's current nonce: replayed or stale."""


class UnexpectedAnswer(ReplayedDownlink):
    """An answer to a call arrived, but the meter holds no call's answer key.

    Raised by `open_downlink` on the meter (it restarted, or the call was answered already):
    nothing is applied; the meter calls again and gets a fresh answer.
    """


class AnswerForAnotherCall(ReplayedDownlink):
    """An answer keyed to another call than the meter's outstanding one (a replay, or late).

    Raised by `open_downlink` on the meter before any crypto: nothing is applied; the meter
    waits for the answer to its latest call or calls again.
    """


class EnableCodeExpired(ProtocolPeerError):
    """An authentic enable code whose expiry has passed; ask the head-end for a new one."""


class ChainError(ProtocolPeerError):
    """A registration does not continue the MAC chain the head-end holds for this meter."""

    def __init__(self, message: str, *, seq: int) -> None:
        """Record the offending sequence number beside the message."""
        super().__init__(message)
        self.seq = seq


class BadAuthCode(ChainError):
    """The authentication code is wrong at the expected position: edited or inserted."""


class ChainGap(ChainError):
    """The sequence jumps ahead: registrations before this one are missing (deleted)."""

    def __init__(self, message: str, *, seq: int, expected: int) -> None:
        """Record the sequence number that was expected instead."""
        super().__init__(message, seq=seq)
        self.expected = expected


class ChainReorder(ChainError):
    """Within one batch, the sequence numbers do not strictly increase (reordered)."""


class ChainDuplicate(ChainError):
    """Already seen, identical: the head-end may acknowledge again but must not store twice."""


class ChainConflict(ChainError):
    """A registration reuses an accepted sequence number with other content (inserted/edited)."""


class ChainStale(ChainError):
    """A sequence number older than the head-end's duplicate window: replayed, cannot compare."""


class ReplayedUplink(ProtocolPeerError):
    """An authentic uplink that is not newer than the last one accepted: replayed."""
