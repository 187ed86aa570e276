"""Private keys that live in a PKCS#11 token: the operations run there, the keys never leave.

The protocol core takes its private keys as pyca `cryptography` key objects and only ever
calls their operations: `exchange` (ECDH, to open an envelope), `sign` (to seal an answer)
and `public_key`. That is the hook: `TokenP256Key` and `TokenEd25519Key` are such key
objects (subclasses of `cryptography`'s own abstract key classes) whose operations are
PKCS#11 calls on a key the token generated as sensitive and non-extractable:

- P-256 ECDH is `CKM_ECDH1_DERIVE` with no KDF; the shared secret comes back as a one-use
  extractable generic secret (the protocol core feeds it to HKDF, as with a software key);
- P-256 ECDSA is `CKM_ECDSA` over the SHA-256 digest, hashed here (hashing is not a secret
  operation), returned DER-encoded as `cryptography` does;
- Ed25519 is `CKM_EDDSA` over the message.

Asking such a key for its private bytes raises `KeyStoreError`: they are not to be had.
A PKCS#11 session is not safe to use from two threads at once, so every operation holds the
session's lock.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, NoReturn, Self

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

from sealmeter.headend.errors import KeyStoreError

__all__ = ["TokenEd25519Key", "TokenP256Key", "TokenSession"]


class TokenSession:
    """An open PKCS#11 session shared by the keys it holds, with its lock."""

    def __init__(self, session: Any) -> None:
        """Wrap an open python-pkcs11 `Session` (logged in as the user)."""
        self.session = session
        self.lock = threading.Lock()

    def close(self) -> None:
        """Close the session; the keys using it stop working."""
        with self.lock:
            self.session.close()


def _not_extractable() -> NoReturn:
    raise KeyStoreError(
        "this private key is held in the PKCS#11 token and cannot be exported; back the "
        "token up with the HSM's own tools"
    )


def _point(ec_point: bytes) -> bytes:
    """The raw point inside a token's `CKA_EC_POINT` (DER OCTET STRING or raw)."""
    if len(ec_point) >= 2 and ec_point[0] == 0x04 and ec_point[1] == len(ec_point) - 2:
        return ec_point[2:]  # short-form OCTET STRING
    return ec_point


class _InToken:
    """What every key held in the token shares: copies are the same key, the repr says where."""

    def __copy__(self) -> Self:
        """The same token key."""
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Self:
        """The same token key (it cannot be copied out of the token)."""
        return self

    def __repr__(self) -> str:
        """Say where the key is; nothing secret is here to show."""
        return f"{type(self).__name__}(in PKCS#11 token)"


class TokenP256Key(_InToken, ec.EllipticCurvePrivateKey):
    """A P-256 private key in the token: ECDH and ECDSA run there."""

    def __init__(self, token: TokenSession, key: Any, public: ec.EllipticCurvePublicKey) -> None:
        """`key` is the token's private key object, `public` its public half."""
        self._token = token
        self._key = key
        self._public = public

    @classmethod
    def from_token(cls, token: TokenSession, key: Any, ec_point: bytes) -> TokenP256Key:
        """Wrap `key`, whose public key's `CKA_EC_POINT` is `ec_point`."""
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _point(ec_point))
        return cls(token, key, public)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """ECDH with `peer_public_key` inside the token; the shared secret."""
        import pkcs11
        from pkcs11 import KDF, Attribute, KeyType

        if not isinstance(algorithm, ec.ECDH) or not isinstance(
            peer_public_key.curve, ec.SECP256R1
        ):
            raise ValueError("the token key does ECDH on P-256 only")
        peer = peer_public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        with self._token.lock:
            try:
                secret = self._key.derive_key(
                    KeyType.GENERIC_SECRET,
                    256,
                    mechanism_param=(KDF.NULL, None, peer),
                    template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
                    store=False,
                )
                value = bytes(secret[Attribute.VALUE])
                secret.destroy()
            except pkcs11.PKCS11Error as exc:
                raise ValueError(f"the token refused the key agreement: {exc!r}") from None
        return value

    def sign(self, data: bytes | bytearray | memoryview, signature_algorithm: Any) -> bytes:
        """ECDSA over SHA-256 of `data` inside the token; DER-encoded like `cryptography`'s."""
        import pkcs11
        from pkcs11 import Mechanism

        if not (
            isinstance(signature_algorithm, ec.ECDSA)
            and isinstance(signature_algorithm.algorithm, hashes.SHA256)
        ):
            raise ValueError("the token key signs ECDSA with SHA-256 only")
        digest = hashlib.sha256(bytes(data)).digest()
        with self._token.lock:
            try:
                raw = bytes(self._key.sign(digest, mechanism=Mechanism.ECDSA))
            except pkcs11.PKCS11Error as exc:
                raise KeyStoreError(f"the token refused to sign: {exc!r}") from None
        return utils.encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half (read from the token when the key was opened)."""
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        """SECP256R1."""
        return ec.SECP256R1()

    @property
    def key_size(self) -> int:
        """256."""
        return 256

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        """Refused: the key does not leave the token."""
        _not_extractable()

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Refused: the key does not leave the token."""
        _not_extractable()


class TokenEd25519Key(_InToken, ed25519.Ed25519PrivateKey):
    """An Ed25519 private key in the token: signatures run there."""

    def __init__(self, token: TokenSession, key: Any, public: ed25519.Ed25519PublicKey) -> None:
        """`key` is the token's private key object, `public` its public half."""
        self._token = token
        self._key = key
        self._public = public

    @classmethod
    def from_token(cls, token: TokenSession, key: Any, ec_point: bytes) -> TokenEd25519Key:
        """Wrap `key`, whose public key's `CKA_EC_POINT` is `ec_point`."""
        return cls(token, key, ed25519.Ed25519PublicKey.from_public_bytes(_point(ec_point)))

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        """Ed25519 signature of `data`, made by the token."""
        import pkcs11
        from pkcs11 import Mechanism

        with self._token.lock:
            try:
                return bytes(self._key.sign(bytes(data), mechanism=Mechanism.EDDSA))
            except pkcs11.PKCS11Error as exc:
                raise KeyStoreError(f"the token refused to sign: {exc!r}") from None

    def public_key(self) -> ed25519.Ed25519PublicKey:
        """The public half (read from the token when the key was opened)."""
        return self._public

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Refused: the key does not leave the token."""
        _not_extractable()

    def private_bytes_raw(self) -> bytes:
        """Refused: the key does not leave the token."""
        _not_extractable()
