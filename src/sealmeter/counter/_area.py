"""Technology-neutral helpers: rewrite a record, erase an area, count unit bits."""

from __future__ import annotations

import contextlib

from sealmeter.counter.errors import AreaFailed
from sealmeter.nvm import DeviceFault, NvmDevice, ProgramLimitExceeded, Technology

__all__ = ["POPCOUNT", "align", "clear", "count_bits", "is_flash", "refresh", "rewrite"]

POPCOUNT = bytes(bin(i).count("1") for i in range(256))


def is_flash(area: NvmDevice) -> bool:
    """Whether `area` is NOR flash (program clears toward programmed, erase per page)."""
    return area.geometry.technology is Technology.NOR_FLASH


def align(length: int, area: NvmDevice) -> int:
    """`length` rounded up to whole cell groups (flash pages) of `area`."""
    gs = area.geometry.group_size
    return -(-length // gs) * gs


def count_bits(data: bytes, empty: int) -> int:
    """Number of bits of `data` that differ from the byte pattern `empty`."""
    return sum(POPCOUNT[b ^ empty] for b in data)


def _verify(area: NvmDevice, offset: int, data: bytes, what: str) -> None:
    got = area.read(offset, len(data))
    if got != data:
        raise AreaFailed(
            f"{what} did not read back as written (wanted {data.hex()}, read {got.hex()}); "
            "the memory is failing there, replace the part or move the counter"
        )


def rewrite(area: NvmDevice, offset: int, data: bytes, what: str) -> None:
    """Replace the bytes at `offset` with `data` and verify them.

    EEPROM: one write. Flash: erase the pages that hold them (the area must own those pages
    alone), then one program.
    """
    if is_flash(area):
        area.erase(offset, align(len(data), area))
    area.store(offset, data)
    _verify(area, offset, data, what)


def clear(area: NvmDevice, offset: int, length: int, what: str) -> None:
    """Return an area to the erased value and verify it (flash: whole pages)."""
    if is_flash(area):
        length = align(length, area)
    area.erase(offset, length)
    _verify(area, offset, bytes([area.geometry.erased]) * length, what)


def refresh(area: NvmDevice, offset: int, length: int) -> bytes:
    """Rewrite bytes with what they read now, so weak bits of a torn write become definite.

    A torn write may leave bits that read differently each time; recovery must not trust one
    read of them. Rewriting the value read once makes it the definite value. On flash the
    program can only add programmed bits, and a word at its program limit is left as it is.
    Cells that refuse the write (a failing block) are left as they are too: the next real
    write there notices and the counter retires the area. Returns the content read after.
    """
    data = area.read(offset, length)
    with contextlib.suppress(ProgramLimitExceeded, DeviceFault):
        area.store(offset, data)
    return area.read(offset, length)
