"""Simulated non-volatile memory: EEPROM and NOR flash with wear, power cuts and faults.

A faithful enough model of a security module's storage to prove a counter's promises:
`Eeprom` and `NorFlash` parts (both erased polarities), endurance per cell group, power cuts
at any primitive with torn results, weak and stuck bits, bad-block modes, an operation log,
non-overlapping `Region`s for different users, and `save`/`load` to a checksummed file.
"""

from sealmeter.nvm.device import (
    Eeprom,
    Geometry,
    NorFlash,
    NvmDevice,
    OpKind,
    OpOutcome,
    OpRecord,
    Technology,
)
from sealmeter.nvm.errors import (
    DeviceFault,
    EraseFailed,
    ImageError,
    NvmUsageError,
    OutOfBounds,
    PowerCut,
    PoweredOff,
    ProgramFailed,
    ProgramLimitExceeded,
    ReadFailed,
    WornOut,
)
from sealmeter.nvm.faults import BadMode, FaultInjector, FaultPlan, TearMode, WearMode
from sealmeter.nvm.image import decode_image, encode_image, load, save
from sealmeter.nvm.region import Region

__all__ = [
    "BadMode",
    "DeviceFault",
    "Eeprom",
    "EraseFailed",
    "FaultInjector",
    "FaultPlan",
    "Geometry",
    "ImageError",
    "NorFlash",
    "NvmDevice",
    "NvmUsageError",
    "OpKind",
    "OpOutcome",
    "OpRecord",
    "OutOfBounds",
    "PowerCut",
    "PoweredOff",
    "ProgramFailed",
    "ProgramLimitExceeded",
    "ReadFailed",
    "Region",
    "TearMode",
    "Technology",
    "WearMode",
    "WornOut",
    "decode_image",
    "encode_image",
    "load",
    "save",
]
