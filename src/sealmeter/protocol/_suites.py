"""Per-suite primitives behind the envelope: key encapsulation, AEAD, signatures.

Private to the package: `envelope` composes these into the safe recipes. Every failure of a
primitive becomes a typed `ProtocolPeerError`; nothing else escapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sealmeter.protocol.errors import BadSignature, DecryptionFailed
from sealmeter.protocol.keys import PrivateKeys, PublicKeys, Suite

__all__ = [
    "AEAD_NONCE_SIZE",
    "SuiteShape",
    "decapsulate",
    "encapsulate",
    "open_aead",
    "seed_bytes",
    "shape",
    "sign",
    "verify",
]

AEAD_NONCE_SIZE = 12
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)

_X962 = Encoding.X962
_COMPRESSED = PublicFormat.CompressedPoint

Aead = AESGCM | ChaCha20Poly1305


@dataclass(frozen=True, slots=True)
class SuiteShape:
    """Fixed sizes of a suite's envelope sections."""

    encapsulation: int
    signature: int


_SHAPES = {
    Suite.EC_MODERN: SuiteShape(32, 64),
    Suite.NIST_P256: SuiteShape(33, 64),
    Suite.RSA: SuiteShape(384, 384),
    Suite.SYMMETRIC: SuiteShape(0, 0),
}


def shape(suite: Suite) -> SuiteShape:
    """The section sizes of `suite`."""
    return _SHAPES[suite]


def seed_bytes(seed: bytes, label: bytes, size: int) -> bytes:
    """Per-message randomness derived from a 32-byte seal seed (SHAKE-256, domain-separated)."""
    return hashlib.shake_256(b"sealmeter/seed/v1/" + label + b"\x00" + seed).digest(size)


def _kdf(
    suite: Suite, shared: bytes, encapsulation: bytes, recipient_id: bytes, size: int
) -> bytes:
    info = b"sealmeter/v1/" + suite.value.encode() + b"\x00" + encapsulation + recipient_id
    return HKDF(algorithm=hashes.SHA256(), length=size, salt=None, info=info).derive(shared)


def encapsulate(recipient: PublicKeys, seed: bytes) -> tuple[bytes, Aead, bytes]:
    """A fresh content key for `recipient`: (encapsulation bytes, AEAD keyed with it, secret).

    `secret` is the key encapsulation's shared secret (X25519 or ECDH output, the rsa content
    key, the symmetric secret): the input of the call's answer key (`answer.py`), never sent.
    """
    suite = recipient.suite
    # The keys' types follow from the suite (`PrivateKeys` and `PublicKeys` check them when
    # built), so `cast` names them: pyca's key classes are ABCs, slow to `isinstance`.
    if suite is Suite.EC_MODERN:
        eph = x25519.X25519PrivateKey.from_private_bytes(seed_bytes(seed, b"ephemeral", 32))
        encap = eph.public_key().public_bytes_raw()
        shared = eph.exchange(cast(x25519.X25519PublicKey, recipient.encryption))
        return encap, ChaCha20Poly1305(_kdf(suite, shared, encap, recipient.key_id, 32)), shared
    if suite is Suite.NIST_P256:
        scalar = int.from_bytes(seed_bytes(seed, b"ephemeral", 48)) % (_P256_ORDER - 1) + 1
        eph_ec = ec.derive_private_key(scalar, ec.SECP256R1())
        encap = eph_ec.public_key().public_bytes(_X962, _COMPRESSED)
        shared = eph_ec.exchange(ec.ECDH(), cast(ec.EllipticCurvePublicKey, recipient.encryption))
        return encap, AESGCM(_kdf(suite, shared, encap, recipient.key_id, 16)), shared
    if suite is Suite.RSA:
        content_key = seed_bytes(seed, b"content-key", 32)
        wrapped = cast(rsa.RSAPublicKey, recipient.encryption).encrypt(content_key, _OAEP)
        return wrapped, AESGCM(content_key), content_key
    assert recipient.secret is not None
    return b"", AESGCM(recipient.secret), recipient.secret


def decapsulate(own: PrivateKeys, encapsulation: bytes) -> tuple[Aead, bytes]:
    """The AEAD for an envelope addressed to `own` and the shared secret (see `encapsulate`).

    Raise `DecryptionFailed` if impossible.
    """
    suite = own.suite
    try:
        if suite is Suite.EC_MODERN:  # key types follow from the suite (see `encapsulate`)
            peer = x25519.X25519PublicKey.from_public_bytes(encapsulation)
            shared = cast(x25519.X25519PrivateKey, own.decryption).exchange(peer)
            return ChaCha20Poly1305(_kdf(suite, shared, encapsulation, own.key_id, 32)), shared
        if suite is Suite.NIST_P256:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), encapsulation)
            shared = cast(ec.EllipticCurvePrivateKey, own.decryption).exchange(ec.ECDH(), point)
            return AESGCM(_kdf(suite, shared, encapsulation, own.key_id, 16)), shared
        if suite is Suite.RSA:
            content_key = cast(rsa.RSAPrivateKey, own.decryption).decrypt(encapsulation, _OAEP)
            return AESGCM(content_key), content_key
    except ValueError:
        raise DecryptionFailed(
            f"the {suite.value} key encapsulation does not open with our key: the envelope "
            "was modified or is not meant for us"
        ) from None
    assert own.secret is not None
    return AESGCM(own.secret), own.secret


def open_aead(aead: Aead, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes:
    """Decrypt and authenticate; raise `DecryptionFailed` when the tag does not match."""
    try:
        return aead.decrypt(nonce, ciphertext, associated)
    except InvalidTag:
        raise DecryptionFailed(
            "the ciphertext or its header fails authentication: modified in transit, or "
            "sealed for another key"
        ) from None


def sign(own: PrivateKeys, data: bytes) -> bytes:
    """The suite's signature of `data` (empty for `symmetric`, whose AEAD authenticates)."""
    suite = own.suite  # key types follow from the suite (see `encapsulate`)
    if suite is Suite.EC_MODERN:
        return cast(ed25519.Ed25519PrivateKey, own.signing).sign(data)
    if suite is Suite.NIST_P256:
        der = cast(ec.EllipticCurvePrivateKey, own.signing).sign(data, _ECDSA)
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(32) + s.to_bytes(32)
    if suite is Suite.RSA:
        return cast(rsa.RSAPrivateKey, own.signing).sign(data, _PSS, hashes.SHA256())
    return b""


def verify(peer: PublicKeys, signature: bytes, data: bytes) -> None:
    """Verify the suite's signature of `data`; raise `BadSignature` when it does not hold."""
    suite = peer.suite  # key types follow from the suite (see `encapsulate`)
    if suite is Suite.SYMMETRIC:
        return  # no signature: the AEAD authenticates (and `open_aead` raises on a bad tag)
    key = peer.verification
    try:
        if suite is Suite.EC_MODERN:
            cast(ed25519.Ed25519PublicKey, key).verify(signature, data)
        elif suite is Suite.NIST_P256:
            r = int.from_bytes(signature[:32])
            s = int.from_bytes(signature[32:])
            der = utils.encode_dss_signature(r, s)
            cast(ec.EllipticCurvePublicKey, key).verify(der, data, _ECDSA)
        else:
            cast(rsa.RSAPublicKey, key).verify(signature, data, _PSS, hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise BadSignature(
            f"the {peer.suite.value} signature does not verify with the pinned sender key: "
            "the envelope was forged or modified"
        ) from None
