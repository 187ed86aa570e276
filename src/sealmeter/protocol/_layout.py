"""The fixed layout's constants, shared by the codec and its hot path (`_fastpath`).

Message type ids, the precompiled `struct` layouts of the fixed-size runs of fields, the
enum lookups by wire value, and the exact decimal scales. See docs/protocol.md for the layout.
"""

from __future__ import annotations

import struct
from datetime import timedelta

from sealmeter.protocol._wire import EXACT_DECIMAL, make_decimal
from sealmeter.protocol.messages import (
    BatteryState,
    ClockState,
    RegistrationKind,
    TamperKind,
    from_wire_time,
)

FORMAT_VERSION = 1
"""Version byte of the plaintext message format."""

TYPE_REGISTRATION = 0x01
TYPE_UPLINK = 0x02
TYPE_DOWNLINK = 0x03

# Each name below is the layout of a run of fixed-size fields, its size and its reader, the
# enum member of each wire value, or an exact decimal helper (see `_wire.EXACT_DECIMAL`).
MICROSECOND = timedelta(microseconds=1)
REG_FIXED = struct.Struct(">QBIqH")
MIN_I64 = -(2**63)
KINDS = {k.value: k for k in RegistrationKind}
TAMPER = {k.value: k for k in TamperKind}
BATTERY = {k.value: k for k in BatteryState}
CLOCK = {k.value: k for k in ClockState}
STATUS_FIXED = struct.Struct(">qIqBqIBqqBHBBH")
EVENT = struct.Struct(">Bq")
LENGTHS = [bytes((n,)) for n in range(256)]
REG_HEADER = bytes((FORMAT_VERSION, TYPE_REGISTRATION))
BAND = struct.Struct(">Qbq")
UPLINK_HEADER = bytes((FORMAT_VERSION, TYPE_UPLINK))
TIME_NONCE_COUNT = struct.Struct(">q16sH")
REG_FIXED_SIZE = REG_FIXED.size
BAND_SIZE = BAND.size
unpack_reg_fixed = REG_FIXED.unpack_from
unpack_band = BAND.unpack_from
TIME_NONCE_COUNT_SIZE = TIME_NONCE_COUNT.size
unpack_time_nonce_count = TIME_NONCE_COUNT.unpack_from
STATUS_FIXED_SIZE = STATUS_FIXED.size
unpack_status_fixed = STATUS_FIXED.unpack_from
EVENT_SIZE = EVENT.size
unpack_event = EVENT.unpack_from
POW10 = {e: make_decimal(1, e) for e in range(-64, 64)}
multiply_exact = EXACT_DECIMAL.multiply
EPOCH = from_wire_time(0)
