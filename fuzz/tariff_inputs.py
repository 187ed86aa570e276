"""Atheris fuzz target: tariff inputs (schedule bytes, mutated schedules, usage CSV, URDB JSON).

Any input must give a value or a typed `SealmeterError`; any other exception is a finding.
Run: `.venv/bin/python fuzz/tariff_inputs.py -atheris_runs=100000`.
"""

from __future__ import annotations

import contextlib
import json
import sys
from decimal import Decimal

import atheris

with atheris.instrument_imports():
    from sealmeter.errors import SealmeterError
    from sealmeter.tariff import (
        bill,
        load_shipped,
        parse_usage_csv,
        schedule_from_bytes,
        schedule_from_urdb,
        shipped_names,
    )

VALID = [load_shipped(name).to_bytes() for name in shipped_names()]
E7 = load_shipped("uk-e7-eon-next-flex")


def _schedule(data: bytes) -> None:
    with contextlib.suppress(SealmeterError):
        schedule_from_bytes(data)


def _mutated(provider: atheris.FuzzedDataProvider) -> None:
    blob = bytearray(VALID[provider.ConsumeIntInRange(0, len(VALID) - 1)])
    for _ in range(provider.ConsumeIntInRange(1, 4)):
        blob[provider.ConsumeIntInRange(0, len(blob) - 1)] = provider.ConsumeIntInRange(0, 255)
    _schedule(bytes(blob))


def _usage(data: bytes) -> None:
    text = "start,end,energy_wh\n" + data.decode("utf-8", "replace")
    with contextlib.suppress(SealmeterError):
        bill(E7, parse_usage_csv(text))


def _urdb(data: bytes) -> None:
    try:
        record = json.loads(data.decode("utf-8", "replace"), parse_float=Decimal)
    except (ValueError, RecursionError):
        return
    if isinstance(record, dict):
        with contextlib.suppress(SealmeterError):
            schedule_from_urdb(record, tz="Europe/Berlin")


def test_one_input(data: bytes) -> None:
    """Route `data` by its first byte to one of the tariff's input doors."""
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        _schedule(rest)
    elif mode == 1:
        _mutated(atheris.FuzzedDataProvider(rest))
    elif mode == 2:
        _usage(rest)
    else:
        _urdb(rest)


def main() -> None:
    """Run the fuzzer with libFuzzer's command-line options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
