"""Atheris fuzz target: arbitrary and mutated downlinks fed to a provisioned security module.

Any input must be accepted (only the genuine downlink is) or raise `DownlinkRejected` and leave
the module's control state byte-for-byte unchanged; any other exception is a finding.
Run: `.venv/bin/python fuzz/meter_downlink.py -atheris_runs=100000`.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import atheris

# The cores are fuzzed by their own targets; instrument only the module's code (fast start).
import sealmeter.counter
import sealmeter.metering
import sealmeter.tariff  # noqa: F401

with atheris.instrument_imports(include=["sealmeter.meter"]):
    from sealmeter.meter import DownlinkRejected, Meter, MeterConfig
    from sealmeter.meter.state import encode
    from sealmeter.nvm import Eeprom
    from sealmeter.protocol import (
        CreditFrame,
        Downlink,
        EnableCode,
        HeadEndChain,
        generate_keys,
        open_uplink,
        seal_downlink,
    )

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_rng = random.Random(7)
BOX = generate_keys()
METER = Meter.manufacture(Eeprom(128 * 1024), bytes(32), MeterConfig("fuzz"), T0, _rng.randbytes)
EXPORT = METER.provision(BOX.public(), T0)
METER.feed_interval(T0, T0 + timedelta(hours=2), 700)
NOW = T0 + timedelta(hours=2)
_opened = open_uplink(
    METER.make_uplink(NOW),
    headend=BOX,
    meter=EXPORT.public(),
    meter_id="fuzz",
    chain=HeadEndChain.start(EXPORT.chain_key),
)
_up = _opened.uplink
GENUINE = seal_downlink(
    Downlink(
        "fuzz",
        NOW,
        _up.nonce,
        EnableCode(
            "fuzz",
            1,
            _up.nonce,
            NOW + timedelta(hours=1),
            CreditFrame(timedelta(days=7), Decimal(0)),
        ),
    ),
    headend=BOX,
    meter=EXPORT.public(),
    seed=bytes(32),
)
BEFORE = encode(METER.control)


def _check(data: bytes) -> None:
    if data == GENUINE:
        return
    try:
        METER.accept_downlink(data, NOW)
    except DownlinkRejected:
        pass
    else:
        raise AssertionError("a downlink that is not the genuine one was accepted")
    if encode(METER.control) != BEFORE:
        raise AssertionError("a rejected downlink changed the module's state")


def test_one_input(data: bytes) -> None:
    """Feed `data` raw (first byte even) or as edits of the genuine downlink (odd)."""
    if not data or data[0] % 2 == 0:
        _check(data[1:])
        return
    provider = atheris.FuzzedDataProvider(data[1:])
    mutated = bytearray(GENUINE)
    for _ in range(provider.ConsumeIntInRange(1, 4)):
        at = provider.ConsumeIntInRange(0, len(mutated) - 1)
        mutated[at] = provider.ConsumeIntInRange(0, 255)
    cut = provider.ConsumeIntInRange(0, 3)
    tail = provider.ConsumeBytes(provider.ConsumeIntInRange(0, 8))
    _check(bytes(mutated[: len(mutated) - cut]) + tail)


def main() -> None:
    """Run the fuzzer with libFuzzer's command-line options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
