"""Key rollover, authenticated end to end: orders from the head-end, announcements from meters.

Two rollovers travel over the ordinary sealed exchange (docs/protocol.md, "Key rollover"):

- **Head-end keys.** The head-end sends a `RolloverOrder` of op `HEADEND_KEYS` as the argument
  of a `KEY_ROLLOVER` command, inside a downlink sealed and signed with its *old* keys. The
  order carries the new box public keys and a proof of possession (the new signing key's
  signature over the order). The meter checks it (`verify_order`) and seals later uplinks to
  the new keys; the head-end accepts the old recipient until the meter's first uplink sealed
  to the new one.
- **Meter keys.** An order of op `RENEW_METER_KEYS` makes the meter generate a fresh key set
  (same suite: no downgrade) and build a `KeyAnnouncement` (`announce`): the new public keys,
  bound to meter id, suite, epoch and the meter's next sequence number, signed by the new key
  (proof of possession) and then endorsed by the old key. The meter switches to the new keys at
  once (it never needs to hold two key sets) and carries the announcement as the uplink's
  `key_announcement` trailer until an authentic downlink sealed to its new key arrives. The
  head-end opens such an uplink with `open_announced_uplink`, which trusts the new key only
  through the old key's endorsement, then installs it and retires the old one.
- **The symmetric suite** has no public keys: the new secret is derived under the old one,
  HKDF-SHA256(ikm=old secret, salt=the order's 32-byte salt, info=label, suite, meter id,
  epoch) (`derive_symmetric`); the proofs are HMAC-SHA256 under the new and the old secret.

Codec: version byte first, then a type byte, every length checked; decoders raise only
`MalformedMessage` subclasses. Checks raise the precise `ProtocolPeerError` subclass.
"""

from __future__ import annotations

import enum
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealmeter.protocol import _suites
from sealmeter.protocol._wire import Reader, Writer
from sealmeter.protocol.chain import HeadEndChain
from sealmeter.protocol.codec import decode_uplink_with_encodings
from sealmeter.protocol.envelope import Direction, OpenedUplink, _parse, open_uplink
from sealmeter.protocol.errors import (
    BadSignature,
    MalformedMessage,
    ProtocolPeerError,
    ProtocolUsageError,
    ReaddressedMessage,
    ReplayedUplink,
    SuiteDowngrade,
    UnknownSuite,
    UnsupportedVersion,
    WrongDirection,
    WrongRecipient,
    WrongSender,
)
from sealmeter.protocol.keys import (
    KEY_ID_SIZE,
    SYMMETRIC_KEY_SIZE,
    PrivateKeys,
    PublicKeys,
    Suite,
    symmetric_keys,
)

__all__ = [
    "ROLLOVER_SALT_SIZE",
    "ROLLOVER_VERSION",
    "KeyAnnouncement",
    "RolloverOp",
    "RolloverOrder",
    "UnexpectedRollover",
    "announce",
    "decode_announcement",
    "decode_order",
    "derive_symmetric",
    "encode_announcement",
    "encode_order",
    "headend_order",
    "open_announced_uplink",
    "renew_order",
    "verify_announcement",
    "verify_order",
]

ROLLOVER_VERSION = 1
"""The version byte every rollover payload starts with."""

ROLLOVER_SALT_SIZE = 32
"""Bytes of the head-end's salt in a symmetric-suite renewal order."""

_TYPE_ORDER = 0x10
_TYPE_ANNOUNCEMENT = 0x11
_MAX_U32 = 2**32 - 1
_MAX_U64 = 2**64 - 1
_ORDER_LABEL = b"sealmeter/rollover/order/v1\x00"
_PROOF_LABEL = b"sealmeter/rollover/announce/v1\x00"
_ENDORSE_LABEL = b"sealmeter/rollover/endorse/v1\x00"
_DERIVE_LABEL = b"sealmeter/rollover/symmetric/v1\x00"


class UnexpectedRollover(ProtocolPeerError):
    """An authentic rollover payload that was not asked for, or names another epoch or keys.

    Raised by the head-end for an announcement it did not order (or of a stale epoch) and by
    the meter for an order that would replace its keys with themselves in another suite.
    """


class RolloverOp(enum.Enum):
    """What a rollover order asks of the meter."""

    HEADEND_KEYS = 1
    """Seal later uplinks to the head-end's new public keys (carried in the order)."""
    RENEW_METER_KEYS = 2
    """Generate a fresh key set inside the module and announce it."""


@dataclass(frozen=True, slots=True)
class RolloverOrder:
    """The argument of a `KEY_ROLLOVER` command.

    `epoch` is the key version the rollover leads to (head-end box keys: the box's new key
    version; meter keys: the meter's next key version). `new_keys` (HEADEND_KEYS) is
    `PublicKeys.to_bytes()` of the new box keys and `proof` their signature over the order;
    `salt` (RENEW_METER_KEYS in the symmetric suite only) feeds the derivation of the new secret.
    """

    op: RolloverOp
    suite: Suite
    meter_id: str
    epoch: int
    new_keys: bytes = b""
    salt: bytes = b""
    proof: bytes = b""

    def __post_init__(self) -> None:
        """Check every field, so a bad order never reaches the wire."""
        if not isinstance(self.op, RolloverOp) or not isinstance(self.suite, Suite):
            raise ProtocolUsageError("op must be a RolloverOp and suite a Suite")
        _check_id(self.meter_id)
        _check_uint("epoch", self.epoch, _MAX_U32)
        for name in ("new_keys", "salt", "proof"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) > 65535:
                raise ProtocolUsageError(f"{name} must be bytes of at most 65535")
        if self.op is RolloverOp.HEADEND_KEYS:
            if self.suite is Suite.SYMMETRIC:
                raise ProtocolUsageError(
                    "the symmetric suite has no head-end keys to roll; renew the meter's secret"
                )
            if not self.new_keys or not self.proof or self.salt:
                raise ProtocolUsageError("a HEADEND_KEYS order carries new_keys and proof only")
        else:
            want = ROLLOVER_SALT_SIZE if self.suite is Suite.SYMMETRIC else 0
            if len(self.salt) != want or self.new_keys or self.proof:
                raise ProtocolUsageError(
                    f"a RENEW_METER_KEYS order in {self.suite.value} carries a salt of {want} "
                    "bytes and nothing else"
                )

    def body(self) -> bytes:
        """The bytes the proof signs: the encoding up to (without) the proof field."""
        return _order_body(self)


@dataclass(frozen=True, slots=True)
class KeyAnnouncement:
    """A meter's new public keys, proven by the new key and endorsed by the old one.

    `seq` is the meter's next registration sequence number when it renewed (binds the
    announcement to a chain position); `old_key_id`/`new_key_id` name both key sets;
    `new_keys` is `PublicKeys.to_bytes()` (empty in the symmetric suite).
    """

    suite: Suite
    meter_id: str
    epoch: int
    seq: int
    old_key_id: bytes
    new_key_id: bytes
    new_keys: bytes
    proof: bytes
    endorsement: bytes

    def __post_init__(self) -> None:
        """Check every field, so a bad announcement never reaches the wire."""
        if not isinstance(self.suite, Suite):
            raise ProtocolUsageError("suite must be a Suite")
        _check_id(self.meter_id)
        _check_uint("epoch", self.epoch, _MAX_U32)
        _check_uint("seq", self.seq, _MAX_U64)
        for name in ("old_key_id", "new_key_id"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != KEY_ID_SIZE:
                raise ProtocolUsageError(f"{name} must be {KEY_ID_SIZE} bytes")
        for name in ("new_keys", "proof", "endorsement"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) > 65535:
                raise ProtocolUsageError(f"{name} must be bytes of at most 65535")
        if (self.suite is Suite.SYMMETRIC) == bool(self.new_keys):
            raise ProtocolUsageError(
                "new_keys must be empty in the symmetric suite and present in the others"
            )

    def body(self) -> bytes:
        """The bytes the new key's proof signs (the encoding up to the proof)."""
        return _announcement_body(self)


# -- codec ----------------------------------------------------------------------------------


def _check_id(meter_id: str) -> None:
    if not isinstance(meter_id, str) or not meter_id or len(meter_id.encode()) > 255:
        raise ProtocolUsageError("meter_id must be text of 1 to 255 UTF-8 bytes")


def _check_uint(name: str, value: int, maximum: int) -> None:
    if type(value) is not int or not 0 <= value <= maximum:
        raise ProtocolUsageError(f"{name} must be an integer in 0..{maximum}")


def _order_body(order: RolloverOrder) -> bytes:
    w = Writer()
    w.raw(bytes((ROLLOVER_VERSION, _TYPE_ORDER, order.op.value, order.suite.wire_id)))
    w.text(order.meter_id)
    w.u32(order.epoch)
    w.blob16(order.new_keys)
    w.blob16(order.salt)
    return w.getvalue()


def encode_order(order: RolloverOrder) -> bytes:
    """Encode an order (the `KEY_ROLLOVER` command's argument)."""
    if not isinstance(order, RolloverOrder):
        raise ProtocolUsageError("encode_order needs a RolloverOrder")
    return _order_body(order) + struct.pack(">H", len(order.proof)) + order.proof


def _announcement_body(ann: KeyAnnouncement) -> bytes:
    w = Writer()
    w.raw(bytes((ROLLOVER_VERSION, _TYPE_ANNOUNCEMENT, ann.suite.wire_id)))
    w.text(ann.meter_id)
    w.u32(ann.epoch)
    w.u64(ann.seq)
    w.raw(ann.old_key_id)
    w.raw(ann.new_key_id)
    w.blob16(ann.new_keys)
    return w.getvalue()


def encode_announcement(ann: KeyAnnouncement) -> bytes:
    """Encode an announcement (the uplink's `key_announcement` trailer)."""
    if not isinstance(ann, KeyAnnouncement):
        raise ProtocolUsageError("encode_announcement needs a KeyAnnouncement")
    w = Writer()
    w.raw(_announcement_body(ann))
    w.blob16(ann.proof)
    w.blob16(ann.endorsement)
    return w.getvalue()


def _start(data: bytes, what: str, kind: int) -> Reader:
    reader = Reader(data, what)
    version = reader.u8("version")
    if version != ROLLOVER_VERSION:
        raise UnsupportedVersion(
            f"{what} version {version} is not supported (this side speaks {ROLLOVER_VERSION})"
        )
    got = reader.u8("type")
    if got != kind:
        raise MalformedMessage(f"{what}: type byte {got:#04x} is not {kind:#04x}")
    return reader


def _suite(reader: Reader, what: str) -> Suite:
    wire = reader.u8("suite id")
    try:
        return Suite.from_wire_id(wire)
    except ProtocolUsageError:
        raise UnknownSuite(f"{what} names unknown suite id {wire}") from None


def decode_order(data: bytes) -> RolloverOrder:
    """Decode an order; any bad bytes raise a `MalformedMessage` subclass."""
    reader = _start(data, "rollover order", _TYPE_ORDER)
    op_wire = reader.u8("op")
    try:
        op = RolloverOp(op_wire)
    except ValueError:
        raise MalformedMessage(f"rollover order: op {op_wire} is unknown") from None
    suite = _suite(reader, "rollover order")
    meter_id = reader.text("meter_id")
    epoch = reader.u32("epoch")
    new_keys = reader.blob16("new_keys")
    salt = reader.blob16("salt")
    proof = reader.blob16("proof")
    reader.end()
    try:
        return RolloverOrder(op, suite, meter_id, epoch, new_keys, salt, proof)
    except ProtocolUsageError as exc:
        raise MalformedMessage(f"rollover order holds an invalid field: {exc}") from None


def decode_announcement(data: bytes) -> KeyAnnouncement:
    """Decode an announcement; any bad bytes raise a `MalformedMessage` subclass."""
    reader = _start(data, "key announcement", _TYPE_ANNOUNCEMENT)
    suite = _suite(reader, "key announcement")
    meter_id = reader.text("meter_id")
    epoch = reader.u32("epoch")
    seq = reader.u64("seq")
    old_id = reader.take(KEY_ID_SIZE, "old key id")
    new_id = reader.take(KEY_ID_SIZE, "new key id")
    new_keys = reader.blob16("new_keys")
    proof = reader.blob16("proof")
    endorsement = reader.blob16("endorsement")
    reader.end()
    try:
        return KeyAnnouncement(
            suite, meter_id, epoch, seq, old_id, new_id, new_keys, proof, endorsement
        )
    except ProtocolUsageError as exc:
        raise MalformedMessage(f"key announcement holds an invalid field: {exc}") from None


# -- signing and checking ---------------------------------------------------------------------


def _hmac(secret: bytes | None, data: bytes) -> bytes:
    assert secret is not None
    return hmac.digest(secret, data, "sha256")


def _sign(keys: PrivateKeys, label: bytes, data: bytes) -> bytes:
    if keys.suite is Suite.SYMMETRIC:
        return _hmac(keys.secret, label + data)
    return _suites.sign(keys, label + data)


def _verify(keys: PublicKeys, label: bytes, signature: bytes, data: bytes, what: str) -> None:
    if keys.suite is Suite.SYMMETRIC:
        if not hmac.compare_digest(_hmac(keys.secret, label + data), signature):
            raise BadSignature(f"the {what} does not verify: forged or modified")
        return
    try:
        _suites.verify(keys, signature, label + data)
    except BadSignature:
        raise BadSignature(
            f"the {what} does not verify with the expected key: forged or modified"
        ) from None


def headend_order(meter_id: str, epoch: int, new_box: PrivateKeys) -> RolloverOrder:
    """An order telling meter `meter_id` the head-end's new public keys, with their proof."""
    if not isinstance(new_box, PrivateKeys):
        raise ProtocolUsageError("headend_order needs the box's new PrivateKeys")
    unsigned = RolloverOrder(
        RolloverOp.HEADEND_KEYS, new_box.suite, meter_id, epoch, new_box.public().to_bytes(),
        proof=b"\x00",
    )  # fmt: skip
    proof = _sign(new_box, _ORDER_LABEL, unsigned.body())
    return RolloverOrder(
        unsigned.op, unsigned.suite, meter_id, epoch, unsigned.new_keys, b"", proof
    )


def renew_order(meter_id: str, suite: Suite, epoch: int, salt: bytes = b"") -> RolloverOrder:
    """An order making meter `meter_id` renew its own keys (`salt`: symmetric suite only)."""
    return RolloverOrder(RolloverOp.RENEW_METER_KEYS, suite, meter_id, epoch, salt=salt)


def _check_addressed(meter_id: str, suite: Suite, got_meter: str, got_suite: Suite) -> None:
    if got_meter != meter_id:
        raise ReaddressedMessage(
            f"a rollover payload for meter {got_meter!r} reached meter {meter_id!r}: re-addressed"
        )
    if got_suite is not suite:
        raise SuiteDowngrade(
            f"a rollover payload names suite {got_suite.value}, meter {meter_id!r} is pinned to "
            f"{suite.value}: refused (a rollover never changes the suite)"
        )


def verify_order(
    order: RolloverOrder, *, meter_id: str, suite: Suite, current: PublicKeys | None = None
) -> PublicKeys | None:
    """Check an order from an authentic downlink; return the new head-end keys (HEADEND_KEYS).

    Returns None for a renewal order. Raises `ReaddressedMessage` (another meter),
    `SuiteDowngrade` (another suite), `MalformedMessage` (unusable keys), `BadSignature`
    (the new keys do not prove possession) or `UnexpectedRollover` (the "new" keys are the
    `current` ones).
    """
    _check_addressed(meter_id, suite, order.meter_id, order.suite)
    if order.op is RolloverOp.RENEW_METER_KEYS:
        return None
    try:
        new = PublicKeys.from_bytes(order.new_keys)
    except ProtocolUsageError as exc:
        raise MalformedMessage(
            f"rollover order: the new head-end keys are unusable: {exc}"
        ) from None
    if new.suite is not suite:
        raise SuiteDowngrade(f"the new head-end keys are {new.suite.value}, not {suite.value}")
    _verify(new, _ORDER_LABEL, order.proof, order.body(), "new head-end key's proof")
    if current is not None and new == current:
        raise UnexpectedRollover("the order names the head-end keys already in use")
    return new


def derive_symmetric(old: PrivateKeys, *, meter_id: str, epoch: int, salt: bytes) -> PrivateKeys:
    """The symmetric suite's next secret, derived under the old one (see module docstring)."""
    if old.suite is not Suite.SYMMETRIC or old.secret is None:
        raise ProtocolUsageError("derive_symmetric needs symmetric-suite keys")
    if not isinstance(salt, bytes) or len(salt) != ROLLOVER_SALT_SIZE:
        raise ProtocolUsageError(f"the renewal salt must be {ROLLOVER_SALT_SIZE} bytes")
    _check_id(meter_id)
    _check_uint("epoch", epoch, _MAX_U32)
    info = _DERIVE_LABEL + meter_id.encode() + b"\x00" + struct.pack(">I", epoch)
    secret = HKDF(hashes.SHA256(), SYMMETRIC_KEY_SIZE, salt, info).derive(old.secret)
    return symmetric_keys(secret)


def announce(
    *, meter_id: str, epoch: int, seq: int, old: PrivateKeys, new: PrivateKeys
) -> KeyAnnouncement:
    """The meter's announcement of `new`: proven by `new`, then endorsed by `old`."""
    if not isinstance(old, PrivateKeys) or not isinstance(new, PrivateKeys):
        raise ProtocolUsageError("announce needs the old and the new PrivateKeys")
    if old.suite is not new.suite:
        raise ProtocolUsageError("a rollover keeps the suite: old and new keys differ in suite")
    symmetric = new.suite is Suite.SYMMETRIC
    new_keys = b"" if symmetric else new.public().to_bytes()
    draft = KeyAnnouncement(
        new.suite, meter_id, epoch, seq, old.key_id, new.key_id, new_keys, b"", b""
    )
    body = draft.body()
    proof = _sign(new, _PROOF_LABEL, body)
    endorsement = _sign(old, _ENDORSE_LABEL, body + proof)
    return KeyAnnouncement(
        new.suite, meter_id, epoch, seq, old.key_id, new.key_id, new_keys, proof, endorsement
    )


def verify_announcement(
    ann: KeyAnnouncement,
    *,
    meter_id: str,
    old: PublicKeys,
    epoch: int,
    derived: PublicKeys | None = None,
) -> PublicKeys:
    """Check an announcement against the pinned `old` keys and the `epoch` ordered.

    Returns the new public keys (for the symmetric suite, `derived`: the secret the head-end
    derived itself). Raises `ReaddressedMessage`, `SuiteDowngrade`, `UnexpectedRollover`
    (another epoch, or not naming the pinned key as the old one), `MalformedMessage` or
    `BadSignature`; checks nothing else and changes nothing.
    """
    _check_addressed(meter_id, old.suite, ann.meter_id, ann.suite)
    if ann.epoch != epoch:
        raise UnexpectedRollover(
            f"meter {meter_id!r} announces keys of epoch {ann.epoch}, the head-end ordered "
            f"epoch {epoch}: stale or unsolicited"
        )
    if not hmac.compare_digest(ann.old_key_id, old.key_id):
        raise UnexpectedRollover(
            f"the announcement replaces key {ann.old_key_id.hex()}, the pinned key is "
            f"{old.key_id.hex()}: stale or forged"
        )
    if old.suite is Suite.SYMMETRIC:
        if derived is None:
            raise ProtocolUsageError("the symmetric suite needs the derived new keys")
        new = derived
    else:
        try:
            new = PublicKeys.from_bytes(ann.new_keys)
        except ProtocolUsageError as exc:
            raise MalformedMessage(f"key announcement: new keys are unusable: {exc}") from None
        if new.suite is not old.suite:
            raise SuiteDowngrade(f"the new keys are {new.suite.value}, not {old.suite.value}")
    if not hmac.compare_digest(new.key_id, ann.new_key_id):
        raise MalformedMessage("key announcement: new_key_id does not name the new keys")
    if new == old:
        raise UnexpectedRollover("the announcement names the pinned keys as new ones")
    body = ann.body()
    _verify(old, _ENDORSE_LABEL, ann.endorsement, body + ann.proof, "old key's endorsement")
    _verify(new, _PROOF_LABEL, ann.proof, body, "new key's proof of possession")
    return new


def open_announced_uplink(
    data: bytes,
    *,
    headend: PrivateKeys,
    meter: PublicKeys,
    meter_id: str,
    chain: HeadEndChain,
    epoch: int,
    salt: bytes = b"",
    not_before: datetime | None = None,
) -> tuple[OpenedUplink, PublicKeys]:
    """Open an uplink sealed with a meter's *announced* new keys; return it and the new keys.

    `meter` is the pinned (old) public keys, `epoch` (and `salt` in the symmetric suite) the
    renewal the head-end ordered. The new key is trusted only through the announcement the
    uplink carries, endorsed by the pinned key; then the envelope's signature by the new key,
    the decryption and the chain are checked as `open_uplink` does. Any fault raises the
    precise `ProtocolPeerError`; nothing is changed (install the keys only after storing).
    """
    if not isinstance(meter, PublicKeys) or not isinstance(headend, PrivateKeys):
        raise ProtocolUsageError("pass the head-end's PrivateKeys and the pinned PublicKeys")
    suite = meter.suite
    if suite is Suite.SYMMETRIC:
        if not hmac.compare_digest(headend.secret or b"", meter.secret or b"\x00"):
            raise ProtocolUsageError("in the symmetric suite both sides hold the meter's secret")
        new_private = derive_symmetric(headend, meter_id=meter_id, epoch=epoch, salt=salt)
        opened = open_uplink(
            data,
            headend=new_private,
            meter=new_private.public(),
            meter_id=meter_id,
            chain=chain,
            not_before=not_before,
        )
        ann = _announcement_of(opened.uplink.key_announcement, meter_id)
        new = verify_announcement(
            ann, meter_id=meter_id, old=meter, epoch=epoch, derived=new_private.public()
        )
        return opened, new
    env = _parse(data)
    head = env.header
    if head.direction is not Direction.UPLINK:
        raise WrongDirection("expected an uplink envelope: a reflected or misrouted message")
    if head.suite is not suite:
        raise SuiteDowngrade(
            f"meter {meter_id!r} is pinned to suite {suite.value}, the envelope uses "
            f"{head.suite.value}: refused"
        )
    if head.meter_id != meter_id:
        raise WrongSender(f"envelope claims meter {head.meter_id!r}, expected {meter_id!r}")
    if not hmac.compare_digest(head.recipient_key_id, headend.key_id):
        raise WrongRecipient(
            f"envelope is addressed to key {head.recipient_key_id.hex()}, ours is "
            f"{headend.key_id.hex()}"
        )
    aead, _ = _suites.decapsulate(headend, env.encapsulation)
    plaintext = _suites.open_aead(aead, env.nonce, env.ciphertext, env.associated)
    uplink, encodings = decode_uplink_with_encodings(plaintext)
    if uplink.meter_id != meter_id:
        raise ReaddressedMessage(f"an uplink envelope for {meter_id!r} holds another meter's batch")
    ann = _announcement_of(uplink.key_announcement, meter_id)
    new = verify_announcement(ann, meter_id=meter_id, old=meter, epoch=epoch)
    if not hmac.compare_digest(head.sender_key_id, new.key_id):
        raise WrongSender(
            f"envelope is signed by key {head.sender_key_id.hex()}, neither the pinned key "
            f"nor the announced one ({new.key_id.hex()})"
        )
    _suites.verify(new, env.signature, env.signed)
    if not_before is not None and uplink.time <= not_before:
        raise ReplayedUplink(f"uplink of meter {meter_id!r} is not newer than the last accepted")
    verdict = chain.verify_batch(uplink.registrations, encodings=encodings)
    opened = OpenedUplink(
        uplink, verdict.chain, verdict.accepted, verdict.duplicates, verdict.stale
    )
    return opened, new


def _announcement_of(data: bytes, meter_id: str) -> KeyAnnouncement:
    if not data:
        raise WrongSender(
            f"an uplink of meter {meter_id!r} is sealed with keys other than the pinned ones "
            "and carries no key announcement: forged, or the meter's keys changed unannounced"
        )
    return decode_announcement(data)
