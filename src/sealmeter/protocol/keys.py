"""Crypto suites and their keys: generation, public-key export/import, encrypted private keys.

Each party (meter or head-end) holds an encryption key pair and a signature key pair (seed,
Fig. 3); the `symmetric` suite instead shares one 32-byte secret per meter. `PrivateKeys`
never print their secrets; `to_bytes(passphrase)` encrypts them for NVM or a key file.
"""

from __future__ import annotations

import enum
import hashlib
import os
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as _hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sealmeter.protocol.errors import ProtocolUsageError

__all__ = [
    "DEFAULT_SUITE",
    "KEY_ID_SIZE",
    "RSA_BITS",
    "SYMMETRIC_KEY_SIZE",
    "PrivateKeys",
    "PublicKeys",
    "Suite",
    "generate_keys",
    "symmetric_keys",
]

KEY_ID_SIZE = 8
"""Bytes of the key id (fingerprint) that names sender and recipient in an envelope header."""

RSA_BITS = 3072
"""Modulus size of every key of the `rsa` suite."""

SYMMETRIC_KEY_SIZE = 32
"""Bytes of the per-meter secret of the `symmetric` suite (AES-256-GCM)."""


class Suite(enum.Enum):
    """A crypto suite, named in every envelope; the head-end pins one per meter."""

    EC_MODERN = "ec-modern"
    NIST_P256 = "nist-p256"
    RSA = "rsa"
    SYMMETRIC = "symmetric"

    @property
    def wire_id(self) -> int:
        """The suite id byte on the wire."""
        return _WIRE_IDS[self]

    @classmethod
    def from_wire_id(cls, wire_id: int) -> Suite:
        """The suite of an id byte; raise `ProtocolUsageError` for an unknown id."""
        suite = _BY_WIRE_ID.get(wire_id)
        if suite is None:
            known = ", ".join(f"{v} ({k.value})" for k, v in _WIRE_IDS.items())
            raise ProtocolUsageError(f"unknown suite id {wire_id}; known ids are {known}")
        return suite

    @classmethod
    def from_name(cls, name: str) -> Suite:
        """The suite called `name` (e.g. "ec-modern"); raise `ProtocolUsageError` otherwise."""
        try:
            return cls(name)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ProtocolUsageError(f"unknown suite {name!r}; choose one of {names}") from None


_WIRE_IDS = {Suite.EC_MODERN: 1, Suite.NIST_P256: 2, Suite.RSA: 3, Suite.SYMMETRIC: 4}
_BY_WIRE_ID = {v: k for k, v in _WIRE_IDS.items()}

DEFAULT_SUITE = Suite.EC_MODERN
"""The suite used when none is named: X25519 + HKDF + ChaCha20-Poly1305, Ed25519."""

_ID_LABEL = b"sealmeter/key-id/v1"
_PUB_MAGIC = b"SMPK"
_PRIV_MAGIC = b"SMSK"
_FORMAT = 1
_SCRYPT_N = 2**14

EncPublic = x25519.X25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
VerifyPublic = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
EncPrivate = x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
SignPrivate = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _public_raw(suite: Suite, key: EncPublic | VerifyPublic) -> bytes:
    if suite is Suite.EC_MODERN:
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if suite is Suite.NIST_P256:
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_public(suite: Suite, data: bytes, signing: bool) -> EncPublic | VerifyPublic:
    try:
        if suite is Suite.EC_MODERN:
            if signing:
                return ed25519.Ed25519PublicKey.from_public_bytes(data)
            return x25519.X25519PublicKey.from_public_bytes(data)
        if suite is Suite.NIST_P256:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
        key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ProtocolUsageError(f"not a valid {suite.value} public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != RSA_BITS:
        raise ProtocolUsageError(f"an rsa suite key must be a {RSA_BITS}-bit RSA public key")
    return key


@dataclass(frozen=True, eq=False, repr=False)
class PublicKeys:
    """A party's public keys in one suite (for `symmetric`: the shared secret, never exported).

    Give them to the peer at provisioning; the peer pins them (and so the suite).
    """

    suite: Suite
    encryption: EncPublic | None
    verification: VerifyPublic | None
    secret: bytes | None = None
    key_id: bytes = field(default=b"", init=False)

    def __post_init__(self) -> None:
        """Compute the key id that names this party in envelope headers."""
        if self.suite is Suite.SYMMETRIC:
            if self.secret is None or len(self.secret) != SYMMETRIC_KEY_SIZE:
                raise ProtocolUsageError("symmetric keys need a 32-byte secret")
            mac = _hmac.HMAC(self.secret, hashes.SHA256())
            mac.update(_ID_LABEL)
            kid = mac.finalize()[:KEY_ID_SIZE]
        else:
            if self.encryption is None or self.verification is None:
                raise ProtocolUsageError("public keys need an encryption and a verification key")
            kid = hashlib.sha256(_ID_LABEL + self._body()).digest()[:KEY_ID_SIZE]
        object.__setattr__(self, "key_id", kid)

    def _body(self) -> bytes:
        assert self.encryption is not None
        assert self.verification is not None
        enc = _public_raw(self.suite, self.encryption)
        ver = _public_raw(self.suite, self.verification)
        return struct.pack(">H", len(enc)) + enc + struct.pack(">H", len(ver)) + ver

    def __repr__(self) -> str:
        """Name the suite and key id only."""
        return f"PublicKeys({self.suite.value}, key_id={self.key_id.hex()})"

    def __eq__(self, other: object) -> bool:
        """Equal when suite and key id match (the key id is a digest of the keys)."""
        if not isinstance(other, PublicKeys):
            return NotImplemented
        return self.suite is other.suite and self.key_id == other.key_id

    def __hash__(self) -> int:
        """Hash of suite and key id."""
        return hash((self.suite, self.key_id))

    def to_bytes(self) -> bytes:
        """Export for the peer: magic, format, suite id, then both public keys length-prefixed."""
        if self.suite is Suite.SYMMETRIC:
            raise ProtocolUsageError(
                "the symmetric suite has no public part; store the shared secret with "
                "PrivateKeys.to_bytes(passphrase) on both sides instead"
            )
        return _PUB_MAGIC + bytes([_FORMAT, self.suite.wire_id]) + self._body()

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKeys:
        """Import keys exported by `to_bytes`; raise `ProtocolUsageError` on anything else."""
        if not isinstance(data, bytes) or len(data) < 6 or data[:4] != _PUB_MAGIC:
            raise ProtocolUsageError("not sealmeter public keys (bad magic); export them again")
        if data[4] != _FORMAT:
            raise ProtocolUsageError(f"public key format {data[4]} is not supported")
        suite = Suite.from_wire_id(data[5])
        if suite is Suite.SYMMETRIC:
            raise ProtocolUsageError("symmetric keys are never exported as public keys")
        parts: list[bytes] = []
        pos = 6
        for _ in range(2):
            if pos + 2 > len(data):
                raise ProtocolUsageError("public keys are truncated; export them again")
            (size,) = struct.unpack_from(">H", data, pos)
            pos += 2
            if pos + size > len(data):
                raise ProtocolUsageError("public keys are truncated; export them again")
            parts.append(data[pos : pos + size])
            pos += size
        if pos != len(data):
            raise ProtocolUsageError("public keys have trailing bytes; export them again")
        enc = _load_public(suite, parts[0], signing=False)
        ver = _load_public(suite, parts[1], signing=True)
        if isinstance(enc, ed25519.Ed25519PublicKey) or isinstance(ver, x25519.X25519PublicKey):
            raise ProtocolUsageError("public keys are in the wrong order; export them again")
        return cls(suite, enc, ver)


@dataclass(frozen=True, eq=False, repr=False)
class PrivateKeys:
    """A party's private keys in one suite; `public()` gives what the peer needs."""

    suite: Suite
    decryption: EncPrivate | None
    signing: SignPrivate | None
    secret: bytes | None = None
    _public: PublicKeys | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        """Check the keys fit the suite and derive the public half once."""
        suite = self.suite
        if suite is Suite.SYMMETRIC:
            pub = PublicKeys(suite, None, None, self.secret)
        else:
            ok = (
                (
                    suite is Suite.EC_MODERN
                    and isinstance(self.decryption, x25519.X25519PrivateKey)
                    and isinstance(self.signing, ed25519.Ed25519PrivateKey)
                )
                or (
                    suite is Suite.NIST_P256
                    and isinstance(self.decryption, ec.EllipticCurvePrivateKey)
                    and isinstance(self.signing, ec.EllipticCurvePrivateKey)
                    and isinstance(self.decryption.curve, ec.SECP256R1)
                    and isinstance(self.signing.curve, ec.SECP256R1)
                )
                or (
                    suite is Suite.RSA
                    and isinstance(self.decryption, rsa.RSAPrivateKey)
                    and isinstance(self.signing, rsa.RSAPrivateKey)
                    and self.decryption.key_size == RSA_BITS
                    and self.signing.key_size == RSA_BITS
                )
            )
            if not ok:
                raise ProtocolUsageError(f"these keys do not belong to the {suite.value} suite")
            assert self.decryption is not None
            assert self.signing is not None
            pub = PublicKeys(suite, self.decryption.public_key(), self.signing.public_key())
        object.__setattr__(self, "_public", pub)

    def __repr__(self) -> str:
        """Name the suite and key id only; secrets never appear in logs."""
        return f"PrivateKeys({self.suite.value}, key_id={self.key_id.hex()})"

    def public(self) -> PublicKeys:
        """The public half, to give to the peer (for `symmetric`, the shared secret itself)."""
        assert self._public is not None
        return self._public

    @property
    def key_id(self) -> bytes:
        """The key id naming this party in envelope headers."""
        return self.public().key_id

    def to_bytes(self, passphrase: bytes) -> bytes:
        """Serialise encrypted under `passphrase` (PKCS#8 best available, or scrypt+AES-GCM)."""
        if not isinstance(passphrase, bytes) or not passphrase:
            raise ProtocolUsageError("a non-empty passphrase (bytes) is required to store keys")
        head = _PRIV_MAGIC + bytes([_FORMAT, self.suite.wire_id])
        if self.suite is Suite.SYMMETRIC:
            assert self.secret is not None
            salt, nonce = os.urandom(16), os.urandom(12)
            kek = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(passphrase)
            return head + salt + nonce + AESGCM(kek).encrypt(nonce, self.secret, head)
        assert self.decryption is not None
        assert self.signing is not None
        algo = serialization.BestAvailableEncryption(passphrase)
        out = head
        for key in (self.decryption, self.signing):
            der = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, algo
            )
            out += struct.pack(">I", len(der)) + der
        return out

    @classmethod
    def from_bytes(cls, data: bytes, passphrase: bytes) -> PrivateKeys:
        """Load keys written by `to_bytes`; a wrong passphrase or bad bytes raise a usage error."""
        if not isinstance(data, bytes) or len(data) < 6 or data[:4] != _PRIV_MAGIC:
            raise ProtocolUsageError("not sealmeter private keys (bad magic)")
        if data[4] != _FORMAT:
            raise ProtocolUsageError(f"private key format {data[4]} is not supported")
        suite = Suite.from_wire_id(data[5])
        head, body = data[:6], data[6:]
        if suite is Suite.SYMMETRIC:
            if len(body) != 16 + 12 + SYMMETRIC_KEY_SIZE + 16:
                raise ProtocolUsageError("symmetric key file has the wrong length; it is corrupt")
            salt, nonce, sealed = body[:16], body[16:28], body[28:]
            kek = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(passphrase)
            try:
                secret = AESGCM(kek).decrypt(nonce, sealed, head)
            except InvalidTag:
                raise ProtocolUsageError("wrong passphrase, or the key file is corrupt") from None
            return symmetric_keys(secret)
        keys: list[object] = []
        pos = 0
        for _ in range(2):
            if pos + 4 > len(body):
                raise ProtocolUsageError("private key file is truncated")
            (size,) = struct.unpack_from(">I", body, pos)
            pos += 4
            if pos + size > len(body):
                raise ProtocolUsageError("private key file is truncated")
            try:
                keys.append(serialization.load_der_private_key(body[pos : pos + size], passphrase))
            except (ValueError, TypeError, UnsupportedAlgorithm):
                raise ProtocolUsageError("wrong passphrase, or the key file is corrupt") from None
            pos += size
        if pos != len(body):
            raise ProtocolUsageError("private key file has trailing bytes; it is corrupt")
        return cls(suite, keys[0], keys[1])  # type: ignore[arg-type]


def symmetric_keys(secret: bytes) -> PrivateKeys:
    """The `symmetric` suite's keys for one meter from its 32-byte shared secret."""
    if not isinstance(secret, bytes) or len(secret) != SYMMETRIC_KEY_SIZE:
        raise ProtocolUsageError(f"a symmetric secret must be {SYMMETRIC_KEY_SIZE} bytes")
    return PrivateKeys(Suite.SYMMETRIC, None, None, secret)


def generate_keys(suite: Suite = DEFAULT_SUITE) -> PrivateKeys:
    """Generate a fresh key set for `suite` from the operating system's randomness.

    `rsa` generates two 3072-bit keys and takes a second or more.
    """
    if suite is Suite.EC_MODERN:
        return PrivateKeys(
            suite, x25519.X25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
        )
    if suite is Suite.NIST_P256:
        return PrivateKeys(
            suite,
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )
    if suite is Suite.RSA:
        return PrivateKeys(
            suite,
            rsa.generate_private_key(65537, RSA_BITS),
            rsa.generate_private_key(65537, RSA_BITS),
        )
    if suite is Suite.SYMMETRIC:
        return symmetric_keys(os.urandom(SYMMETRIC_KEY_SIZE))
    raise ProtocolUsageError(f"unknown suite {suite!r}")
