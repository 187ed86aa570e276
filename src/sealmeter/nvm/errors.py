"""Errors of the simulated non-volatile memory, split by whose fault they are."""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, UsageError

__all__ = [
    "DeviceFault",
    "EraseFailed",
    "ImageError",
    "NvmUsageError",
    "OutOfBounds",
    "PowerCut",
    "PoweredOff",
    "ProgramFailed",
    "ProgramLimitExceeded",
    "ReadFailed",
    "WornOut",
]


class NvmUsageError(UsageError):
    """The caller asked the memory for something it cannot do (bad range, wrong operation)."""


class OutOfBounds(NvmUsageError):
    """An address range falls outside the device or region; use a range inside its size."""


class ProgramLimitExceeded(NvmUsageError):
    """A flash word was programmed more often between erases than the part allows; erase first."""


class ImageError(NvmUsageError):
    """A saved memory image is unreadable, of an unknown version, or fails its checksum."""


class DeviceFault(EnvironmentFault):
    """The simulated part failed an operation (bad block, worn cells); the data may be stale."""


class ProgramFailed(DeviceFault):
    """A write or program reported an error; the cells keep their previous content."""


class EraseFailed(DeviceFault):
    """An erase reported an error; the page or word keeps its previous content."""


class ReadFailed(DeviceFault):
    """A read reported an error; nothing was returned. Retry, or treat the area as failed."""


class WornOut(DeviceFault):
    """A cell group past its endurance refused a write; move the data elsewhere."""


class PowerCut(EnvironmentFault):
    """Power failed during a primitive operation; what it left is torn. Call power_on()."""


class PoweredOff(EnvironmentFault):
    """The device is unpowered after a power cut; call power_on() and run recovery first."""
