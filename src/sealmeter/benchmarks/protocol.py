"""Benchmark of the protocol: full uplink seal and open per suite beside the bare primitives.

`seal` is `seal_uplink` (encode, encapsulate, encrypt, sign); `open` is `open_uplink`
(parse, pin checks, verify, decapsulate, decrypt, decode, MAC-chain check). The baseline
makes the same pyca `cryptography` calls on plaintext of the same size, in the same run, with
no framing; `ratio_to_primitives` is our rate divided by the baseline's (1.0 = framing is free).

`answer` compares, per suite, the two ways the head-end can answer that uplink (issue 7): a
downlink sealed in full (`seal_downlink`: a fresh key encapsulation and a signature) and an
answer keyed by the call (`seal_answer`), and the meter's opening of each; both sides are ours,
alternated call by call. `call_overhead_us` is what sealing the uplink as a call
(`seal_call`) and opening it with `open_call` add to `seal_uplink`/`open_uplink`: deriving the
answer key.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sealmeter.protocol import (
    BatteryState,
    ClockState,
    CreditFrame,
    Downlink,
    EnableCode,
    HeadEndChain,
    MeterChain,
    PrivateKeys,
    RegisterUsage,
    Registration,
    RegistrationKind,
    Status,
    Suite,
    Uplink,
    encode_registration,
    encode_uplink,
    generate_keys,
    open_call,
    open_downlink,
    open_uplink,
    seal_answer,
    seal_call,
    seal_downlink,
    seal_uplink,
)

__all__ = ["run"]

_T0 = datetime(2026, 3, 1, tzinfo=UTC)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _workload(registrations: int) -> tuple[Uplink, bytes]:
    """An uplink of `registrations` sealed two-band registrations and a status; chain key."""
    key = bytes(range(32))
    chain = MeterChain.start(key)
    regs = []
    for i in range(registrations):
        draft = Registration(
            0,
            RegistrationKind.REAL_TIME,
            "SM-BENCH-0001",
            (
                RegisterUsage("1.8.1", 250 + i, Decimal("0.0775")),
                RegisterUsage("1.8.2", 0, Decimal("0.00")),
            ),
            "residential-2026",
            3,
            _T0 + timedelta(minutes=15 * i),
        )
        reg, chain = chain.seal(draft)
        regs.append(reg)
    status = Status(
        "SM-BENCH-0001", _T0, (), "residential-2026", 3, _T0, None, 5400, _T0,
        _T0 + timedelta(days=1), BatteryState.OK, 3000, ClockState.SYNCED, "1.0.0",
    )  # fmt: skip
    return Uplink("SM-BENCH-0001", _T0, os.urandom(16), tuple(regs), status), key


def _best_rates(
    ours: Callable[[], object], bare: Callable[[], object], seconds: float, rounds: int
) -> tuple[float, float]:
    """Rates from the median time per call, ours and bare called alternately.

    Alternating call by call makes both sides sample the same machine load, and the median
    ignores the calls a busy machine interrupted. `rounds` warm-up pairs run first.
    """
    for _ in range(rounds):
        ours()
        bare()
    clock = time.perf_counter
    ours_times: list[float] = []
    bare_times: list[float] = []
    deadline = clock() + seconds
    while clock() < deadline or len(ours_times) < 5:
        t0 = clock()
        ours()
        t1 = clock()
        bare()
        t2 = clock()
        ours_times.append(t1 - t0)
        bare_times.append(t2 - t1)
    return 1 / statistics.median(ours_times), 1 / statistics.median(bare_times)


def _shake(seed: bytes, label: bytes, size: int) -> bytes:
    return hashlib.shake_256(b"sealmeter/seed/v1/" + label + b"\x00" + seed).digest(size)


def _bare_seal(meter: PrivateKeys, box: PrivateKeys, plaintext: bytes, header: bytes) -> bytes:
    """The primitive calls of one seal, with no framing or encoding."""
    seed = os.urandom(32)
    nonce = _shake(seed, b"nonce", 12)
    suite = meter.suite
    if suite is Suite.EC_MODERN:
        assert isinstance(box.decryption, x25519.X25519PrivateKey)
        assert isinstance(meter.signing, ed25519.Ed25519PrivateKey)
        eph = x25519.X25519PrivateKey.from_private_bytes(_shake(seed, b"ephemeral", 32))
        encap = eph.public_key().public_bytes_raw()
        shared = eph.exchange(box.public().encryption)  # type: ignore[arg-type]
        key = HKDF(hashes.SHA256(), 32, None, header + encap).derive(shared)
        ct = ChaCha20Poly1305(key).encrypt(nonce, plaintext, header)
        return meter.signing.sign(header + encap + ct)
    if suite is Suite.NIST_P256:
        assert isinstance(meter.signing, ec.EllipticCurvePrivateKey)
        scalar = int.from_bytes(_shake(seed, b"ephemeral", 48)) % (_P256_N - 1) + 1
        eph_ec = ec.derive_private_key(scalar, ec.SECP256R1())
        encap = eph_ec.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        shared = eph_ec.exchange(ec.ECDH(), box.public().encryption)  # type: ignore[arg-type]
        key = HKDF(hashes.SHA256(), 16, None, header + encap).derive(shared)
        ct = AESGCM(key).encrypt(nonce, plaintext, header)
        r, s = utils.decode_dss_signature(meter.signing.sign(header + ct, _ECDSA))
        return r.to_bytes(32) + s.to_bytes(32)
    if suite is Suite.RSA:
        assert isinstance(meter.signing, rsa.RSAPrivateKey)
        content_key = _shake(seed, b"content-key", 32)
        wrapped = box.public().encryption.encrypt(content_key, _OAEP)  # type: ignore[union-attr]
        ct = AESGCM(content_key).encrypt(nonce, plaintext, header)
        return meter.signing.sign(header + wrapped + ct, _PSS, hashes.SHA256())
    assert meter.secret is not None
    return AESGCM(meter.secret).encrypt(nonce, plaintext, header)


class _BareOpen:
    """The primitive calls of one open (and of the chain check), prepared once."""

    def __init__(self, meter: PrivateKeys, box: PrivateKeys, plaintext: bytes, up: Uplink):
        self.meter, self.box, self.header = meter, box, bytes(48)
        self.nonce = os.urandom(12)
        self.regs = [(encode_registration(r), r.auth_code) for r in up.registrations]
        self.chain_key = bytes(range(32))
        suite = meter.suite
        self.encap = b""
        if suite is Suite.EC_MODERN:
            eph = x25519.X25519PrivateKey.generate()
            self.encap = eph.public_key().public_bytes_raw()
            shared = eph.exchange(box.public().encryption)  # type: ignore[arg-type]
            self.key = HKDF(hashes.SHA256(), 32, None, self.header + self.encap).derive(shared)
            self.ct = ChaCha20Poly1305(self.key).encrypt(self.nonce, plaintext, self.header)
        elif suite is Suite.NIST_P256:
            eph_ec = ec.generate_private_key(ec.SECP256R1())
            self.encap = eph_ec.public_key().public_bytes(
                Encoding.X962, PublicFormat.CompressedPoint
            )
            shared = eph_ec.exchange(ec.ECDH(), box.public().encryption)  # type: ignore[arg-type]
            self.key = HKDF(hashes.SHA256(), 16, None, self.header + self.encap).derive(shared)
            self.ct = AESGCM(self.key).encrypt(self.nonce, plaintext, self.header)
        elif suite is Suite.RSA:
            self.key = os.urandom(32)
            self.encap = box.public().encryption.encrypt(self.key, _OAEP)  # type: ignore[union-attr]
            self.ct = AESGCM(self.key).encrypt(self.nonce, plaintext, self.header)
        else:
            assert meter.secret is not None
            self.ct = AESGCM(meter.secret).encrypt(self.nonce, plaintext, self.header)
        self.signed = self.header + self.encap + self.ct
        self.sig = _bare_seal_signature(meter, self.signed)

    def __call__(self) -> bytes:
        """Verify, decapsulate, decrypt and walk the chain, with raw primitives only."""
        verifier, decrypter = self.meter.public().verification, self.box.decryption
        if isinstance(verifier, ed25519.Ed25519PublicKey):
            assert isinstance(decrypter, x25519.X25519PrivateKey)
            verifier.verify(self.sig, self.signed)
            peer = x25519.X25519PublicKey.from_public_bytes(self.encap)
            shared = decrypter.exchange(peer)
            key = HKDF(hashes.SHA256(), 32, None, self.header + self.encap).derive(shared)
            plain = ChaCha20Poly1305(key).decrypt(self.nonce, self.ct, self.header)
        elif isinstance(verifier, ec.EllipticCurvePublicKey):
            assert isinstance(decrypter, ec.EllipticCurvePrivateKey)
            r, s = int.from_bytes(self.sig[:32]), int.from_bytes(self.sig[32:])
            verifier.verify(utils.encode_dss_signature(r, s), self.signed, _ECDSA)
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.encap)
            shared = decrypter.exchange(ec.ECDH(), point)
            key = HKDF(hashes.SHA256(), 16, None, self.header + self.encap).derive(shared)
            plain = AESGCM(key).decrypt(self.nonce, self.ct, self.header)
        elif isinstance(verifier, rsa.RSAPublicKey):
            assert isinstance(decrypter, rsa.RSAPrivateKey)
            verifier.verify(self.sig, self.signed, _PSS, hashes.SHA256())
            key = decrypter.decrypt(self.encap, _OAEP)
            plain = AESGCM(key).decrypt(self.nonce, self.ct, self.header)
        else:
            assert self.meter.secret is not None
            plain = AESGCM(self.meter.secret).decrypt(self.nonce, self.ct, self.header)
        chain_key, previous = self.chain_key, bytes(32)
        for body, _code in self.regs:
            mac = crypto_hmac.HMAC(chain_key, hashes.SHA256())
            mac.update(b"sealmeter/chain/code/v1")
            mac.update(previous)
            mac.update(body)
            previous = mac.finalize()
            evolve = crypto_hmac.HMAC(chain_key, hashes.SHA256())
            evolve.update(b"sealmeter/chain/key/v1")
            chain_key = evolve.finalize()
            hashlib.sha256(body).digest()
        return plain


def _bare_seal_signature(meter: PrivateKeys, data: bytes) -> bytes:
    key = meter.signing
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = utils.decode_dss_signature(key.sign(data, _ECDSA))
        return r.to_bytes(32) + s.to_bytes(32)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _PSS, hashes.SHA256())
    return b""


def _answer_figures(
    meter: PrivateKeys, box: PrivateKeys, up: Uplink, chain: HeadEndChain, seconds: float,
    rounds: int,
) -> dict[str, Any]:  # fmt: skip
    """Per-call µs of answering `up` in full vs keyed by its call (see the module docstring)."""
    meter_pub, box_pub = meter.public(), box.public()
    call = seal_call(up, meter=meter, headend=box_pub)
    opened = open_call(call.data, headend=box, meter=meter_pub, meter_id=up.meter_id, chain=chain)
    assert opened.answer_key is not None
    key = opened.answer_key
    code = EnableCode(
        up.meter_id, up.registrations[-1].seq if up.registrations else 0, up.nonce,
        _T0 + timedelta(days=2), CreditFrame(timedelta(days=7), Decimal("100.00")),
    )  # fmt: skip
    down = Downlink(up.meter_id, _T0 + timedelta(hours=1), up.nonce, code)
    full = seal_downlink(down, headend=box, meter=meter_pub)
    answer = seal_answer(down, headend=box, answer_key=key)
    full_rate, answer_rate = _best_rates(
        lambda: seal_downlink(down, headend=box, meter=meter_pub),
        lambda: seal_answer(down, headend=box, answer_key=key),
        seconds,
        rounds,
    )
    now = _T0 + timedelta(hours=1)

    def open_full() -> object:
        return open_downlink(
            full, meter=meter, headend=box_pub, meter_id=up.meter_id, expected_nonce=up.nonce,
            now=now,
        )  # fmt: skip

    def open_answer() -> object:
        return open_downlink(
            answer, meter=meter, headend=box_pub, meter_id=up.meter_id,
            expected_nonce=up.nonce, now=now, answer_key=call.answer_key,
        )  # fmt: skip

    open_full_rate, open_answer_rate = _best_rates(open_full, open_answer, seconds, rounds)
    uplink_rate, call_rate = _best_rates(
        lambda: seal_uplink(up, meter=meter, headend=box_pub),
        lambda: seal_call(up, meter=meter, headend=box_pub),
        seconds,
        rounds,
    )
    open_uplink_rate, open_call_rate = _best_rates(
        lambda: open_uplink(
            call.data, headend=box, meter=meter_pub, meter_id=up.meter_id, chain=chain
        ),
        lambda: open_call(
            call.data, headend=box, meter=meter_pub, meter_id=up.meter_id, chain=chain
        ),
        seconds,
        rounds,
    )
    return {
        "seal_downlink_us": round(1e6 / full_rate, 1),
        "seal_answer_us": round(1e6 / answer_rate, 1),
        "open_downlink_us": round(1e6 / open_full_rate, 1),
        "open_answer_us": round(1e6 / open_answer_rate, 1),
        "call_overhead_us": {
            "seal": round(1e6 / call_rate - 1e6 / uplink_rate, 1),
            "open": round(1e6 / open_call_rate - 1e6 / open_uplink_rate, 1),
        },
        "downlink_bytes": len(full),
        "answer_bytes": len(answer),
    }


def _suite_figures(suite: Suite, registrations: int, seconds: float, rounds: int) -> dict[str, Any]:
    meter = generate_keys(suite)
    box = meter if suite is Suite.SYMMETRIC else generate_keys(suite)
    up, chain_key = _workload(registrations)
    plaintext = encode_uplink(up)
    header = bytes(48)
    data = seal_uplink(up, meter=meter, headend=box.public())
    start = HeadEndChain.start(chain_key)
    meter_pub = meter.public()
    box_pub = box.public()

    def seal() -> bytes:
        return seal_uplink(up, meter=meter, headend=box_pub)

    def open_() -> object:
        return open_uplink(data, headend=box, meter=meter_pub, meter_id=up.meter_id, chain=start)

    bare_open = _BareOpen(meter, box, plaintext, up)
    seal_rate, bare_seal_rate = _best_rates(
        seal, lambda: _bare_seal(meter, box, plaintext, header), seconds, rounds
    )
    open_rate, bare_open_rate = _best_rates(open_, bare_open, seconds, rounds)
    answer = _answer_figures(meter, box, up, start, seconds, rounds)
    return {
        "envelope_bytes": len(data),
        "plaintext_bytes": len(plaintext),
        "seal_per_s": round(seal_rate, 1),
        "open_per_s": round(open_rate, 1),
        "primitives_seal_per_s": round(bare_seal_rate, 1),
        "primitives_open_per_s": round(bare_open_rate, 1),
        "ratio_to_primitives": {
            "seal": round(seal_rate / bare_seal_rate, 3),
            "open": round(open_rate / bare_open_rate, 3),
        },
        "answer": answer,
    }


def run(
    *,
    suites: tuple[Suite, ...] = tuple(Suite),
    registrations: int = 4,
    seconds: float = 2.0,
    rounds: int = 20,
) -> dict[str, Any]:
    """Measure every suite; return one JSON-ready dict (see the module docstring).

    Each pair of figures (ours, bare) comes from calls alternated for `seconds`, after
    `rounds` warm-up pairs; the median time per call is kept.
    """
    figures = {s.value: _suite_figures(s, registrations, seconds, rounds) for s in suites}
    return {
        "benchmark": "protocol",
        "workload": (
            f"one uplink: {registrations} two-band registrations + a status (4 = an hour of "
            "15-minute registrations sent hourly)"
        ),
        "registrations_per_uplink": registrations,
        "bands_per_registration": 2,
        "baseline": (
            "the same pyca calls with no framing: seal = seed, KEM (X25519/P-256 ECDH + HKDF, "
            "or RSA-OAEP), AEAD encrypt, sign; open = verify, KEM, AEAD decrypt, and per "
            "registration the chain's two HMAC-SHA256 and one SHA-256"
        ),
        "seconds_per_measurement": seconds,
        "rounds": rounds,
        "method": "median time per call, ours and bare alternated; ratio = ours / bare rate",
        "goal": "ratio_to_primitives >= 0.8 for seal and open in every suite",
        "answer_is": (
            "per suite, µs per call: the head-end answering the uplink with a full downlink "
            "(seal_downlink) vs an answer keyed by the call (seal_answer), the meter opening "
            "each, and what sealing/opening the uplink as a call adds (deriving the answer key)"
        ),
        "suites": figures,
    }
