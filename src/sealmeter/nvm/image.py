"""Save and load a simulated part to a file, so a meter's memory persists between CLI runs.

Format (version 1), all integers big-endian:

    magic    8 bytes   b"SMNVM\\r\\n\\x1a"
    version  1 byte    1
    hlen     4 bytes   length of the header
    header   hlen      UTF-8 JSON: technology, size, group_size, word_size, erased, endurance,
                       program_limit, ops, powered, regions {name: [offset, length]}
    cells    size      the content of every byte
    weak     size      weak-bit mask of every byte
    stuck    size      stuck-bit mask of every byte
    cycles   4 * groups  cycles spent per cell group
    programs 2 * words   programs per flash word since its erase (empty when no limit)
    sha256   32 bytes  over everything above

The file is written to a temporary name and renamed, so a crash never leaves half a file.
Any malformed, truncated or altered file raises `ImageError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from sealmeter.nvm.device import Eeprom, Geometry, NorFlash, Technology, _Part
from sealmeter.nvm.errors import ImageError, NvmUsageError

__all__ = ["IMAGE_MAGIC", "IMAGE_VERSION", "decode_image", "encode_image", "load", "save"]

IMAGE_MAGIC = b"SMNVM\r\n\x1a"
IMAGE_VERSION = 1


def encode_image(device: Eeprom | NorFlash) -> bytes:
    """The bytes of a version-1 image of `device` (content, wear, weak/stuck bits, regions)."""
    geo = device.geometry
    state = device._state()
    header = {
        "technology": geo.technology.value,
        "size": geo.size,
        "group_size": geo.group_size,
        "word_size": geo.word_size,
        "erased": geo.erased,
        "endurance": geo.endurance,
        "program_limit": geo.program_limit,
        "ops": state["ops"],
        "powered": state["powered"],
        "regions": {k: list(v) for k, v in device.regions.items()},
    }
    head = json.dumps(header, sort_keys=True).encode()
    cycles: list[int] = device.cycles()
    programs: list[int] = list(state["programs"])  # type: ignore[call-overload]
    body = b"".join(
        [
            IMAGE_MAGIC,
            bytes([IMAGE_VERSION]),
            struct.pack(">I", len(head)),
            head,
            bytes(state["cells"]),  # type: ignore[call-overload]
            bytes(state["weak"]),  # type: ignore[call-overload]
            bytes(state["stuck"]),  # type: ignore[call-overload]
            struct.pack(f">{len(cycles)}I", *cycles),
            struct.pack(f">{len(programs)}H", *(min(p, 0xFFFF) for p in programs)),
        ]
    )
    return body + hashlib.sha256(body).digest()


def _field(header: dict[str, Any], name: str, kind: type) -> Any:
    value = header.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ImageError(f"memory image header field {name!r} is missing or not {kind.__name__}")
    return value


def decode_image(data: bytes) -> Eeprom | NorFlash:
    """Rebuild a part from image bytes; raise `ImageError` for anything malformed."""
    if len(data) < len(IMAGE_MAGIC) + 5 + 32 or not data.startswith(IMAGE_MAGIC):
        raise ImageError("not a sealmeter memory image (bad magic or too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ImageError("memory image checksum mismatch: the file is corrupt or was altered")
    pos = len(IMAGE_MAGIC)
    if body[pos] != IMAGE_VERSION:
        raise ImageError(
            f"memory image version {body[pos]} is not supported (this build reads version "
            f"{IMAGE_VERSION}); upgrade sealmeter"
        )
    (hlen,) = struct.unpack_from(">I", body, pos + 1)
    pos += 5
    try:
        header = json.loads(body[pos : pos + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageError(f"memory image header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ImageError("memory image header is not a JSON object")
    pos += hlen
    try:
        technology = Technology(_field(header, "technology", str))
        geometry = Geometry(
            technology,
            _field(header, "size", int),
            _field(header, "group_size", int),
            _field(header, "word_size", int),
            _field(header, "erased", int),
            _field(header, "endurance", int),
            _field(header, "program_limit", int),
        )
    except ValueError as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"memory image describes an impossible part: {exc}") from None
    size, groups = geometry.size, geometry.groups
    nprog = geometry.words if geometry.program_limit else 0
    expected = pos + 3 * size + 4 * groups + 2 * nprog
    if len(body) != expected:
        raise ImageError(
            f"memory image body has {len(body)} bytes where the header implies {expected}"
        )
    cells = body[pos : pos + size]
    weak = body[pos + size : pos + 2 * size]
    stuck = body[pos + 2 * size : pos + 3 * size]
    pos += 3 * size
    cycles = list(struct.unpack_from(f">{groups}I", body, pos))
    pos += 4 * groups
    programs = list(struct.unpack_from(f">{nprog}H", body, pos))
    regions_raw = _field(header, "regions", dict)
    regions: dict[str, tuple[int, int]] = {}
    for name, span in regions_raw.items():
        if (
            not isinstance(span, list)
            or len(span) != 2
            or not all(isinstance(x, int) and x >= 0 for x in span)
            or span[0] + span[1] > size
        ):
            raise ImageError(f"memory image region {name!r} has an invalid span {span!r}")
        regions[name] = (span[0], span[1])
    device: Eeprom | NorFlash
    try:
        if technology is Technology.EEPROM:
            device = Eeprom(
                size,
                word_size=geometry.word_size,
                erased=geometry.erased,
                endurance=geometry.endurance,
            )
        else:
            device = NorFlash(
                size,
                page_size=geometry.group_size,
                word_size=geometry.word_size,
                erased=geometry.erased,
                endurance=geometry.endurance,
                program_limit=geometry.program_limit,
            )
    except NvmUsageError as exc:
        raise ImageError(f"memory image describes an impossible part: {exc}") from None
    device._set_state(
        cells,
        weak,
        stuck,
        cycles,
        programs,
        _field(header, "ops", int),
        _field(header, "powered", bool),
        regions,
    )
    return device


def save(device: Eeprom | NorFlash, path: str | os.PathLike[str]) -> None:
    """Write `device` to `path` atomically (temporary file, fsync, rename)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    data = encode_image(device)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def load(path: str | os.PathLike[str]) -> Eeprom | NorFlash:
    """Read a part saved by `save`; a missing or corrupt file raises `ImageError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read memory image {os.fspath(path)!r}: {exc.strerror}") from None
    return decode_image(data)


_ = _Part  # the image module reads and restores the private state of parts
