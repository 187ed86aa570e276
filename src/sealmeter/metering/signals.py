"""Synthetic mains waveforms with closed-form truth: the reference for accuracy tests.

A `Waveform` is a fundamental (50 or 60 Hz, optional linear frequency drift) plus harmonics
on voltage and current, DC offsets and Gaussian noise. Its active, reactive and apparent
power over whole periods are known in closed form, so a measurement can be compared with the
truth rather than with another measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering.errors import SignalError
from sealmeter.metering.samples import Samples

__all__ = ["Harmonic", "Waveform"]


@dataclass(frozen=True)
class Harmonic:
    """One harmonic of order `order` (>= 2) on voltage and current, RMS values and phases.

    The voltage harmonic is `sqrt(2) u_rms sin(h w t + u_phase)`; the current harmonic lags it
    by `lag_deg` (positive = inductive), so it adds `u_rms i_rms cos(lag)` of active power.
    """

    order: int
    u_rms: float = 0.0
    i_rms: float = 0.0
    u_phase_deg: float = 0.0
    lag_deg: float = 0.0

    def __post_init__(self) -> None:
        """Reject orders below 2 and negative amplitudes."""
        if self.order < 2:
            raise SignalError(f"harmonic order must be >= 2, got {self.order}")
        if self.u_rms < 0 or self.i_rms < 0:
            raise SignalError("harmonic RMS values must not be negative")


@dataclass(frozen=True)
class Waveform:
    """A single-phase mains signal pair u(t), i(t) with known truth.

    `lag_deg` is the angle by which the fundamental current lags the voltage: 0 is power
    factor 1, +60 is 0.5 inductive, about -36.87 is 0.8 capacitive. `drift_hz_per_s` makes the
    frequency `frequency_hz + drift_hz_per_s * t` (closed-form truth then holds only
    approximately). Noise is white and Gaussian with the given RMS, drawn from the generator
    passed to `sample`.
    """

    frequency_hz: float = 50.0
    u_rms: float = 230.0
    i_rms: float = 5.0
    lag_deg: float = 0.0
    harmonics: tuple[Harmonic, ...] = field(default_factory=tuple)
    u_dc: float = 0.0
    i_dc: float = 0.0
    u_noise_rms: float = 0.0
    i_noise_rms: float = 0.0
    drift_hz_per_s: float = 0.0

    def __post_init__(self) -> None:
        """Reject non-physical parameters with a message saying which one."""
        if not (self.frequency_hz > 0 and math.isfinite(self.frequency_hz)):
            raise SignalError(f"frequency must be positive, got {self.frequency_hz}")
        for name in ("u_rms", "i_rms", "u_noise_rms", "i_noise_rms"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise SignalError(f"{name} must be a finite value >= 0, got {value}")

    @classmethod
    def at_power_factor(
        cls,
        power_factor: float,
        kind: Literal["inductive", "capacitive"] = "inductive",
        u_rms: float = 230.0,
        i_rms: float = 5.0,
        frequency_hz: float = 50.0,
    ) -> Waveform:
        """Build a sinusoidal waveform whose fundamental has the given power factor."""
        if not 0.0 <= power_factor <= 1.0:
            raise SignalError(f"power factor must lie in [0, 1], got {power_factor}")
        lag = math.degrees(math.acos(power_factor))
        return cls(
            frequency_hz=frequency_hz,
            u_rms=u_rms,
            i_rms=i_rms,
            lag_deg=lag if kind == "inductive" else -lag,
        )

    # -- closed-form truth (whole periods, no drift) -------------------------------------------

    @property
    def active_power_w(self) -> float:
        """Mean active power over whole periods: sum of U_h I_h cos(lag_h) plus the DC term."""
        p = self.u_rms * self.i_rms * math.cos(math.radians(self.lag_deg))
        for h in self.harmonics:
            p += h.u_rms * h.i_rms * math.cos(math.radians(h.lag_deg))
        return p + self.u_dc * self.i_dc

    @property
    def reactive_power_var(self) -> float:
        """Budeanu reactive power: sum of U_h I_h sin(lag_h) (inductive positive)."""
        q = self.u_rms * self.i_rms * math.sin(math.radians(self.lag_deg))
        for h in self.harmonics:
            q += h.u_rms * h.i_rms * math.sin(math.radians(h.lag_deg))
        return q

    @property
    def u_total_rms(self) -> float:
        """RMS voltage including harmonics, DC offset and noise."""
        sq = self.u_rms**2 + sum(h.u_rms**2 for h in self.harmonics)
        return math.sqrt(sq + self.u_dc**2 + self.u_noise_rms**2)

    @property
    def i_total_rms(self) -> float:
        """RMS current including harmonics, DC offset and noise."""
        sq = self.i_rms**2 + sum(h.i_rms**2 for h in self.harmonics)
        return math.sqrt(sq + self.i_dc**2 + self.i_noise_rms**2)

    @property
    def apparent_power_va(self) -> float:
        """Apparent power U_rms * I_rms (all components included)."""
        return self.u_total_rms * self.i_total_rms

    @property
    def u_peak(self) -> float:
        """Upper bound of |u(t)| without noise (for choosing a converter's range)."""
        return abs(self.u_dc) + math.sqrt(2) * (self.u_rms + sum(h.u_rms for h in self.harmonics))

    @property
    def i_peak(self) -> float:
        """Upper bound of |i(t)| without noise (for choosing a converter's range)."""
        return abs(self.i_dc) + math.sqrt(2) * (self.i_rms + sum(h.i_rms for h in self.harmonics))

    def energy_wh(self, duration_s: float) -> float:
        """Closed-form active energy over `duration_s` (exact for whole periods, no drift)."""
        return self.active_power_w * duration_s / 3600.0

    # -- sampling ---------------------------------------------------------------------------

    def sample(
        self,
        rate_hz: float,
        count: int,
        start_index: int = 0,
        i_delay_s: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> Samples:
        """Sample `count` pairs at `rate_hz` from sample index `start_index`.

        Voltage sample n is taken at `n / rate_hz`, current sample n at `n / rate_hz +
        i_delay_s` (a multiplexer converts the inputs in alternation). Noise needs `rng`;
        without one, noise settings must be zero.
        """
        if rate_hz <= 0 or count < 0:
            raise SignalError(f"need rate_hz > 0 and count >= 0, got {rate_hz}, {count}")
        if (self.u_noise_rms or self.i_noise_rms) and rng is None:
            raise SignalError("this waveform has noise: pass rng=numpy.random.default_rng(seed)")
        n = np.arange(start_index, start_index + count, dtype=np.float64)
        tu = n / rate_hz
        ti = tu + i_delay_s
        u = self._voltage(tu)
        i = self._current(ti)
        if rng is not None:
            if self.u_noise_rms:
                u += rng.normal(0.0, self.u_noise_rms, count)
            if self.i_noise_rms:
                i += rng.normal(0.0, self.i_noise_rms, count)
        return Samples(u=u, i=i, rate_hz=float(rate_hz), t0=start_index / rate_hz)

    def _theta(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Phase of the fundamental at times `t` (radians), integrating the drifting frequency."""
        f0, df = self.frequency_hz, self.drift_hz_per_s
        cycles = f0 * t + 0.5 * df * t * t if df else f0 * t
        # Reduce whole cycles first so long runs keep full precision in the phase.
        result: NDArray[np.float64] = 2.0 * np.pi * (cycles - np.floor(cycles))
        return result

    def _voltage(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        th = self._theta(t)
        root2 = math.sqrt(2.0)
        u = root2 * self.u_rms * np.sin(th) + self.u_dc
        for h in self.harmonics:
            if h.u_rms:
                u += root2 * h.u_rms * np.sin(h.order * th + math.radians(h.u_phase_deg))
        return u

    def _current(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        th = self._theta(t)
        root2 = math.sqrt(2.0)
        i = root2 * self.i_rms * np.sin(th - math.radians(self.lag_deg)) + self.i_dc
        for h in self.harmonics:
            if h.i_rms:
                phase = math.radians(h.u_phase_deg - h.lag_deg)
                i += root2 * h.i_rms * np.sin(h.order * th + phase)
        return i
