"""Sealed datasets: the safe recipes `seal_uplink`/`open_uplink`, `seal_downlink`/`open_downlink`.

An envelope is version, suite, direction, meter id, sender and recipient key ids, the key
encapsulation, the AEAD nonce, the ciphertext (whose associated data is all of the above) and
the sender's signature over everything before it (see docs/protocol.md for the byte layout).
The signature covers what is sent, not the plaintext, so nobody can confirm a guessed reading.

Openers are told whom to expect (meter id, pinned suite and keys) and check, cheapest first:
layout, version, suite, direction, sender, recipient, signature, decryption, inner message,
then freshness (nonce echo, expiry) or the MAC chain. Each failure raises a precise
`ProtocolPeerError`; answer the peer with `error.opaque()`.
"""

from __future__ import annotations

import enum
import hmac
import os
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sealmeter.protocol import _suites
from sealmeter.protocol._answerkey import CALL_ID_SIZE, AnswerKey
from sealmeter.protocol._wire import Reader
from sealmeter.protocol.chain import HeadEndChain
from sealmeter.protocol.codec import (
    decode_downlink,
    decode_uplink_with_encodings,
    encode_downlink,
    encode_uplink,
)
from sealmeter.protocol.errors import (
    AnswerForAnotherCall,
    EnableCodeExpired,
    MalformedMessage,
    ProtocolUsageError,
    ReaddressedMessage,
    ReplayedDownlink,
    ReplayedUplink,
    SuiteDowngrade,
    UnexpectedAnswer,
    UnknownSuite,
    UnsupportedVersion,
    WrongDirection,
    WrongRecipient,
    WrongSender,
)
from sealmeter.protocol.keys import PrivateKeys, PublicKeys, Suite
from sealmeter.protocol.messages import NONCE_SIZE, Downlink, Registration, Uplink

__all__ = [
    "ENVELOPE_VERSION",
    "SEED_SIZE",
    "Direction",
    "EnvelopeHeader",
    "OpenedUplink",
    "open_downlink",
    "open_uplink",
    "peek_header",
    "seal_downlink",
    "seal_uplink",
]

ENVELOPE_VERSION = 1
"""The version byte every envelope starts with."""

SEED_SIZE = 32
"""Bytes of the optional seal seed from which all per-message randomness is derived."""

_CT_LEN = struct.Struct(">I")
_CALL_KIND = bytes((0x43,))
_ANSWER_KIND = 0x41


class Direction(enum.Enum):
    """Which way and in what kind an envelope travels; bound into what is authenticated.

    `CALL` is an uplink whose sender keeps the answer key (the head-end may answer it with an
    `ANSWER`, see `answer.py`); `ANSWER` is a downlink keyed by one call: no key
    encapsulation, the call's id in its place.
    """

    UPLINK = 0x55
    DOWNLINK = 0x44
    CALL = 0x43
    ANSWER = 0x41


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """The clear header of an envelope: enough to look up keys, authenticated only on open."""

    version: int
    suite: Suite
    direction: Direction
    meter_id: str
    sender_key_id: bytes
    recipient_key_id: bytes


class OpenedUplink(NamedTuple):
    """An authentic uplink and what the chain check made of it.

    `chain` is the new head-end chain state to persist, `accepted` the registrations new to
    the head-end (store them), `duplicates` the sequence numbers already stored and identical
    (ack again), `stale` those accepted too long ago to compare (ack again, store nothing).
    """

    uplink: Uplink
    chain: HeadEndChain
    accepted: tuple[Registration, ...]
    duplicates: tuple[int, ...]
    stale: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: EnvelopeHeader
    encapsulation: bytes
    nonce: bytes
    associated: bytes
    ciphertext: bytes
    signed: bytes
    signature: bytes


def _read_header(reader: Reader) -> EnvelopeHeader:
    version = reader.u8("envelope version")
    if version != ENVELOPE_VERSION:
        raise UnsupportedVersion(
            f"envelope version {version} is not supported (this side speaks {ENVELOPE_VERSION})"
        )
    wire_suite = reader.u8("suite id")
    try:
        suite = Suite.from_wire_id(wire_suite)
    except ProtocolUsageError:
        raise UnknownSuite(f"envelope names unknown suite id {wire_suite}") from None
    wire_direction = reader.u8("direction")
    try:
        direction = Direction(wire_direction)
    except ValueError:
        raise MalformedMessage(
            f"envelope direction byte {wire_direction:#04x} is unknown"
        ) from None
    meter_id = reader.text("meter_id")
    if not meter_id:
        raise MalformedMessage("envelope meter_id is empty")
    sender = reader.take(8, "sender key id")
    recipient = reader.take(8, "recipient key id")
    return EnvelopeHeader(version, suite, direction, meter_id, sender, recipient)


def peek_header(data: bytes) -> EnvelopeHeader:
    """Read the clear header (suite, direction, meter id, key ids) without any crypto.

    For looking up the keys to open with; nothing in it is trusted until the open succeeds.
    """
    return _read_header(Reader(data, "envelope"))


def _parse(data: bytes) -> _Parsed:
    reader = Reader(data, "envelope")
    header = _read_header(reader)
    sizes = _suites.shape(header.suite)
    if header.direction is Direction.ANSWER:
        encapsulation = reader.take(CALL_ID_SIZE, "call id")
    else:
        encapsulation = reader.take(sizes.encapsulation, "key encapsulation")
    nonce = reader.take(_suites.AEAD_NONCE_SIZE, "AEAD nonce")
    ct_len = reader.u32("ciphertext length")
    associated_end = reader.position
    ciphertext = reader.take(ct_len, "ciphertext")
    signed_end = reader.position
    signature = reader.take(sizes.signature, "signature")
    reader.end()
    raw = bytes(data)
    return _Parsed(
        header,
        encapsulation,
        nonce,
        raw[:associated_end],
        ciphertext,
        raw[:signed_end],
        signature,
    )


def _check_moment(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ProtocolUsageError(f"{name} must be an aware datetime (e.g. clock.now())")


def _check_seed(seed: bytes | None) -> bytes:
    if seed is None:
        return os.urandom(SEED_SIZE)
    if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
        raise ProtocolUsageError(f"a seal seed must be {SEED_SIZE} bytes (or None for random)")
    return seed


def _check_pair(own: PrivateKeys, peer: PublicKeys) -> Suite:
    if not isinstance(own, PrivateKeys) or not isinstance(peer, PublicKeys):
        raise ProtocolUsageError("pass our PrivateKeys and the peer's PublicKeys")
    if own.suite is not peer.suite:
        raise ProtocolUsageError(
            f"our keys are {own.suite.value} but the peer's are {peer.suite.value}; "
            "both sides must use the suite pinned at provisioning"
        )
    return own.suite


_HEADS: dict[tuple[Direction, str, Suite, bytes, bytes], bytes] = {}
_HEADS_MAX = 4096


def _head(
    direction: Direction, meter_id: str, suite: Suite, sender_id: bytes, recipient_id: bytes
) -> bytes | None:
    """The clear header (version, suite, direction, meter id, sender and recipient key ids).

    Cached by exactly the values it is made of (a meter always seals to the same head-end
    and the head-end answers the same meters), so it is built once per (suite, direction,
    meter, sender, recipient), not once per message: a value cache, never stale. None when
    `meter_id` cannot be a header's meter id (not text, empty or over 255 UTF-8 bytes).
    """
    if type(meter_id) is not str:
        return None
    key = (direction, meter_id, suite, sender_id, recipient_id)
    head = _HEADS.get(key)
    if head is None:
        if not meter_id:
            return None
        try:
            mid = meter_id.encode("utf-8")
            lead = bytes((ENVELOPE_VERSION, suite.wire_id, direction.value, len(mid)))
        except (UnicodeEncodeError, ValueError):
            return None
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        head = _HEADS[key] = b"".join((lead, mid, sender_id, recipient_id))
    return head


def _seal_keyed(
    plaintext: bytes,
    direction: Direction,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    seed: bytes | None,
) -> tuple[bytes, bytes]:
    """The sealed envelope and its key encapsulation's shared secret (see `_suites`)."""
    suite = _check_pair(own, peer)
    material = _check_seed(seed)
    head = _head(direction, meter_id, suite, own.key_id, peer.key_id)
    if head is None:
        # the messages' own checks keep this from happening; kept as the precise error
        raise ProtocolUsageError(f"meter id {meter_id!r} cannot go in an envelope header")
    encapsulation, aead, secret = _suites.encapsulate(peer, material)
    nonce = _suites.seed_bytes(material, b"nonce", _suites.AEAD_NONCE_SIZE)
    return _encrypt_and_sign(head, encapsulation, nonce, aead, plaintext, own), secret


def _encrypt_and_sign(
    head: bytes, keying: bytes, nonce: bytes, aead: _suites.Aead, plaintext: bytes, own: PrivateKeys
) -> bytes:
    """The envelope after its clear header: `keying` (an encapsulation, or an answer's call
    id), the nonce, the ciphertext length, the ciphertext, then the signature over it all."""
    associated = b"".join((head, keying, nonce, _CT_LEN.pack(len(plaintext) + 16)))
    signed = associated + aead.encrypt(nonce, plaintext, associated)
    return signed + _suites.sign(own, signed)


def _open_keyed(
    data: bytes,
    direction: Direction,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
) -> tuple[bytes, bytes]:
    """The plaintext and the key encapsulation's shared secret (see `_suites`)."""
    suite = _check_pair(own, peer)
    # Fast path: one constant-time comparison of the whole clear header with the header we
    # expect (version, pinned suite, direction, meter id, sender and recipient key ids) and one
    # length check of the sections. Anything else goes to the field-by-field path below, which
    # names the fault; the fast path accepts exactly what that path accepts.
    prefix = _head(direction, meter_id, suite, peer.key_id, own.key_id)
    if prefix is not None and type(data) is bytes:
        sizes = _suites.shape(suite)
        pos = len(prefix) + sizes.encapsulation
        associated_end = pos + _suites.AEAD_NONCE_SIZE + 4
        size = len(data)
        if (
            associated_end <= size
            and hmac.compare_digest(data[: len(prefix)], prefix)
            and associated_end + _CT_LEN.unpack_from(data, associated_end - 4)[0] + sizes.signature
            == size
        ):
            signed_end = size - sizes.signature
            _suites.verify(peer, data[signed_end:], data[:signed_end])
            aead, secret = _suites.decapsulate(own, data[len(prefix) : pos])
            return _suites.open_aead(
                aead, data[pos : associated_end - 4], data[associated_end:signed_end],
                data[:associated_end],
            ), secret  # fmt: skip
    return _open_checked_keyed(data, direction, meter_id, own, peer, suite)


def _seal(
    plaintext: bytes,
    direction: Direction,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    seed: bytes | None,
) -> bytes:
    """`_seal_keyed` without the secret."""
    return _seal_keyed(plaintext, direction, meter_id, own, peer, seed)[0]


def _open(
    data: bytes, direction: Direction, meter_id: str, own: PrivateKeys, peer: PublicKeys
) -> bytes:
    """`_open_keyed` without the secret."""
    return _open_keyed(data, direction, meter_id, own, peer)[0]


def _open_checked(
    data: bytes,
    direction: Direction,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    suite: Suite,
) -> bytes:
    """`_open_checked_keyed` without the secret."""
    return _open_checked_keyed(data, direction, meter_id, own, peer, suite)[0]


def _open_checked_keyed(
    data: bytes,
    direction: Direction,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    suite: Suite,
) -> tuple[bytes, bytes]:
    """Parse and check the envelope field by field, raising the precise error for any fault."""
    env = _parse(data)
    _check_header(env.header, direction, meter_id, own, peer, suite)
    _suites.verify(peer, env.signature, env.signed)
    aead, secret = _suites.decapsulate(own, env.encapsulation)
    return _suites.open_aead(aead, env.nonce, env.ciphertext, env.associated), secret


def _check_header(
    head: EnvelopeHeader,
    direction: Direction,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    suite: Suite,
) -> None:
    """Check a parsed header against what we expect, raising the precise error."""
    if head.direction is not direction:
        raise WrongDirection(
            f"expected an {direction.name.lower()} envelope, got a "
            f"{head.direction.name.lower()}: a reflected or misrouted message"
        )
    if head.suite is not suite:
        raise SuiteDowngrade(
            f"meter {meter_id!r} is pinned to suite {suite.value}, the envelope uses "
            f"{head.suite.value}: refused (no downgrade or suite change without re-provisioning)"
        )
    if head.meter_id != meter_id:
        raise WrongSender(
            f"envelope claims meter {head.meter_id!r}, expected {meter_id!r}: misrouted or "
            "re-addressed"
        )
    if not hmac.compare_digest(head.sender_key_id, peer.key_id):
        raise WrongSender(
            f"envelope is signed by key {head.sender_key_id.hex()}, expected the pinned key "
            f"{peer.key_id.hex()}: forged, or the peer's keys changed without a rollover"
        )
    if not hmac.compare_digest(head.recipient_key_id, own.key_id):
        raise WrongRecipient(
            f"envelope is addressed to key {head.recipient_key_id.hex()}, ours is "
            f"{own.key_id.hex()}: not meant for us (or sealed with stale keys)"
        )


def seal_uplink(
    uplink: Uplink,
    *,
    meter: PrivateKeys,
    headend: PublicKeys,
    seed: bytes | None = None,
) -> bytes:
    """Encrypt `uplink` to the head-end and sign it with the meter's key; return the bytes.

    `seed` (32 bytes) makes all per-message randomness deterministic, for tests and vectors;
    leave it None in production. (The rsa suite's OAEP and PSS padding stay random.)
    """
    if not isinstance(uplink, Uplink):
        raise ProtocolUsageError("seal_uplink needs an Uplink")
    plaintext = encode_uplink(uplink)
    return _seal_keyed(plaintext, Direction.UPLINK, uplink.meter_id, meter, headend, seed)[0]


def open_uplink(
    data: bytes,
    *,
    headend: PrivateKeys,
    meter: PublicKeys,
    meter_id: str,
    chain: HeadEndChain,
    not_before: datetime | None = None,
) -> OpenedUplink:
    """Authenticate, decrypt and chain-check an uplink from the meter `meter_id`.

    `meter` is the meter's pinned public keys (their suite is the pinned suite), `chain` the
    stored chain state, `not_before` the send time of the last uplink accepted (an uplink not
    newer is a replay). Returns the uplink with the new chain state; `chain` is unchanged.
    A call (an uplink sealed by `seal_call`) opens here too; `open_call` also gives its
    answer key.
    """
    return _open_uplink(data, headend, meter, meter_id, chain, not_before)[0]


def _open_uplink(
    data: bytes,
    headend: PrivateKeys,
    meter: PublicKeys,
    meter_id: str,
    chain: HeadEndChain,
    not_before: datetime | None,
) -> tuple[OpenedUplink, bytes, Direction]:
    """`open_uplink`, also returning the key encapsulation's secret and the envelope's kind."""
    if not isinstance(chain, HeadEndChain):
        raise ProtocolUsageError("open_uplink needs the meter's HeadEndChain state")
    if not_before is not None:
        _check_moment("not_before", not_before)
    is_call = isinstance(data, bytes | bytearray) and data[2:3] == _CALL_KIND
    kind = Direction.CALL if is_call else Direction.UPLINK
    plaintext, secret = _open_keyed(data, kind, meter_id, headend, meter)
    uplink, encodings = decode_uplink_with_encodings(plaintext)
    if uplink.meter_id != meter_id:
        raise ReaddressedMessage(
            f"an authentic uplink envelope for meter {meter_id!r} holds a batch for "
            f"{uplink.meter_id!r}: re-addressed"
        )
    if not_before is not None and uplink.time <= not_before:
        raise ReplayedUplink(
            f"uplink of meter {meter_id!r} sent at {uplink.time.isoformat()} is not newer "
            f"than the last accepted ({not_before.isoformat()}): a replay"
        )
    verdict = chain.verify_batch(uplink.registrations, encodings=encodings)
    opened = OpenedUplink(
        uplink, verdict.chain, verdict.accepted, verdict.duplicates, verdict.stale
    )
    return opened, secret, kind


def seal_downlink(
    downlink: Downlink,
    *,
    headend: PrivateKeys,
    meter: PublicKeys,
    seed: bytes | None = None,
) -> bytes:
    """Encrypt `downlink` to the meter and sign it with the head-end's key; return the bytes.

    `seed` (32 bytes) makes all per-message randomness deterministic; None in production.
    """
    if not isinstance(downlink, Downlink):
        raise ProtocolUsageError("seal_downlink needs a Downlink")
    plaintext = encode_downlink(downlink)
    return _seal_keyed(plaintext, Direction.DOWNLINK, downlink.meter_id, headend, meter, seed)[0]


def open_downlink(
    data: bytes,
    *,
    meter: PrivateKeys,
    headend: PublicKeys,
    meter_id: str,
    expected_nonce: bytes,
    now: datetime,
    answer_key: AnswerKey | None = None,
) -> Downlink:
    """Authenticate and decrypt a downlink for meter `meter_id`; check it is fresh.

    `expected_nonce` is the nonce of the meter's latest uplink (the downlink and its enable
    code must echo it), `now` the meter's clock (an enable code must not have expired).
    `answer_key` is the key of the meter's outstanding call (`seal_call`), if it holds one:
    an answer (`seal_answer`) opens only with the key of the call it answers; a downlink
    sealed in full opens as before, with or without it.
    """
    if not isinstance(expected_nonce, bytes) or len(expected_nonce) != NONCE_SIZE:
        raise ProtocolUsageError(
            f"expected_nonce must be the {NONCE_SIZE}-byte nonce of the meter's latest uplink"
        )
    _check_moment("now", now)
    if answer_key is not None and not isinstance(answer_key, AnswerKey):
        raise ProtocolUsageError("answer_key must be the AnswerKey of the outstanding call")
    if isinstance(data, bytes | bytearray) and len(data) > 2 and data[2] == _ANSWER_KIND:
        plaintext = _open_answer(data, meter_id, meter, headend, answer_key)
    else:
        plaintext = _open_keyed(data, Direction.DOWNLINK, meter_id, meter, headend)[0]
    down = decode_downlink(plaintext)
    if down.meter_id != meter_id:
        raise ReaddressedMessage(
            f"an authentic downlink envelope for meter {meter_id!r} holds a batch for "
            f"{down.meter_id!r}: re-addressed"
        )
    if not hmac.compare_digest(down.nonce, expected_nonce):
        raise ReplayedDownlink(
            f"downlink for meter {meter_id!r} does not echo the current uplink nonce: "
            "replayed or stale; wait for the answer to the latest uplink"
        )
    code = down.enable_code
    if code is not None:
        if code.meter_id != meter_id:
            raise ReaddressedMessage(
                f"enable code names meter {code.meter_id!r}, this is {meter_id!r}: re-addressed"
            )
        if not hmac.compare_digest(code.nonce, expected_nonce):
            raise ReplayedDownlink(
                f"enable code for meter {meter_id!r} does not echo the current uplink nonce: "
                "replayed from an earlier exchange"
            )
        if code.expires <= now:
            raise EnableCodeExpired(
                f"enable code for meter {meter_id!r} expired at {code.expires.isoformat()} "
                f"(meter time {now.isoformat()}); request a new one"
            )
    return down


def _open_answer(
    data: bytes,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    answer_key: AnswerKey | None,
) -> bytes:
    """The plaintext of an answer to the call `answer_key` names; the precise error if not."""
    suite = _check_pair(own, peer)
    if answer_key is None:
        raise UnexpectedAnswer(
            f"an answer to a call reached meter {meter_id!r}, which holds no call's answer key "
            "(it restarted, or its call was answered already): refused; the meter calls again"
        )
    if (
        answer_key.suite is not suite
        or answer_key.meter_id != meter_id
        or answer_key.meter_key_id != own.key_id
        or answer_key.headend_key_id != peer.key_id
    ):
        raise ProtocolUsageError(
            "this answer key belongs to another meter or other keys; pass the key the "
            "meter's own outstanding call returned"
        )
    # Fast path, as in `_open_keyed`: the whole clear header and the call id compared with
    # what this call's answer starts with, one length check; anything else goes the checked
    # way below, which names the fault.
    head = _head(Direction.ANSWER, meter_id, suite, peer.key_id, own.key_id)
    if head is not None and type(data) is bytes:
        prefix = head + answer_key.call_id
        signature_size = _suites.shape(suite).signature
        associated_end = len(prefix) + _suites.AEAD_NONCE_SIZE + 4
        size = len(data)
        if (
            associated_end <= size
            and hmac.compare_digest(data[: len(prefix)], prefix)
            and associated_end + _CT_LEN.unpack_from(data, associated_end - 4)[0] + signature_size
            == size
        ):
            signed_end = size - signature_size
            _suites.verify(peer, data[signed_end:], data[:signed_end])
            return _suites.open_aead(
                answer_key.aead(), data[len(prefix) : associated_end - 4],
                data[associated_end:signed_end], data[:associated_end],
            )  # fmt: skip
    return _open_answer_checked(data, meter_id, own, peer, answer_key, suite)


def _open_answer_checked(
    data: bytes,
    meter_id: str,
    own: PrivateKeys,
    peer: PublicKeys,
    answer_key: AnswerKey,
    suite: Suite,
) -> bytes:
    """`_open_answer` field by field, raising the precise error for any fault."""
    env = _parse(data)
    _check_header(env.header, Direction.ANSWER, meter_id, own, peer, suite)
    if not hmac.compare_digest(env.encapsulation, answer_key.call_id):
        raise AnswerForAnotherCall(
            f"answer for meter {meter_id!r} is keyed to call {env.encapsulation.hex()}, the "
            f"outstanding call is {answer_key.call_id.hex()}: a replayed answer or one to "
            "another call; refused (the meter calls again)"
        )
    _suites.verify(peer, env.signature, env.signed)
    return _suites.open_aead(answer_key.aead(), env.nonce, env.ciphertext, env.associated)
