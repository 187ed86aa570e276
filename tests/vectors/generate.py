"""Regenerate the protocol test vectors in tests/vectors/{registration,envelope,answer}/.

Run: `.venv/bin/python -m tests.vectors.generate`. Keys come from fixed labels (SHA-256 of a
label) except RSA, whose PEM keys are kept from the existing file so reruns are stable. Every
output is then checked independently by `tests/vectors/check_independent.py` (raw primitives,
no sealmeter code), which the test suite runs too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from sealmeter.protocol import (
    CHAIN_KEY_SIZE,
    BatteryState,
    ClockState,
    Command,
    CommandKind,
    CreditFrame,
    Downlink,
    EnableCode,
    HeadEndChain,
    MeterChain,
    PrivateKeys,
    ProtocolPeerError,
    RegisterUsage,
    Registration,
    RegistrationKind,
    ScheduleUpdate,
    Status,
    Suite,
    TamperEvent,
    TamperKind,
    Uplink,
    encode_downlink,
    encode_registration,
    encode_uplink,
    open_call,
    open_downlink,
    open_uplink,
    registration_body,
    seal_answer,
    seal_call,
    seal_downlink,
    seal_uplink,
    symmetric_keys,
)
from tests.vectors.jsonform import to_json

HERE = Path(__file__).parent
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
METER_ID = "SM-VECTOR-01"
CHAIN_KEY = hashlib.sha256(b"sealmeter vector chain key").digest()
NONCE = hashlib.sha256(b"sealmeter vector meter nonce").digest()[:16]
SEED = hashlib.sha256(b"sealmeter vector seal seed").digest()
ANSWER_SEED = hashlib.sha256(b"sealmeter vector answer seed").digest()


def _label(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_material(suite: Suite, party: str, old: dict[str, Any] | None) -> dict[str, str]:
    """The fixed private key material of `party` in `suite`, as JSON strings."""
    if suite is Suite.EC_MODERN:
        return {
            "x25519": _label(f"{party} x25519").hex(),
            "ed25519": _label(f"{party} ed25519").hex(),
        }
    if suite is Suite.NIST_P256:
        return {
            "p256_decryption": f"{int.from_bytes(_label(f'{party} p256 dec')) % P256_ORDER:064x}",
            "p256_signing": f"{int.from_bytes(_label(f'{party} p256 sig')) % P256_ORDER:064x}",
        }
    if suite is Suite.RSA:
        if old is not None:
            return {
                "rsa_decryption_pem": old["rsa_decryption_pem"],
                "rsa_signing_pem": old["rsa_signing_pem"],
            }
        return {
            "rsa_decryption_pem": _pem(rsa.generate_private_key(65537, 3072)),
            "rsa_signing_pem": _pem(rsa.generate_private_key(65537, 3072)),
        }
    return {"secret": _label("meter symmetric secret").hex()}


def keys_from_material(suite: Suite, m: dict[str, str]) -> PrivateKeys:
    """Build `PrivateKeys` from the JSON key material of a vector."""
    if suite is Suite.EC_MODERN:
        return PrivateKeys(
            suite,
            x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(m["x25519"])),
            ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(m["ed25519"])),
        )
    if suite is Suite.NIST_P256:
        return PrivateKeys(
            suite,
            ec.derive_private_key(int(m["p256_decryption"], 16), ec.SECP256R1()),
            ec.derive_private_key(int(m["p256_signing"], 16), ec.SECP256R1()),
        )
    if suite is Suite.RSA:
        dec = serialization.load_pem_private_key(m["rsa_decryption_pem"].encode(), None)
        sig = serialization.load_pem_private_key(m["rsa_signing_pem"].encode(), None)
        assert isinstance(dec, rsa.RSAPrivateKey)
        assert isinstance(sig, rsa.RSAPrivateKey)
        return PrivateKeys(suite, dec, sig)
    return symmetric_keys(bytes.fromhex(m["secret"]))


def drafts() -> list[Registration]:
    """Three draft registrations: two bands, one band, and an event with four bands."""
    base = Registration(
        0,
        RegistrationKind.REAL_TIME,
        METER_ID,
        (
            RegisterUsage("1.8.1", 1250, Decimal("0.3875")),
            RegisterUsage("1.8.2", 400, Decimal("0.0840")),
        ),
        "residential-2026",
        3,
        T0,
    )
    return [
        base,
        replace(
            base,
            registers=(RegisterUsage("1.8.1", 7, Decimal("0.00217")),),
            time=T0 + timedelta(minutes=15),
        ),
        replace(
            base,
            kind=RegistrationKind.EVENT,
            time=T0 + timedelta(minutes=17, microseconds=250),
            registers=tuple(
                RegisterUsage(f"1.8.{i}", 10 * i, Decimal(i).scaleb(-2)) for i in range(1, 5)
            ),
            currency="CHF",
        ),
    ]


def registration_vectors() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Valid registration vectors (a chain of three) and invalid encodings."""
    chain = MeterChain.start(CHAIN_KEY)
    valid = []
    for d in drafts():
        key, previous = chain.key, chain.last_code
        reg, chain = chain.seal(d)
        valid.append(
            {
                "description": f"registration {reg.seq} of the vector chain",
                "chain_key": key.hex(),
                "previous_code": previous.hex(),
                "message": to_json(reg),
                "body": registration_body(reg).hex(),
                "encoded": encode_registration(reg).hex(),
                "auth_code": reg.auth_code.hex(),
                "next_chain_key": chain.key.hex(),
            }
        )
    good = bytes.fromhex(valid[0]["encoded"])
    invalid = [
        {"description": "empty", "encoded": "", "error": "TruncatedMessage"},
        {
            "description": "cut inside the auth code",
            "encoded": good[:-1].hex(),
            "error": "TruncatedMessage",
        },
        {
            "description": "one trailing byte",
            "encoded": (good + b"\x00").hex(),
            "error": "TrailingData",
        },
        {
            "description": "format version 2",
            "encoded": (b"\x02" + good[1:]).hex(),
            "error": "UnsupportedVersion",
        },
        {
            "description": "message type of an uplink",
            "encoded": (good[:1] + b"\x02" + good[2:]).hex(),
            "error": "MalformedMessage",
        },
        {
            "description": "unknown kind 9",
            "encoded": (good[:10] + b"\x09" + good[11:]).hex(),
            "error": "MalformedMessage",
        },
        {
            "description": "meter id not UTF-8",
            "encoded": (good[:26] + b"\xff" + good[27:]).hex(),
            "error": "MalformedMessage",
        },
    ]
    return valid, invalid


def _up() -> Uplink:
    chain = MeterChain.start(CHAIN_KEY)
    regs = []
    for d in drafts():
        reg, chain = chain.seal(d)
        regs.append(reg)
    status = Status(
        METER_ID,
        T0 + timedelta(minutes=20),
        (
            TamperEvent(TamperKind.HOUSING_OPENED, T0 - timedelta(hours=3)),
            TamperEvent(TamperKind.SUPPLY_OUTAGE, T0 - timedelta(hours=1, microseconds=7)),
        ),
        "residential-2026",
        3,
        T0 - timedelta(days=59),
        None,
        7200,
        T0 - timedelta(hours=5),
        T0 + timedelta(days=1),
        BatteryState.LOW,
        2870,
        ClockState.DRIFTING,
        "1.4.2",
        blocked=False,
    )
    return Uplink(METER_ID, T0 + timedelta(minutes=20), NONCE, tuple(regs), status)


def _down() -> Downlink:
    return Downlink(
        METER_ID,
        T0 + timedelta(minutes=21),
        NONCE,
        EnableCode(
            METER_ID,
            3,
            NONCE,
            T0 + timedelta(days=1),
            CreditFrame(timedelta(days=30), Decimal("50.00")),
        ),
        (
            ScheduleUpdate(
                "residential-2026", 4, T0 + timedelta(days=7), None, b"canonical schedule bytes"
            ),
        ),
        (Command(CommandKind.UNBLOCK),),
    )


def envelope_vectors(
    old: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Valid envelopes (uplink and downlink per suite) and tampered ones with their errors."""
    old_keys = {(v["suite"], v["direction"]): v for v in old}
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for suite in Suite:
        prior = old_keys.get((suite.value, "uplink"))
        meter_m = key_material(suite, "meter", prior["meter_keys"] if prior else None)
        box_m = key_material(suite, "headend", prior["headend_keys"] if prior else None)
        meter, box = keys_from_material(suite, meter_m), keys_from_material(suite, box_m)
        for direction in ("uplink", "downlink"):
            if direction == "uplink":
                message: Uplink | Downlink = _up()
                plain = encode_uplink(message)
                data = seal_uplink(message, meter=meter, headend=box.public(), seed=SEED)
                opened = open_uplink(
                    data,
                    headend=box,
                    meter=meter.public(),
                    meter_id=METER_ID,
                    chain=HeadEndChain.start(CHAIN_KEY),
                )
                assert opened.uplink == message
            else:
                message = _down()
                plain = encode_downlink(message)
                data = seal_downlink(message, headend=box, meter=meter.public(), seed=SEED)
                assert (
                    open_downlink(
                        data,
                        meter=meter,
                        headend=box.public(),
                        meter_id=METER_ID,
                        expected_nonce=NONCE,
                        now=T0,
                    )
                    == message
                )
            valid.append(
                {
                    "description": f"{direction} sealed in suite {suite.value}",
                    "suite": suite.value,
                    "direction": direction,
                    "meter_id": METER_ID,
                    "meter_keys": meter_m,
                    "headend_keys": box_m,
                    "meter_public": ""
                    if suite is Suite.SYMMETRIC
                    else meter.public().to_bytes().hex(),
                    "headend_public": ""
                    if suite is Suite.SYMMETRIC
                    else box.public().to_bytes().hex(),
                    "meter_key_id": meter.key_id.hex(),
                    "headend_key_id": box.key_id.hex(),
                    "seed": SEED.hex(),
                    "chain_key": CHAIN_KEY.hex(),
                    "expected_nonce": NONCE.hex(),
                    "now": T0.isoformat(),
                    "reproducible": suite is not Suite.RSA,
                    "message": to_json(message),
                    "plaintext": plain.hex(),
                    "envelope": data.hex(),
                }
            )
        up = bytes.fromhex(valid[-2]["envelope"])
        sig_len = {Suite.EC_MODERN: 64, Suite.NIST_P256: 64, Suite.RSA: 384, Suite.SYMMETRIC: 0}[
            suite
        ]
        ct_end = len(up) - sig_len
        cases = [
            ("truncated by one byte", up[:-1], "TruncatedMessage"),
            ("one trailing byte", up + b"\x00", "TrailingData"),
            ("envelope version 2", b"\x02" + up[1:], "UnsupportedVersion"),
            ("unknown suite id 0x7f", up[:1] + b"\x7f" + up[2:], "UnknownSuite"),
            ("direction flipped to downlink", up[:2] + b"\x44" + up[3:], "WrongDirection"),
            (
                "last ciphertext byte flipped",
                up[: ct_end - 1] + bytes([up[ct_end - 1] ^ 1]) + up[ct_end:],
                "BadSignature" if sig_len else "DecryptionFailed",
            ),
        ]
        if sig_len:
            cases.append(
                ("last signature byte flipped", up[:-1] + bytes([up[-1] ^ 1]), "BadSignature")
            )
        for description, data, error in cases:
            invalid.append(
                {
                    "description": f"{suite.value} uplink: {description}",
                    "suite": suite.value,
                    "valid_index": len(valid) - 2,
                    "envelope": data.hex(),
                    "error": error,
                }
            )
        # authentic downlinks refused in the meter's context (freshness and addressing)
        down = valid[-1]
        expires = T0 + timedelta(days=1)
        contexts = [
            ("answers an older uplink (nonce differs)", {"expected_nonce": "00" * 16},
             "ReplayedDownlink"),
            ("enable code opened at its expiry", {"now": expires.isoformat()},
             "EnableCodeExpired"),
            ("opened by another meter", {"meter_id": "SM-VECTOR-02"}, "WrongSender"),
        ]  # fmt: skip
        for description, context, error in contexts:
            invalid.append(
                {
                    "description": f"{suite.value} downlink: {description}",
                    "suite": suite.value,
                    "valid_index": len(valid) - 1,
                    "envelope": down["envelope"],
                    "context": context,
                    "error": error,
                }
            )
    return valid, invalid


def answer_vectors(
    envelopes: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per suite a call and its answer (the envelope vectors' keys); answers refused."""
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for base in envelopes:
        if base["direction"] != "uplink":
            continue
        suite = Suite(base["suite"])
        meter = keys_from_material(suite, base["meter_keys"])
        box = keys_from_material(suite, base["headend_keys"])
        up, down = _up(), _down()
        call = seal_call(up, meter=meter, headend=box.public(), seed=SEED)
        opened = open_call(
            call.data,
            headend=box,
            meter=meter.public(),
            meter_id=METER_ID,
            chain=HeadEndChain.start(CHAIN_KEY),
        )
        assert opened.answer_key is not None
        assert opened.answer_key.key == call.answer_key.key
        answer = seal_answer(down, headend=box, answer_key=opened.answer_key, seed=ANSWER_SEED)
        got = open_downlink(
            answer,
            meter=meter,
            headend=box.public(),
            meter_id=METER_ID,
            expected_nonce=NONCE,
            now=T0,
            answer_key=call.answer_key,
        )
        assert got == down
        valid.append(
            {
                "description": f"a call and its answer in suite {suite.value}",
                "suite": suite.value,
                "meter_id": METER_ID,
                "meter_keys": base["meter_keys"],
                "headend_keys": base["headend_keys"],
                "meter_key_id": meter.key_id.hex(),
                "headend_key_id": box.key_id.hex(),
                "call_seed": SEED.hex(),
                "answer_seed": ANSWER_SEED.hex(),
                "chain_key": CHAIN_KEY.hex(),
                "expected_nonce": NONCE.hex(),
                "now": T0.isoformat(),
                "reproducible": suite is not Suite.RSA,
                "call_message": to_json(up),
                "call_plaintext": encode_uplink(up).hex(),
                "call": call.data.hex(),
                "call_id": call.answer_key.call_id.hex(),
                "answer_key": call.answer_key.key.hex(),
                "answer_message": to_json(down),
                "answer_plaintext": encode_downlink(down).hex(),
                "answer": answer.hex(),
            }
        )
        other = seal_call(up, meter=meter, headend=box.public(), seed=ANSWER_SEED).answer_key
        own = call.answer_key
        for description, data, context, key in (
            ("relabelled as a full downlink", answer[:2] + b"\x44" + answer[3:], {}, own),
            ("last byte flipped", answer[:-1] + bytes([answer[-1] ^ 1]), {}, own),
            ("opened by a meter that holds no call (restarted)", answer, {"no_call": True}, None),
            ("opened while another call is outstanding", answer,
             {"other_call_seed": ANSWER_SEED.hex()}, other),
        ):  # fmt: skip
            try:
                open_downlink(
                    data,
                    meter=meter,
                    headend=box.public(),
                    meter_id=METER_ID,
                    expected_nonce=NONCE,
                    now=T0,
                    answer_key=key,
                )
            except ProtocolPeerError as exc:
                error = type(exc).__name__
            else:
                raise AssertionError(f"{suite.value} answer {description}: accepted")
            invalid.append(
                {
                    "description": f"{suite.value} answer: {description}",
                    "suite": suite.value,
                    "valid_index": len(valid) - 1,
                    "answer": data.hex(),
                    "context": context,
                    "error": error,
                }
            )
    return valid, invalid


def _write(path: Path, items: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items, indent=1, sort_keys=True) + "\n")


def main() -> None:
    """Write all vector files."""
    assert len(CHAIN_KEY) == CHAIN_KEY_SIZE
    reg_valid, reg_invalid = registration_vectors()
    _write(HERE / "registration" / "valid.json", reg_valid)
    _write(HERE / "registration" / "invalid.json", reg_invalid)
    old_path = HERE / "envelope" / "valid.json"
    old = json.loads(old_path.read_text()) if old_path.exists() else []
    env_valid, env_invalid = envelope_vectors(old)
    _write(old_path, env_valid)
    _write(HERE / "envelope" / "invalid.json", env_invalid)
    ans_valid, ans_invalid = answer_vectors(env_valid)
    _write(HERE / "answer" / "valid.json", ans_valid)
    _write(HERE / "answer" / "invalid.json", ans_invalid)
    print(
        f"wrote {len(reg_valid)}+{len(reg_invalid)} registration, "
        f"{len(env_valid)}+{len(env_invalid)} envelope and "
        f"{len(ans_valid)}+{len(ans_invalid)} answer vectors"
    )


if __name__ == "__main__":
    main()
