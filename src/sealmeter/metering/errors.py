"""Errors of the metering part, each on the branch of whose fault it is."""

from __future__ import annotations

from sealmeter.errors import UsageError

__all__ = ["ClippingError", "MeteringError", "SampleFileError", "SignalError"]


class MeteringError(UsageError):
    """Root of the metering part's errors: bad arguments or bad samples given by the caller."""


class SampleFileError(MeteringError):
    """A recorded sample file cannot be used (missing columns, NaN, time not increasing, ...).

    Raised by `load_samples`; the message names the file, the row or column and what to fix.
    """


class SignalError(MeteringError):
    """Samples handed to the measurement chain are malformed (shape, dtype, NaN, lengths)."""


class ClippingError(MeteringError):
    """A signal exceeded the converter's full-scale range, so the energy would be wrong.

    Raise the channel's full-scale range (or lower the gain), or choose `on_clip="saturate"`
    to clip and count the clipped samples instead.
    """
