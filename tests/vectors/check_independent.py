"""Check the vectors with raw `cryptography` primitives only, from the byte layout in
docs/protocol.md: no sealmeter code is imported here, so a bug in sealmeter's framing, key
derivation or chain cannot hide in both the producer and the checker.

Run: `.venv/bin/python -m tests.vectors.check_independent` (the test suite runs it too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).parent
SUITE_IDS = {"ec-modern": 1, "nist-p256": 2, "rsa": 3, "symmetric": 4}
ENCAP = {"ec-modern": 32, "nist-p256": 33, "rsa": 384, "symmetric": 0}
SIG = {"ec-modern": 64, "nist-p256": 64, "rsa": 384, "symmetric": 0}
DIRECTION = {"uplink": 0x55, "downlink": 0x44, "call": 0x43, "answer": 0x41}
ANSWER_KEY_SIZE = {"ec-modern": 32, "nist-p256": 16, "rsa": 32, "symmetric": 32}


def check_registrations(vectors: list[dict[str, Any]]) -> int:
    """Recompute every chain code and key evolution with HMAC-SHA256; return vectors checked."""
    previous_key = None
    for v in vectors:
        key = bytes.fromhex(v["chain_key"])
        if previous_key is not None:
            assert key == previous_key, v["description"]
        body = bytes.fromhex(v["body"])
        code = hmac.new(
            key,
            b"sealmeter/chain/code/v1" + bytes.fromhex(v["previous_code"]) + body,
            hashlib.sha256,
        ).digest()
        assert code.hex() == v["auth_code"], v["description"]
        encoded = bytes.fromhex(v["encoded"])
        assert encoded == body + bytes([len(code)]) + code, v["description"]
        next_key = hmac.new(key, b"sealmeter/chain/key/v1", hashlib.sha256).digest()
        assert next_key.hex() == v["next_chain_key"], v["description"]
        previous_key = next_key
    return len(vectors)


_LOADED: dict[str, tuple[Any, Any]] = {}


def _private(suite: str, m: dict[str, str]) -> tuple[Any, Any]:
    cache_key = json.dumps([suite, m], sort_keys=True)
    if cache_key not in _LOADED:
        _LOADED[cache_key] = _load_private(suite, m)
    return _LOADED[cache_key]


def _load_private(suite: str, m: dict[str, str]) -> tuple[Any, Any]:
    if suite == "ec-modern":
        return (
            x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(m["x25519"])),
            ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(m["ed25519"])),
        )
    if suite == "nist-p256":
        return (
            ec.derive_private_key(int(m["p256_decryption"], 16), ec.SECP256R1()),
            ec.derive_private_key(int(m["p256_signing"], 16), ec.SECP256R1()),
        )
    if suite == "rsa":
        return (
            serialization.load_pem_private_key(m["rsa_decryption_pem"].encode(), None),
            serialization.load_pem_private_key(m["rsa_signing_pem"].encode(), None),
        )
    return bytes.fromhex(m["secret"]), None


def _public_body(suite: str, enc: Any, sig: Any) -> bytes:
    if suite == "ec-modern":
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    elif suite == "nist-p256":
        raw = serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    else:
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    a = enc.public_key().public_bytes(*raw)
    b = sig.public_key().public_bytes(*raw)
    return struct.pack(">H", len(a)) + a + struct.pack(">H", len(b)) + b


def _key_id(suite: str, keys: tuple[Any, Any]) -> bytes:
    if suite == "symmetric":
        return hmac.new(keys[0], b"sealmeter/key-id/v1", hashlib.sha256).digest()[:8]
    return hashlib.sha256(b"sealmeter/key-id/v1" + _public_body(suite, *keys)).digest()[:8]


def _open(v: dict[str, Any], data: bytes) -> bytes:
    """Parse, verify and decrypt one envelope by hand; return the plaintext."""
    return _open_with_secret(v, data)[0]


def _open_with_secret(v: dict[str, Any], data: bytes) -> tuple[bytes, bytes]:
    """`_open`, also returning the key encapsulation's shared secret (the answer key's input)."""
    suite = v["suite"]
    meter = _private(suite, v["meter_keys"])
    box = _private(suite, v["headend_keys"])
    sender, recipient = (meter, box) if v["direction"] in ("uplink", "call") else (box, meter)
    assert data[0] == 1
    assert data[1] == SUITE_IDS[suite]
    assert data[2] == DIRECTION[v["direction"]]
    n = data[3]
    assert data[4 : 4 + n].decode() == v["meter_id"]
    pos = 4 + n
    assert data[pos : pos + 8] == _key_id(suite, sender)
    assert data[pos + 8 : pos + 16] == _key_id(suite, recipient)
    recipient_id = data[pos + 8 : pos + 16]
    pos += 16
    encap = data[pos : pos + ENCAP[suite]]
    pos += ENCAP[suite]
    nonce = data[pos : pos + 12]
    (ct_len,) = struct.unpack_from(">I", data, pos + 12)
    pos += 16
    associated = data[:pos]
    ciphertext = data[pos : pos + ct_len]
    signed = data[: pos + ct_len]
    signature = data[pos + ct_len :]
    assert len(signature) == SIG[suite]
    info = b"sealmeter/v1/" + suite.encode() + b"\x00" + encap + recipient_id
    if suite == "ec-modern":
        sender[1].public_key().verify(signature, signed)
        shared = recipient[0].exchange(x25519.X25519PublicKey.from_public_bytes(encap))
        key = HKDF(hashes.SHA256(), 32, None, info).derive(shared)
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, associated), shared
    if suite == "nist-p256":
        r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
        sender[1].public_key().verify(
            utils.encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256())
        )
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), encap)
        shared = recipient[0].exchange(ec.ECDH(), point)
        key = HKDF(hashes.SHA256(), 16, None, info).derive(shared)
        return AESGCM(key).decrypt(nonce, ciphertext, associated), shared
    if suite == "rsa":
        assert isinstance(sender[1], rsa.RSAPrivateKey)
        sender[1].public_key().verify(
            signature,
            signed,
            padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        content_key = recipient[0].decrypt(encap, oaep)
        return AESGCM(content_key).decrypt(nonce, ciphertext, associated), content_key
    return AESGCM(recipient[0]).decrypt(nonce, ciphertext, associated), recipient[0]


def check_envelopes(vectors: list[dict[str, Any]]) -> int:
    """Open every valid envelope by hand and compare with its plaintext; return count."""
    for v in vectors:
        plain = _open(v, bytes.fromhex(v["envelope"]))
        assert plain.hex() == v["plaintext"], v["description"]
        ids = (v["meter_key_id"], v["headend_key_id"])
        suite = v["suite"]
        assert _key_id(suite, _private(suite, v["meter_keys"])).hex() == ids[0]
        assert _key_id(suite, _private(suite, v["headend_keys"])).hex() == ids[1]
    return len(vectors)


def check_invalid_envelopes(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> int:
    """Every invalid envelope must fail the hand-written opener too; return count."""
    for v in invalid:
        if "context" in v:
            # authentic bytes refused only in the meter's context (nonce, expiry, meter id):
            # the envelope itself must open, and those checks belong to the decoder
            base = valid[v["valid_index"]]
            assert _open(base, bytes.fromhex(v["envelope"])).hex() == base["plaintext"]
            continue
        try:
            _open(valid[v["valid_index"]], bytes.fromhex(v["envelope"]))
        except Exception:
            continue
        raise AssertionError(f"independent opener accepted: {v['description']}")
    return len(invalid)


def _answer_key(v: dict[str, Any], call: bytes) -> tuple[bytes, bytes]:
    """Open the call by hand and derive its (call id, answer key) as docs/protocol.md says."""
    plain, shared = _open_with_secret({**v, "direction": "call"}, call)
    assert plain.hex() == v["call_plaintext"], v["description"]
    transcript = hashlib.sha256(b"sealmeter/call/v1\x00" + call).digest()
    info = b"sealmeter/answer/v1/" + v["suite"].encode() + b"\x00" + transcript
    key = HKDF(hashes.SHA256(), ANSWER_KEY_SIZE[v["suite"]], None, info).derive(shared)
    return transcript[:8], key


def _open_answer(v: dict[str, Any], data: bytes, call_id: bytes, key: bytes) -> bytes:
    """Parse, verify and decrypt an answer by hand with the call's answer key."""
    suite = v["suite"]
    box = _private(suite, v["headend_keys"])
    meter = _private(suite, v["meter_keys"])
    assert data[0] == 1
    assert data[1] == SUITE_IDS[suite]
    assert data[2] == DIRECTION["answer"]
    n = data[3]
    assert data[4 : 4 + n].decode() == v["meter_id"]
    pos = 4 + n
    assert data[pos : pos + 8] == _key_id(suite, box)
    assert data[pos + 8 : pos + 16] == _key_id(suite, meter)
    pos += 16
    assert data[pos : pos + 8] == call_id
    nonce = data[pos + 8 : pos + 20]
    (ct_len,) = struct.unpack_from(">I", data, pos + 20)
    pos += 24
    associated, ciphertext = data[:pos], data[pos : pos + ct_len]
    signed, signature = data[: pos + ct_len], data[pos + ct_len :]
    assert len(signature) == SIG[suite]
    if suite == "ec-modern":
        box[1].public_key().verify(signature, signed)
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, associated)
    if suite == "nist-p256":
        r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
        box[1].public_key().verify(
            utils.encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256())
        )
    elif suite == "rsa":
        box[1].public_key().verify(
            signature,
            signed,
            padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
            hashes.SHA256(),
        )
    return AESGCM(key).decrypt(nonce, ciphertext, associated)


def check_answers(vectors: list[dict[str, Any]]) -> int:
    """Derive each call's answer key by hand, open the answer, compare; return count."""
    for v in vectors:
        call_id, key = _answer_key(v, bytes.fromhex(v["call"]))
        assert call_id.hex() == v["call_id"], v["description"]
        assert key.hex() == v["answer_key"], v["description"]
        plain = _open_answer(v, bytes.fromhex(v["answer"]), call_id, key)
        assert plain.hex() == v["answer_plaintext"], v["description"]
    return len(vectors)


def check_invalid_answers(valid: list[dict[str, Any]], invalid: list[dict[str, Any]]) -> int:
    """Every refused answer must fail the hand-written opener with its call's key; count."""
    for v in invalid:
        base = valid[v["valid_index"]]
        if v["context"]:
            # authentic, refused only for the meter's state (no call held, another call):
            # with the right call's key it opens; with another call's id it must not
            call_id, key = _answer_key(base, bytes.fromhex(base["call"]))
            assert _open_answer(base, bytes.fromhex(v["answer"]), call_id, key)
            try:
                _open_answer(base, bytes.fromhex(v["answer"]), bytes(8), key)
            except AssertionError:
                continue
            raise AssertionError(f"answer opened under another call id: {v['description']}")
        call_id, key = bytes.fromhex(base["call_id"]), bytes.fromhex(base["answer_key"])
        try:
            _open_answer(base, bytes.fromhex(v["answer"]), call_id, key)
        except Exception:
            continue
        raise AssertionError(f"independent opener accepted: {v['description']}")
    return len(invalid)


def main() -> None:
    """Check every vector file; print the counts."""
    regs = json.loads((HERE / "registration" / "valid.json").read_text())
    valid = json.loads((HERE / "envelope" / "valid.json").read_text())
    invalid = json.loads((HERE / "envelope" / "invalid.json").read_text())
    answers = json.loads((HERE / "answer" / "valid.json").read_text())
    refused = json.loads((HERE / "answer" / "invalid.json").read_text())
    print(
        f"independently checked {check_registrations(regs)} registration, "
        f"{check_envelopes(valid)} valid and {check_invalid_envelopes(valid, invalid)} "
        f"invalid envelope, {check_answers(answers)} valid and "
        f"{check_invalid_answers(answers, refused)} invalid answer vectors"
    )


if __name__ == "__main__":
    main()
