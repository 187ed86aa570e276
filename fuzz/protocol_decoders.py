"""Atheris fuzz target: every protocol decoder and opener, fed arbitrary or mutated bytes.

Any input must give a message or a `ProtocolPeerError`; any other exception is a finding.
Run: `.venv/bin/python fuzz/protocol_decoders.py -atheris_runs=100000`.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import atheris

with atheris.instrument_imports():
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

    from sealmeter.protocol import (
        BatteryState,
        ClockState,
        Downlink,
        EnvelopeBuffer,
        HeadEndChain,
        MeterChain,
        PrivateKeys,
        ProtocolPeerError,
        RegisterUsage,
        Registration,
        RegistrationKind,
        Status,
        Suite,
        TamperEvent,
        TamperKind,
        Uplink,
        decode_downlink,
        decode_registration,
        decode_uplink,
        encode_uplink,
        open_call,
        open_downlink,
        open_uplink,
        peek_header,
        seal_answer,
        seal_call,
        seal_uplink,
        symmetric_keys,
    )


T0 = datetime(2026, 1, 1, tzinfo=UTC)
NONCE = bytes(16)
CHAIN_KEY = bytes(32)


def _ec_keys(tag: int) -> PrivateKeys:
    return PrivateKeys(
        Suite.EC_MODERN,
        x25519.X25519PrivateKey.from_private_bytes(bytes([tag]) * 32),
        ed25519.Ed25519PrivateKey.from_private_bytes(bytes([tag + 1]) * 32),
    )


PAIRS = [(_ec_keys(1), _ec_keys(3)), (symmetric_keys(bytes(range(32))),) * 2]
_reg, _ = MeterChain.start(CHAIN_KEY).seal(
    Registration(
        0, RegistrationKind.REAL_TIME, "m", (RegisterUsage("1.8.0", 5, Decimal("0.5")),), "s", 1, T0
    )
)
VALID = [
    seal_uplink(Uplink("m", T0, NONCE, (_reg,)), meter=m, headend=h.public(), seed=bytes(32))
    for m, h in PAIRS
]
# a plaintext batch of three registrations of one layout and a status: edits of it reach
# every branch of the uplink decoder's hot path (`_fastpath.fast_uplink`)
_chain = MeterChain.start(CHAIN_KEY)
_batch = []
for _minute in range(3):
    _sealed, _chain = _chain.seal(
        Registration(
            0,
            RegistrationKind.REAL_TIME,
            "m",
            (
                RegisterUsage("1.8.1", _minute, Decimal("0.25")),
                RegisterUsage("1.8.2", 0, Decimal(0)),
            ),
            "s",
            1,
            T0 + timedelta(minutes=15 * _minute),
        )
    )
    _batch.append(_sealed)
_STATUS = Status(
    "m", T0, (TamperEvent(TamperKind.BYPASS, T0),), "s", 1, T0, None, 100, T0, T0,
    BatteryState.OK, 3000, ClockState.SYNCED, "1",
)  # fmt: skip
VALID.append(encode_uplink(Uplink("m", T0, NONCE, tuple(_batch), _STATUS)))
# a call and its answer per pair: edits reach the answer opener and the call's key derivation
CALLS = [
    seal_call(Uplink("m", T0, NONCE, (_reg,)), meter=m, headend=h.public(), seed=bytes(32))
    for m, h in PAIRS
]
for (_meter, _box), _call in zip(PAIRS, CALLS, strict=True):
    VALID.append(_call.data)
    VALID.append(
        seal_answer(
            Downlink("m", T0, NONCE), headend=_box, answer_key=_call.answer_key, seed=bytes(32)
        )
    )


def _try(data: bytes) -> None:
    stream = EnvelopeBuffer()
    stream.feed(data)
    with contextlib.suppress(ProtocolPeerError):
        stream.envelopes()
    for decode in (decode_registration, decode_uplink, decode_downlink, peek_header):
        with contextlib.suppress(ProtocolPeerError):
            decode(data)
    for (meter, box), call in zip(PAIRS, CALLS, strict=True):
        with contextlib.suppress(ProtocolPeerError):
            open_call(
                data,
                headend=box,
                meter=meter.public(),
                meter_id="m",
                chain=HeadEndChain.start(CHAIN_KEY),
            )
        with contextlib.suppress(ProtocolPeerError):
            open_downlink(
                data,
                meter=meter,
                headend=box.public(),
                meter_id="m",
                expected_nonce=NONCE,
                now=T0,
                answer_key=call.answer_key,
            )
        with contextlib.suppress(ProtocolPeerError):
            open_uplink(
                data,
                headend=box,
                meter=meter.public(),
                meter_id="m",
                chain=HeadEndChain.start(CHAIN_KEY),
            )
        with contextlib.suppress(ProtocolPeerError):
            open_downlink(
                data, meter=meter, headend=box.public(), meter_id="m", expected_nonce=NONCE, now=T0
            )


def test_one_input(data: bytes) -> None:
    """Feed `data` raw, or (first byte odd) as edits of a valid envelope, to every decoder."""
    if not data or data[0] % 2 == 0:
        _try(data[1:])
        return
    provider = atheris.FuzzedDataProvider(data[1:])
    envelope = bytearray(VALID[provider.ConsumeIntInRange(0, len(VALID) - 1)])
    for _ in range(provider.ConsumeIntInRange(1, 4)):
        pos = provider.ConsumeIntInRange(0, len(envelope) - 1)
        envelope[pos] = provider.ConsumeIntInRange(0, 255)
    cut = provider.ConsumeIntInRange(0, len(envelope))
    _try(bytes(envelope[:cut]) + provider.ConsumeBytes(provider.remaining_bytes()))


def main() -> None:
    """Run the fuzzer with libFuzzer's command-line options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
