"""The hot path of `open_uplink`: the whole uplink batch checked and built in one pass.

`fast_uplink` accepts exactly what the codec's field-by-field decoder accepts and builds
equal messages (`tests/protocol/test_fast_paths.py`); on anything else it returns None and
the codec's checked path runs and names the fault.
"""

from __future__ import annotations

import struct
from datetime import timedelta
from typing import Any, cast

from sealmeter.protocol._layout import (
    BAND_SIZE,
    BATTERY,
    CLOCK,
    EPOCH,
    EVENT_SIZE,
    FORMAT_VERSION,
    KINDS,
    MIN_I64,
    POW10,
    REG_FIXED_SIZE,
    REG_HEADER,
    STATUS_FIXED_SIZE,
    TAMPER,
    TIME_NONCE_COUNT_SIZE,
    TYPE_UPLINK,
    multiply_exact,
    unpack_band,
    unpack_event,
    unpack_reg_fixed,
    unpack_status_fixed,
    unpack_time_nonce_count,
)
from sealmeter.protocol.messages import (
    RegisterUsage,
    RegisterUsageSlots,
    Registration,
    RegistrationSlots,
    Status,
    StatusSlots,
    TamperEvent,
    TamperEventSlots,
    Uplink,
    UplinkSlots,
    as_message,
)

__all__ = ["fast_uplink"]

_new = object.__new__


def fast_uplink(data: bytes) -> tuple[Uplink, tuple[bytes, ...]] | None:
    """The whole uplink in `data` and its registrations' encodings, or None if anything is off.

    The hot path of every `open_uplink`: the checks of `codec._get_uplink` (every length, enum,
    flag, range, UTF-8, the meter id of every part, no trailing bytes) inlined on the raw
    buffer in one pass. It accepts exactly what the checked path accepts and builds equal
    objects (`test_fast_paths.py`); on None the checked path runs and names the fault.
    Each registration remembers its slice of `data` as its encoding.
    """
    size = len(data)
    if size < 3 or data[0] != FORMAT_VERSION or data[1] != TYPE_UPLINK:
        return None
    mid_size = data[2]
    pos = 3 + mid_size
    if mid_size == 0 or pos + TIME_NONCE_COUNT_SIZE > size:
        return None
    new, kinds, exact_multiply, pow10 = _new, KINDS, multiply_exact, POW10
    mid = data[3:pos]
    try:
        meter_id = mid.decode()
        micros, nonce, count = unpack_time_nonce_count(data, pos)
        time = EPOCH + timedelta(0, 0, micros)
        pos += TIME_NONCE_COUNT_SIZE
        # objects are built as layout twins (see `messages.RegisterUsageSlots`), hence Any
        regs: list[Any] = []
        encodings = []
        texts: dict[bytes, str] = {}  # schedule ids, currencies, obis: decoded once per call
        # The registrations of one batch almost always share a layout (meter id, schedule id,
        # currency, register names); once the first is decoded, a registration whose texts
        # are byte-identical to it is read in one `struct` call (see `_registration_layout`).
        same_unpack = None
        same_size = 0
        same_texts = b""
        same_heads: tuple[tuple[int, bytes], ...] = ()
        same_names: tuple[str, ...] = ()
        same_bands = 0
        same_schedule_id = same_currency = ""
        for index in range(count):
            if same_unpack is not None:
                stop = pos + same_size
                if stop <= size and data.startswith(same_texts, pos + REG_FIXED_SIZE):
                    for offset, head in same_heads:
                        if not data.startswith(head, pos + offset):
                            break
                    else:
                        fields = same_unpack(data, pos)
                        if fields[4] == same_bands:
                            kind = kinds.get(fields[1])
                            end = stop + fields[-1]
                            if kind is None or fields[-1] > 64 or end > size:
                                return None
                            registers: list[Any] = []
                            i = 5
                            for name in same_names:
                                exponent = fields[i + 1]
                                mantissa = fields[i + 2]
                                if not -64 <= exponent <= 63 or mantissa == MIN_I64:
                                    return None
                                band = new(RegisterUsageSlots)
                                band.obis = name
                                band.usage = fields[i]
                                band.charge = exact_multiply(mantissa, pow10[exponent])
                                as_message(band, RegisterUsage)
                                registers.append(band)
                                i += 3
                            reg = new(RegistrationSlots)
                            reg.seq = fields[0]
                            reg.kind = kind
                            reg.meter_id = meter_id
                            reg.registers = tuple(registers)
                            reg.schedule_id = same_schedule_id
                            reg.schedule_version = fields[2]
                            reg.time = EPOCH + timedelta(0, 0, fields[3])
                            reg.auth_code = data[stop:end]
                            reg.currency = same_currency
                            reg._encoding = encoded = REG_HEADER + data[pos:end]
                            as_message(reg, Registration)
                            encodings.append(encoded)
                            regs.append(reg)
                            pos = end
                            continue
            # any registration, field by field
            end = pos + REG_FIXED_SIZE
            if end >= size:
                return None
            seq, kind_id, schedule_version, reg_micros, bands = unpack_reg_fixed(data, pos)
            kind = kinds.get(kind_id)
            # meter_id: must be the uplink's (anything else is the checked path's error)
            if kind is None or data[end] != mid_size or not data.startswith(mid, end + 1):
                return None
            end += 1 + mid_size
            if end >= size:
                return None
            start = end + 1
            end = start + data[end]
            if end >= size:
                return None
            raw = data[start:end]
            schedule_id = texts.get(raw)
            if schedule_id is None:
                schedule_id = texts[raw] = raw.decode()
            start = end + 1
            end = start + data[end]
            if end > size or end == start:
                return None
            raw = data[start:end]
            currency = texts.get(raw)
            if currency is None:
                currency = texts[raw] = raw.decode()
            texts_end = end
            heads = []
            names = []
            registers = []
            for _ in range(bands):
                if end >= size:
                    return None
                start = end + 1
                end = start + data[end]
                if end + BAND_SIZE > size or end == start:
                    return None
                raw = data[start:end]
                obis = texts.get(raw)
                if obis is None:
                    obis = texts[raw] = raw.decode()
                heads.append((start - 1 - pos, data[start - 1 : end]))
                names.append(obis)
                usage, exponent, mantissa = unpack_band(data, end)
                end += BAND_SIZE
                if not -64 <= exponent <= 63 or mantissa == MIN_I64:
                    return None
                band = new(RegisterUsageSlots)
                band.obis = obis
                band.usage = usage
                # an int operand is exact: mantissa x 10**exponent, exponent kept
                band.charge = exact_multiply(mantissa, pow10[exponent])
                as_message(band, RegisterUsage)
                registers.append(band)
            if end >= size:
                return None
            start = end + 1
            end = start + data[end]
            if end > size or end - start > 64:
                return None
            reg = new(RegistrationSlots)
            reg.seq = seq
            reg.kind = kind
            reg.meter_id = meter_id
            reg.registers = tuple(registers)
            reg.schedule_id = schedule_id
            reg.schedule_version = schedule_version
            reg.time = EPOCH + timedelta(0, 0, reg_micros)
            reg.auth_code = data[start:end]
            reg.currency = currency
            reg._encoding = encoded = REG_HEADER + data[pos:end]
            as_message(reg, Registration)
            encodings.append(encoded)
            regs.append(reg)
            if same_unpack is None and index + 1 < count:
                same_texts = data[pos + REG_FIXED_SIZE : texts_end]
                same_heads = tuple(heads)
                key = (texts_end - pos, same_heads)
                layout = _LAYOUTS.get(key) or _registration_layout(key)
                same_unpack, same_size = layout.unpack_from, layout.size
                same_names = tuple(names)
                same_bands = bands
                same_schedule_id, same_currency = schedule_id, currency
            pos = end
        if pos >= size:
            return None
        flag = data[pos]
        pos += 1
        if flag == 0:
            status = None
        elif flag == 1:
            found = _fast_status(data, pos, mid, meter_id)
            if found is None:
                return None
            status, pos = found
        else:
            return None
    except (UnicodeDecodeError, OverflowError):
        return None
    if pos != size:
        return None
    uplink = new(UplinkSlots)
    uplink.meter_id = meter_id
    uplink.time = time
    uplink.nonce = nonce
    uplink.registrations = tuple(regs)
    uplink.status = status
    uplink.key_announcement = b""
    as_message(uplink, Uplink)
    return cast(Uplink, uplink), tuple(encodings)


_LAYOUTS: dict[tuple[int, tuple[tuple[int, bytes], ...]], struct.Struct] = {}


def _registration_layout(key: tuple[int, tuple[tuple[int, bytes], ...]]) -> struct.Struct:
    """The `struct` layout of a registration whose texts end at `key[0]`, bands `key[1]`.

    Offsets count from the registration's start (after the two header bytes). `key[1]`
    holds, per band, the offset of its name's length byte and the name's bytes with that
    length byte. The layout's fields: seq, kind, schedule version, time, band count, then
    (usage, exponent, mantissa) per band, then the auth code's length; the texts (meter id,
    schedule id, currency, band names) are skipped: the caller compares them with the first
    registration's. Cached (a registration layout is the same in every uplink of a meter);
    emptied when it reaches 256 layouts.
    """
    if len(_LAYOUTS) >= 256:
        _LAYOUTS.clear()
    texts_end, heads = key
    fields = [f">QBIqH{texts_end - REG_FIXED_SIZE}x"]
    fields += (f"{len(head)}xQbq" for _, head in heads)
    layout = _LAYOUTS[key] = struct.Struct("".join(fields) + "B")
    return layout


def _fast_status(data: bytes, pos: int, mid: bytes, meter_id: str) -> tuple[Status, int] | None:
    """The status at `pos` naming the meter `mid` (`meter_id`) and the offset after it, or None.

    `_get_status`'s checks inlined (raises only `UnicodeDecodeError` or `OverflowError`,
    which `_fast_uplink` turns into None).
    """
    size = len(data)
    end = pos + STATUS_FIXED_SIZE
    if end >= size:
        return None
    (
        micros,
        schedule_version,
        valid_from,
        has_valid_to,
        valid_to,
        peak_load_w,
        has_peak_time,
        peak_time,
        next_contact,
        battery_id,
        battery_mv,
        clock_id,
        blocked,
        count,
    ) = unpack_status_fixed(data, pos)
    battery = BATTERY.get(battery_id)
    clock = CLOCK.get(clock_id)
    mid_size = len(mid)
    if (
        battery is None
        or clock is None
        or blocked > 1
        or has_valid_to > 1
        or has_peak_time > 1
        or (has_valid_to == 0 and valid_to != 0)
        or (has_peak_time == 0 and peak_time != 0)
        or data[end] != mid_size
        or not data.startswith(mid, end + 1)
    ):
        return None
    end += 1 + mid_size
    if end >= size:
        return None
    start = end + 1
    end = start + data[end]
    if end >= size:
        return None
    schedule_id = data[start:end].decode()
    start = end + 1
    end = start + data[end]
    if end + count * EVENT_SIZE > size:
        return None
    firmware = data[start:end].decode()
    epoch = EPOCH
    events: list[Any] = []  # layout twins (see `messages.RegisterUsageSlots`)
    for _ in range(count):
        kind_id, event_micros = unpack_event(data, end)
        kind = TAMPER.get(kind_id)
        if kind is None:
            return None
        event = _new(TamperEventSlots)
        event.kind = kind
        event.time = epoch + timedelta(0, 0, event_micros)
        as_message(event, TamperEvent)
        events.append(event)
        end += EVENT_SIZE
    status = _new(StatusSlots)
    status.meter_id = meter_id
    status.time = epoch + timedelta(0, 0, micros)
    status.tamper_events = tuple(events)
    status.schedule_id = schedule_id
    status.schedule_version = schedule_version
    status.schedule_valid_from = epoch + timedelta(0, 0, valid_from)
    status.schedule_valid_to = epoch + timedelta(0, 0, valid_to) if has_valid_to else None
    status.peak_load_w = peak_load_w
    status.peak_load_time = epoch + timedelta(0, 0, peak_time) if has_peak_time else None
    status.next_contact = epoch + timedelta(0, 0, next_contact)
    status.battery = battery
    status.battery_mv = battery_mv
    status.clock = clock
    status.firmware = firmware
    status.blocked = blocked == 1
    as_message(status, Status)
    return cast(Status, status), end
