"""The key of the answer to one call, derived from that call's key encapsulation.

Private to the package (`answer` and `envelope` use it). Both sides derive the same key: the
meter when it seals the call, the head-end when it opens it. It never travels and has no
serialised form, so a meter holds it in RAM for its outstanding call only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealmeter.protocol.keys import Suite

__all__ = ["CALL_ID_SIZE", "AnswerKey", "call_transcript", "derive_answer_key"]

CALL_ID_SIZE = 8
"""Bytes of the call id an answer carries in its clear header (in the encapsulation's place)."""

_CALL_LABEL = b"sealmeter/call/v1\x00"
_ANSWER_LABEL = b"sealmeter/answer/v1/"
_KEY_SIZES = {Suite.EC_MODERN: 32, Suite.NIST_P256: 16, Suite.RSA: 32, Suite.SYMMETRIC: 32}
# per suite: the HKDF info's fixed start and the key size (built once, not per call)
_PER_SUITE = {s: (_ANSWER_LABEL + s.value.encode() + b"\x00", n) for s, n in _KEY_SIZES.items()}
_SHA256 = hashes.SHA256()
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class AnswerKey:
    """What opens (meter) or seals (head-end) the answer to one call; keep it in RAM only.

    `call_id` names the call (the first 8 bytes of its transcript hash) in the answer's clear
    header; `nonce` is the call's uplink nonce, which the answer must echo; the key ids name
    the two parties. The key itself never appears in `repr` or logs.
    """

    suite: Suite
    meter_id: str
    call_id: bytes
    meter_key_id: bytes
    headend_key_id: bytes
    nonce: bytes
    key: bytes

    def __repr__(self) -> str:
        """Name the suite, meter and call only; the key never appears in logs."""
        return f"AnswerKey({self.suite.value}, {self.meter_id!r}, call_id={self.call_id.hex()})"

    def aead(self) -> AESGCM | ChaCha20Poly1305:
        """The suite's AEAD under this key (ChaCha20-Poly1305 in ec-modern, else AES-GCM)."""
        if self.suite is Suite.EC_MODERN:
            return ChaCha20Poly1305(self.key)
        return AESGCM(self.key)


def call_transcript(call_envelope: bytes) -> bytes:
    """SHA-256 of the whole sealed call (label-prefixed): what binds the answer to it."""
    return hashlib.sha256(_CALL_LABEL + bytes(call_envelope)).digest()


def derive_answer_key(
    suite: Suite,
    secret: bytes,
    call_envelope: bytes,
    *,
    meter_id: str,
    meter_key_id: bytes,
    headend_key_id: bytes,
    nonce: bytes,
) -> AnswerKey:
    """The answer key of the call `call_envelope` whose key encapsulation gave `secret`.

    HKDF-SHA256 (no salt) of the call's shared secret (the symmetric suite: the per-meter
    secret), info = `sealmeter/answer/v1/` || suite name || 0x00 || transcript hash: a label
    no other key of the protocol uses, bound to every byte of this call (its encapsulation,
    nonces, ciphertext and signature), so no two calls share an answer key.
    """
    transcript = _sha256(_CALL_LABEL + call_envelope).digest()  # call_transcript, inlined
    start, size = _PER_SUITE[suite]
    key = HKDF(_SHA256, size, None, start + transcript).derive(secret)
    return AnswerKey(
        suite, meter_id, transcript[:CALL_ID_SIZE], meter_key_id, headend_key_id, nonce, key
    )
