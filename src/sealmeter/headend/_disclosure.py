"""Per-message key disclosure, so a customer can read and check their own uplinks offline.

An uplink envelope (docs/protocol.md) is: header, key encapsulation, AEAD nonce, ciphertext
length, ciphertext, signature. The meter signs everything before the signature. The content
key of one envelope is derived from the box's private key and the encapsulation; disclosing it
opens that one message and nothing else (the box's private key stays secret).

`split_envelope` reads the documented layout; `content_key` derives the key on the head-end;
`open_disclosed` verifies the meter's signature and decrypts with a disclosed key, on the
customer's side, with nothing but the meter's public keys.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealmeter.headend.errors import HeadEndError
from sealmeter.protocol import (
    BadSignature,
    DecryptionFailed,
    EnvelopeHeader,
    MalformedMessage,
    PrivateKeys,
    PublicKeys,
    Suite,
    peek_header,
)

__all__ = ["EnvelopeParts", "content_key", "open_disclosed", "split_envelope"]

# (encapsulation, signature) sizes of each suite's envelope sections
_SHAPES = {Suite.EC_MODERN: (32, 64), Suite.NIST_P256: (33, 64), Suite.RSA: (384, 384)}
_NONCE = 12
_KEY_ID = 8


@dataclass(frozen=True, slots=True)
class EnvelopeParts:
    """The sections of an envelope."""

    header: EnvelopeHeader
    encapsulation: bytes
    nonce: bytes
    associated: bytes  # everything before the ciphertext (the AEAD's associated data)
    ciphertext: bytes
    signed: bytes  # everything before the signature
    signature: bytes


def split_envelope(data: bytes) -> EnvelopeParts:
    """Cut an envelope into its sections; `MalformedMessage` if the lengths do not add up."""
    header = peek_header(data)
    if header.suite not in _SHAPES:
        raise MalformedMessage(f"suite {header.suite.value} has no disclosable envelope")
    enc_size, sig_size = _SHAPES[header.suite]
    pos = 4 + len(header.meter_id.encode("utf-8")) + 2 * _KEY_ID
    encapsulation = data[pos : pos + enc_size]
    pos += enc_size
    nonce = data[pos : pos + _NONCE]
    pos += _NONCE
    if len(data) < pos + 4:
        raise MalformedMessage("envelope is truncated before the ciphertext length")
    (ct_len,) = struct.unpack_from(">I", data, pos)
    pos += 4
    associated = data[:pos]
    ciphertext = data[pos : pos + ct_len]
    pos += ct_len
    signature = data[pos:]
    if len(ciphertext) != ct_len or len(signature) != sig_size:
        raise MalformedMessage("envelope sections do not add up to its length")
    return EnvelopeParts(
        header, encapsulation, nonce, associated, ciphertext, data[:pos], signature
    )


def _kdf(
    suite: Suite, shared: bytes, encapsulation: bytes, recipient_id: bytes, size: int
) -> bytes:
    info = b"sealmeter/v1/" + suite.value.encode() + b"\x00" + encapsulation + recipient_id
    return HKDF(algorithm=hashes.SHA256(), length=size, salt=None, info=info).derive(shared)


def content_key(data: bytes, box: PrivateKeys) -> bytes:
    """The AEAD key of one uplink envelope addressed to `box` (head-end side)."""
    parts = split_envelope(data)
    suite = parts.header.suite
    if suite is not box.suite:
        raise HeadEndError(f"the envelope is {suite.value}, the keys are {box.suite.value}")
    try:
        if suite is Suite.EC_MODERN:
            assert isinstance(box.decryption, x25519.X25519PrivateKey)
            peer = x25519.X25519PublicKey.from_public_bytes(parts.encapsulation)
            shared = box.decryption.exchange(peer)
            return _kdf(suite, shared, parts.encapsulation, box.key_id, 32)
        if suite is Suite.NIST_P256:
            assert isinstance(box.decryption, ec.EllipticCurvePrivateKey)
            point = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), parts.encapsulation
            )
            shared = box.decryption.exchange(ec.ECDH(), point)
            return _kdf(suite, shared, parts.encapsulation, box.key_id, 16)
        assert isinstance(box.decryption, rsa.RSAPrivateKey)
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        return box.decryption.decrypt(parts.encapsulation, oaep)
    except ValueError:
        raise DecryptionFailed("the envelope's key encapsulation does not open") from None


def _verify(meter: PublicKeys, signature: bytes, signed: bytes) -> None:
    key = meter.verification
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
            key.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
            )
            key.verify(signature, signed, pss, hashes.SHA256())
        else:
            raise BadSignature("the meter's keys have no signature key")
    except (InvalidSignature, ValueError):
        raise BadSignature("the meter's signature over this uplink does not verify") from None


def open_disclosed(data: bytes, key: bytes, meter: PublicKeys) -> bytes:
    """Customer side: verify the meter's signature, then decrypt with the disclosed key."""
    parts = split_envelope(data)
    if parts.header.suite is not meter.suite:
        raise MalformedMessage("the uplink's suite is not the meter's")
    if parts.header.sender_key_id != meter.key_id:
        raise BadSignature("the uplink names another sender key than the meter's public keys")
    _verify(meter, parts.signature, parts.signed)
    try:  # a disclosed key of the wrong length is refused by the AEAD's constructor
        aead = ChaCha20Poly1305(key) if parts.header.suite is Suite.EC_MODERN else AESGCM(key)
        return aead.decrypt(parts.nonce, parts.ciphertext, parts.associated)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("the disclosed key does not open this uplink") from None
