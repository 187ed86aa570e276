"""Transducer and ADC model: gain and offset error, quantisation, clipping, multiplexer skew.

`AdcChannel` turns a physical signal (volts or amperes at the converter's input, after the
transducer) into integer codes; `Adc` pairs a voltage and a current channel sampled at one
rate, the current converted `mux_skew_s` after the voltage as a multiplexer does when it
samples the two inputs in alternation. `SkewCorrector` undoes that skew in the digital domain
with a cubic Lagrange fractional-delay filter, streaming and exactly repeatable.

Codes are carried as float64 arrays holding integers: sums of their products are exact while
they stay below 2**53, which the integrator guarantees, and float64 arithmetic is fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering import _kernel
from sealmeter.metering.errors import ClippingError, MeteringError, SignalError
from sealmeter.metering.samples import Samples
from sealmeter.metering.signals import Waveform

__all__ = ["SKEW_FRACTION_BITS", "Adc", "AdcChannel", "Codes", "SkewCorrector"]

#: Extra fractional bits of a skew-corrected current code (1/16 LSB resolution).
SKEW_FRACTION_BITS = 4
_COEF_BITS = 24  # precision of the interpolation coefficients before rounding to the output


@dataclass(frozen=True)
class AdcChannel:
    """One converter input: `bits` of resolution over +-`full_scale` (volts or amperes).

    `gain_error` (relative, 0.001 = +0.1 %) and `offset_error` (in input units) model the
    transducer and converter's imperfections before calibration; the meter's calibration
    corrects gain (see `scale`), the offset stays in the signal as in an uncalibrated input.
    """

    full_scale: float
    bits: int = 16
    gain_error: float = 0.0
    offset_error: float = 0.0

    def __post_init__(self) -> None:
        """Reject ranges and resolutions the model cannot represent."""
        if not (self.full_scale > 0 and math.isfinite(self.full_scale)):
            raise MeteringError(f"full_scale must be positive, got {self.full_scale}")
        if not 2 <= self.bits <= 20:
            raise MeteringError(f"bits must lie in 2..20, got {self.bits}")
        if not -0.5 < self.gain_error < 0.5:
            raise MeteringError(f"gain_error must lie in (-0.5, 0.5), got {self.gain_error}")

    @property
    def lsb(self) -> float:
        """Input quantity of one code step (volts or amperes per LSB)."""
        return self.full_scale / (1 << (self.bits - 1))

    @property
    def scale(self) -> float:
        """Calibrated input quantity per code: the LSB with the gain error divided out."""
        return self.lsb / (1.0 + self.gain_error)

    @property
    def code_range(self) -> tuple[int, int]:
        """Smallest and largest code (two's complement)."""
        half = 1 << (self.bits - 1)
        return -half, half - 1

    def digitize(
        self, x: NDArray[np.float64], on_clip: Literal["raise", "saturate"] = "raise"
    ) -> tuple[NDArray[np.float64], int]:
        """Quantise `x` to codes (float64 integers); return the codes and the clipped count.

        Out-of-range input raises `ClippingError` unless `on_clip="saturate"`, which clips to
        the range and counts the clipped samples. NaN or infinity raises `SignalError`.
        """
        lo, hi = self.code_range
        codes = np.rint((x * (1.0 + self.gain_error) + self.offset_error) / self.lsb)
        if not np.isfinite(codes).all():
            k = int(np.flatnonzero(~np.isfinite(codes))[0])
            raise SignalError(
                f"sample {k} is not a finite number ({x[k]!r}); drop or repair it first"
            )
        over = (codes < lo) | (codes > hi)
        clipped = int(np.count_nonzero(over))
        if clipped:
            if on_clip == "raise":
                k = int(np.flatnonzero(over)[0])
                raise ClippingError(
                    f"{clipped} sample(s) exceed the converter range +-{self.full_scale:g} "
                    f"(first at index {k}: {x[k]:.6g}); raise full_scale or pass "
                    "on_clip='saturate' to clip and count them"
                )
            np.clip(codes, lo, hi, out=codes)
        return codes, clipped


@dataclass(frozen=True)
class Codes:
    """Converter output: voltage and current codes (float64 integers) and their scales."""

    u: NDArray[np.float64]
    i: NDArray[np.float64]
    u_scale: float
    i_scale: float
    rate_hz: float
    clipped: int = 0


@dataclass(frozen=True)
class Adc:
    """A two-channel converter at `rate_hz`; current converted `mux_skew_s` after voltage."""

    voltage: AdcChannel
    current: AdcChannel
    rate_hz: float
    mux_skew_s: float = 0.0
    on_clip: Literal["raise", "saturate"] = "raise"

    def __post_init__(self) -> None:
        """Check the rate and that the skew is less than one sample period."""
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise MeteringError(f"rate_hz must be positive, got {self.rate_hz}")
        if not 0.0 <= self.mux_skew_s * self.rate_hz < 1.0:
            raise MeteringError(
                f"mux_skew_s={self.mux_skew_s} must lie in [0, 1/rate_hz); convert the "
                "voltage first and the current after it within one sample period"
            )

    @classmethod
    def multiplexed(
        cls,
        voltage: AdcChannel,
        current: AdcChannel,
        rate_hz: float,
        on_clip: Literal["raise", "saturate"] = "raise",
    ) -> Adc:
        """A converter sampling the inputs in alternation: current half a period after voltage."""
        return cls(voltage, current, rate_hz, mux_skew_s=0.5 / rate_hz, on_clip=on_clip)

    def convert(self, samples: Samples) -> Codes:
        """Digitise physical samples already taken at this converter's instants."""
        u, cu = self.voltage.digitize(samples.u, self.on_clip)
        i, ci = self.current.digitize(samples.i, self.on_clip)
        return Codes(u, i, self.voltage.scale, self.current.scale, self.rate_hz, cu + ci)

    def sample(
        self,
        wave: Waveform,
        count: int,
        start_index: int = 0,
        rng: np.random.Generator | None = None,
    ) -> Codes:
        """Sample and digitise `count` pairs of `wave`, with this converter's skew."""
        raw = wave.sample(self.rate_hz, count, start_index, self.mux_skew_s, rng)
        return self.convert(raw)


class SkewCorrector:
    """Streaming fractional delay that realigns a skewed current channel with the voltage.

    The current was sampled `skew` (a fraction 0..1 of a sample period) after the voltage; a
    cubic Lagrange interpolator over the current samples n-3..n estimates the current at the
    voltage's instant n (error about (2 pi f / fs)**4 / 10, below 1e-7 at 50 Hz and 8 kHz).
    It is causal, so no sample is held back. Output current codes carry `SKEW_FRACTION_BITS`
    extra fractional bits; the coefficients are fixed-point and every intermediate is an
    integer below 2**53, so the output is the same bit for bit whatever the chunking.
    """

    def __init__(self, skew: float, use_kernel: bool | None = None) -> None:
        """Prepare the filter for a skew of `skew` sample periods (0 <= skew < 1).

        `use_kernel` selects the compiled (numba) filter or `np.convolve`; None picks the
        compiled one when available. Both give the same codes bit for bit.
        """
        if not 0.0 <= skew < 1.0:
            raise MeteringError(f"skew must lie in [0, 1) sample periods, got {skew}")
        x = -skew  # evaluation point relative to the newest current sample n
        lagrange = [
            -(x + 2) * (x + 1) * x / 6,  # sample n-3
            (x + 3) * (x + 1) * x / 2,  # n-2
            -(x + 3) * (x + 2) * x / 2,  # n-1
            (x + 3) * (x + 2) * (x + 1) / 6,  # n
        ]
        one = 1 << _COEF_BITS
        coef = [round(c * one) for c in lagrange]
        coef[3] += one - sum(coef)  # DC gain exactly one
        self._coef = np.array(coef, dtype=np.float64)  # oldest sample's coefficient first
        # np.convolve flips the kernel: oldest sample's coefficient goes last.
        self._kernel = self._coef[::-1].copy()
        self._inv = 1.0 / (1 << (_COEF_BITS - SKEW_FRACTION_BITS))
        self._hist: NDArray[np.float64] | None = None
        self._compiled = _kernel.use_kernel(use_kernel)

    @property
    def scale_factor(self) -> float:
        """Factor to apply to the current channel's scale for corrected codes."""
        return 1.0 / (1 << SKEW_FRACTION_BITS)

    def filter_state(self, first: float) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        """The filter's state for a compiled kernel: history (updated in place by it),
        coefficients (oldest sample's first) and output scale. `first` is the chunk's first
        raw code, the history before the very first sample."""
        if self._hist is None:
            self._hist = np.full(3, first)
        return self._hist, self._coef, self._inv

    def process(
        self, i: NDArray[np.float64], out: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Feed a chunk of current codes; return the corrected codes, one per input sample.

        `out`, if given (float64, at least as long as `i`), receives them: its first
        `i.size` elements are returned, which spares an allocation per chunk.
        """
        if i.size == 0:
            return np.zeros(0)
        if self._hist is None:
            # Before the first sample the current is taken as equal to its first value.
            self._hist = np.full(3, float(i[0]))
        if self._compiled:
            result = np.empty(i.size) if out is None else out[: i.size]
            _kernel.skew_filter(
                np.ascontiguousarray(i, np.float64), self._hist, self._coef, self._inv, result
            )
            return result
        ii = np.concatenate([self._hist, i])
        self._hist = ii[-3:].copy()
        conv = np.convolve(ii, self._kernel, mode="valid")
        conv *= self._inv
        np.rint(conv, out=conv)
        if out is None:
            return conv
        out[: i.size] = conv
        return out[: i.size]
