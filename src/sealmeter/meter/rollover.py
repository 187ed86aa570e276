"""Key rollover inside the security module: the head-end's new keys, and renewing our own.

Orders arrive as `KEY_ROLLOVER` commands of an authentic downlink (`sealmeter.protocol.rollover`):

- `HEADEND_KEYS`: the new box public keys, with the new key's proof of possession, inside a
  downlink signed by the old box key. The module pins the new keys at once: later uplinks are
  sealed to them and later downlinks must be signed by them.
- `RENEW_METER_KEYS`: the module makes a fresh key set in the same suite from its entropy
  source (deterministic under a seeded source, as nonces are; `rsa` keys come from the OS,
  pyca cannot derive them from given bytes), signs an announcement of it with the new key and
  endorses it with the old one, and switches to the new keys at once: the old private keys are
  gone. The announcement rides on every uplink (the `key_announcement` trailer) until an
  authentic downlink arrives, which can only be sealed to the new keys.

Everything is stored in the one `keys` record (`[sealed private keys, head-end public keys]`,
plus the pending announcement as a third element), written in one tear-safe record write: after
a power cut the module holds either the old keys or the new keys with their announcement,
never a mix and never nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from sealmeter.meter.errors import DownlinkRejected, MeterStorageFault
from sealmeter.protocol import (
    PrivateKeys,
    ProtocolPeerError,
    PublicKeys,
    RolloverOp,
    RolloverOrder,
    Suite,
    announce,
    decode_order,
    encode_announcement,
    generate_keys,
    verify_order,
)

__all__ = ["KeysRecord", "RolloverPlan", "check_order", "fresh_keys", "plan_rollover"]

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True, repr=False)
class KeysRecord:
    """The `keys` record: sealed private keys, the pinned head-end keys, a pending announcement."""

    sealed_keys: bytes
    headend: bytes
    announcement: bytes = b""

    def __repr__(self) -> str:
        """Never show key material."""
        return f"KeysRecord(announcement={bool(self.announcement)})"

    def to_bytes(self) -> bytes:
        """CBOR `[sealed, headend]`, or `[sealed, headend, announcement]` while one is pending."""
        items: list[Any] = [self.sealed_keys, self.headend]
        if self.announcement:
            items.append(self.announcement)
        return bytes(cbor2.dumps(items, canonical=True))

    @classmethod
    def from_bytes(cls, blob: bytes) -> KeysRecord:
        """Read a record written by `to_bytes` (or by provisioning); else `MeterStorageFault`."""
        try:
            items = cbor2.loads(blob)
            if not isinstance(items, list) or len(items) not in (2, 3):
                raise ValueError("not a list of 2 or 3")
            if not all(isinstance(item, bytes) for item in items):
                raise ValueError("not bytes")
            parts = [bytes(item) for item in items]
        except Exception as exc:
            raise MeterStorageFault(
                f"the stored keys record does not decode ({type(exc).__name__}); the memory is "
                "corrupt: replace the module"
            ) from None
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else b"")


@dataclass(frozen=True, repr=False)
class RolloverPlan:
    """What an accepted downlink's orders change: the new keys and head-end keys to pin."""

    keys: PrivateKeys
    headend: PublicKeys
    announcement: bytes
    renewed: bool
    headend_changed: bool

    def __repr__(self) -> str:
        """Never show key material."""
        return (
            f"RolloverPlan(renewed={self.renewed}, headend_changed={self.headend_changed}, "
            f"key_id={self.keys.key_id.hex()})"
        )


def check_order(argument: bytes, meter_id: str) -> RolloverOrder:
    """Decode a `KEY_ROLLOVER` argument addressed to this meter, or raise `DownlinkRejected`."""
    try:
        order = decode_order(argument)
    except ProtocolPeerError as exc:
        raise DownlinkRejected(
            "bad-rollover", f"the key rollover order is unusable: {exc}"
        ) from None
    if order.meter_id != meter_id:
        raise DownlinkRejected(
            "bad-rollover", f"the key rollover order names meter {order.meter_id!r}: re-addressed"
        )
    return order


def fresh_keys(suite: Suite, entropy: Callable[[int], bytes]) -> PrivateKeys:
    """A new key set in `suite` made from the module's entropy source (rsa: from the OS)."""
    if suite is Suite.EC_MODERN:
        return PrivateKeys(
            suite,
            x25519.X25519PrivateKey.from_private_bytes(entropy(32)),
            ed25519.Ed25519PrivateKey.from_private_bytes(entropy(32)),
        )
    if suite is Suite.NIST_P256:
        scalars = [int.from_bytes(entropy(48)) % (_P256_ORDER - 1) + 1 for _ in range(2)]
        return PrivateKeys(
            suite,
            ec.derive_private_key(scalars[0], ec.SECP256R1()),
            ec.derive_private_key(scalars[1], ec.SECP256R1()),
        )
    return generate_keys(suite)


def plan_rollover(
    orders: tuple[RolloverOrder, ...],
    *,
    meter_id: str,
    keys: PrivateKeys,
    headend: PublicKeys,
    next_seq: int,
    entropy: Callable[[int], bytes],
) -> RolloverPlan | None:
    """Check every order and compute the keys after them; raise `DownlinkRejected` on any fault.

    Changes nothing: the module stores the plan's record in one write.
    """
    if not orders:
        return None
    suite = keys.suite
    new_keys, new_headend, announcement = keys, headend, b""
    renewed = changed = False
    for order in orders:
        try:
            pub = verify_order(order, meter_id=meter_id, suite=suite, current=new_headend)
        except ProtocolPeerError as exc:
            raise DownlinkRejected("bad-rollover", str(exc)) from None
        if order.op is RolloverOp.HEADEND_KEYS:
            assert pub is not None
            new_headend, changed = pub, True
            continue
        if renewed:
            raise DownlinkRejected("bad-rollover", "two key renewals in one downlink")
        if suite is Suite.SYMMETRIC:
            raise DownlinkRejected(
                "bad-rollover", "this module does not serve the symmetric suite's rollover"
            )
        fresh = fresh_keys(suite, entropy)
        ann = announce(meter_id=meter_id, epoch=order.epoch, seq=next_seq, old=keys, new=fresh)
        new_keys, announcement, renewed = fresh, encode_announcement(ann), True
    return RolloverPlan(new_keys, new_headend, announcement, renewed, changed)
