"""The measurement chain: converter codes (or physical samples) to a `Reading`.

`MeasurementChain` composes an `Adc`, an optional `SkewCorrector` and an `EnergyIntegrator`.
It is what a meter runs: feed chunks as they arrive, `take()` at the end of each interval.
`measure_samples` and `measure_file` measure a recorded capture in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sealmeter.metering.adc import Adc, AdcChannel, Codes, SkewCorrector
from sealmeter.metering.errors import MeteringError
from sealmeter.metering.integrator import EnergyIntegrator, Method
from sealmeter.metering.reading import Reading
from sealmeter.metering.samples import Samples, iter_samples
from sealmeter.metering.signals import Waveform

__all__ = [
    "RECORDING_BITS",
    "MeasurementChain",
    "measure_file",
    "measure_samples",
    "recording_adc",
]

#: Resolution used to quantise recorded physical samples (about 2 ppm of the peak).
RECORDING_BITS = 20


class MeasurementChain:
    """Converter, skew correction and integrator: feed chunks, read energy.

    With `correct_skew` (the default) a multiplexed converter's skew is undone before
    multiplying. `hysteresis_fraction` of the voltage channel's full scale is the zero-crossing
    hysteresis band.
    """

    def __init__(
        self,
        adc: Adc,
        method: Method = Method.SIGNED,
        correct_skew: bool = True,
        hysteresis_fraction: float = 0.02,
        use_kernel: bool | None = None,
    ) -> None:
        """Build the chain for `adc`; see the class docstring.

        `use_kernel` selects the compiled (numba) hot path or the NumPy one (None: compiled
        when available); both give the same `Reading` bit for bit.
        """
        if not 0.0 <= hysteresis_fraction < 1.0:
            raise MeteringError(
                f"hysteresis_fraction must lie in [0, 1), got {hysteresis_fraction}"
            )
        self.adc = adc
        skew = adc.mux_skew_s * adc.rate_hz
        self._corrector = SkewCorrector(skew, use_kernel) if correct_skew and skew > 0 else None
        i_scale = adc.current.scale
        if self._corrector is not None:
            i_scale *= self._corrector.scale_factor
        hysteresis = round(hysteresis_fraction * (1 << (adc.voltage.bits - 1)))
        self.integrator = EnergyIntegrator(
            adc.rate_hz, adc.voltage.scale, i_scale, method, float(hysteresis), use_kernel
        )
        self._clipped = 0
        self._clip_mark = 0
        self._wave_index = 0

    def feed_codes(self, codes: Codes) -> None:
        """Add a chunk of converter output (must come from this chain's converter)."""
        self._clipped += codes.clipped
        if self._corrector is None:
            self.integrator.feed_trusted(codes.u, codes.i)
        else:
            self.integrator.feed_skewed(codes.u, codes.i, self._corrector)

    def feed(self, samples: Samples) -> None:
        """Digitise physical samples taken at the converter's instants and add them.

        Raises `MeteringError` if the samples' rate differs from the converter's (the energy
        would be scaled wrongly) and `SignalError` for NaN or infinite samples.
        """
        if abs(samples.rate_hz - self.adc.rate_hz) > 1e-9 * self.adc.rate_hz:
            raise MeteringError(
                f"samples at {samples.rate_hz:g} Hz cannot feed a converter running at "
                f"{self.adc.rate_hz:g} Hz; build the chain with the capture's rate"
            )
        self.feed_codes(self.adc.convert(samples))

    def feed_wave(self, wave: Waveform, count: int, rng: np.random.Generator | None = None) -> None:
        """Sample the next `count` pairs of a synthetic `wave` (continuing where it stopped)."""
        self.feed_codes(self.adc.sample(wave, count, self._wave_index, rng))
        self._wave_index += count

    def total(self) -> Reading:
        """Everything measured so far (the open half-period counted as if it ended now)."""
        return _with_clipped(self.integrator.total(), self._clipped)

    def take(self) -> Reading:
        """What was measured since the last `take` (closes the open half-period)."""
        reading = _with_clipped(self.integrator.take(), self._clipped - self._clip_mark)
        self._clip_mark = self._clipped
        return reading

    def finish(self) -> Reading:
        """End of a run: everything measured (same as `total()`; kept for readability)."""
        return self.total()


def _with_clipped(reading: Reading, clipped: int) -> Reading:
    from dataclasses import replace

    return replace(reading, clipped=clipped)


def recording_adc(u_peak: float, i_peak: float, rate_hz: float) -> Adc:
    """An ideal converter for recorded physical samples: `RECORDING_BITS` over the peaks."""
    return Adc(
        voltage=AdcChannel(full_scale=_range(u_peak), bits=RECORDING_BITS),
        current=AdcChannel(full_scale=_range(i_peak), bits=RECORDING_BITS),
        rate_hz=rate_hz,
    )


def _range(peak: float) -> float:
    """A full-scale range just above `peak` (1.0 for an all-zero channel)."""
    return peak * (1.0 + 1e-6) + 1e-12 if peak > 0 else 1.0


def measure_samples(
    samples: Samples | Sequence[Samples],
    method: Method = Method.SIGNED,
    adc: Adc | None = None,
) -> Reading:
    """Measure physical samples (one block or a sequence of chunks).

    Without `adc` the samples are quantised to `RECORDING_BITS` over their own peaks (a list
    of chunks is read twice: once for the peaks, once to measure).
    """
    chunks = [samples] if isinstance(samples, Samples) else samples
    if adc is None:
        u_peak = i_peak = 0.0
        rate = None
        for s in chunks:
            if len(s):
                u_peak = max(u_peak, float(np.abs(s.u).max()))
                i_peak = max(i_peak, float(np.abs(s.i).max()))
            rate = s.rate_hz if rate is None else rate
        if rate is None:
            raise MeteringError("no samples to measure")
        adc = recording_adc(u_peak, i_peak, rate)
    chain = MeasurementChain(adc, method)
    for s in chunks:
        chain.feed(s)
    return chain.finish()


def measure_file(
    path: str | Path,
    method: Method = Method.SIGNED,
    chunk_rows: int = 1 << 18,
    progress: Callable[[int, int], object] | None = None,
) -> Reading:
    """Measure a recorded `.csv`/`.npy` capture in bounded memory (two streaming passes).

    `progress`, if given, is called after each chunk of the second pass with (samples
    measured, samples in the file), for a progress bar on long captures.
    """
    u_peak = i_peak = 0.0
    rate = 0.0
    total = 0
    for s in iter_samples(path, chunk_rows):
        u_peak = max(u_peak, float(np.abs(s.u).max()))
        i_peak = max(i_peak, float(np.abs(s.i).max()))
        rate = rate or s.rate_hz
        total += len(s)
    chain = MeasurementChain(recording_adc(u_peak, i_peak, rate), method)
    done = 0
    for s in iter_samples(path, chunk_rows):
        chain.feed(s)
        done += len(s)
        if progress is not None:
            progress(done, total)
    return chain.finish()
