"""Tear-safe unit counters on simulated non-volatile memory (seed 003, and better).

- `SeedCounter`: seed 003's method, claims 1 to 12 (bit area A, coded B with backup SB,
  flags C1/C2, the five recovery cases), with the fixes tearing requires (see its module).
- `LevelledCounter`: the same safety with every write cycle of every cell group recording a
  unit (alternating bit polarity, rotating coded headers).
- `NaiveCounter`: rewrites the total on every call (the baseline).
- `MirroredCounter`: one design over two memories of different technologies, repairing a
  divergence.
- `UnitCounter`: the protocol all of them follow; `Design`, `format_counter`, `open_counter`
  pick a design by name.
"""

from sealmeter.counter.base import UnitCounter, check_units
from sealmeter.counter.codec import (
    MAX_VALUE,
    RECORD_SIZE,
    Record,
    RecordTag,
    decode_record,
    encode_record,
    try_decode,
)
from sealmeter.counter.designs import Config, Design, footprint, format_counter, open_counter
from sealmeter.counter.errors import (
    AreaFailed,
    CounterCorrupted,
    CounterError,
    CounterFull,
    CounterUsageError,
    MirrorDivergence,
    NotFormatted,
)
from sealmeter.counter.levelled import LevelledConfig, LevelledCounter
from sealmeter.counter.mirror import MirroredCounter
from sealmeter.counter.naive import NaiveConfig, NaiveCounter
from sealmeter.counter.seed import (
    RECOVERY_STEPS,
    RecoveryCase,
    SeedConfig,
    SeedCounter,
    SeedLayout,
    UpdateKind,
    UpdateStep,
)

__all__ = [
    "MAX_VALUE",
    "RECORD_SIZE",
    "RECOVERY_STEPS",
    "AreaFailed",
    "Config",
    "CounterCorrupted",
    "CounterError",
    "CounterFull",
    "CounterUsageError",
    "Design",
    "LevelledConfig",
    "LevelledCounter",
    "MirrorDivergence",
    "MirroredCounter",
    "NaiveConfig",
    "NaiveCounter",
    "NotFormatted",
    "Record",
    "RecordTag",
    "RecoveryCase",
    "SeedConfig",
    "SeedCounter",
    "SeedLayout",
    "UnitCounter",
    "UpdateKind",
    "UpdateStep",
    "check_units",
    "decode_record",
    "encode_record",
    "footprint",
    "format_counter",
    "open_counter",
    "try_decode",
]
