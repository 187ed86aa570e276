"""Atheris fuzz target: memory images and counter memory filled with arbitrary bytes.

Any input must give a part (image) or a counter value, or a typed `SealmeterError`; any other
exception is a finding. Run: `.venv/bin/python fuzz/counter_memory.py -atheris_runs=100000`.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from sealmeter.counter import Design, LevelledConfig, SeedConfig, format_counter, open_counter
    from sealmeter.errors import SealmeterError
    from sealmeter.nvm import Eeprom, ImageError, NorFlash, decode_image, encode_image

CONFIGS = {
    Design.NAIVE: None,
    Design.SEED: SeedConfig(a_bytes=4),
    Design.LEVELLED: LevelledConfig(frames=2, frame_size=64),
}
SIZE = 320
VALID_IMAGE = encode_image(Eeprom(64))


def _memory(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    design = list(Design)[provider.ConsumeIntInRange(0, len(Design) - 1)]
    flash = provider.ConsumeBool()
    erased = 0xFF if provider.ConsumeBool() else 0x00
    part: Eeprom | NorFlash = (
        NorFlash(1024, page_size=64, erased=erased) if flash else Eeprom(SIZE, erased=erased)
    )
    region = part.region("c", SIZE)
    counter = format_counter(design, region, CONFIGS[design])
    counter.record(provider.ConsumeIntInRange(0, 200))
    for _ in range(provider.ConsumeIntInRange(1, 4)):
        offset = provider.ConsumeIntInRange(0, SIZE - 1)
        chunk = provider.ConsumeBytes(provider.ConsumeIntInRange(1, 16))[: SIZE - offset]
        if chunk:
            region.store(offset, chunk)
    with contextlib.suppress(SealmeterError):
        reopened = open_counter(design, region, CONFIGS[design])
        reopened.record(provider.ConsumeIntInRange(0, 100))


def test_one_input(data: bytes) -> None:
    """First byte chooses: an image to decode (raw or an edited valid one), or counter memory."""
    if not data:
        return
    mode, rest = data[0] % 3, data[1:]
    if mode == 0:
        with contextlib.suppress(ImageError):
            decode_image(rest)
    elif mode == 1:
        image = bytearray(VALID_IMAGE)
        for i, byte in enumerate(rest[:8]):
            image[(i * 37 + byte) % len(image)] = byte
        with contextlib.suppress(ImageError):
            decode_image(bytes(image))
    else:
        _memory(rest)


def main() -> None:
    """Run the fuzzer with libFuzzer's command-line options."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
