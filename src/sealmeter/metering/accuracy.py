"""Accuracy harness: IEC 62053-22-style test points, measured against closed-form truth.

Each point is a synthetic `Waveform` (nominal voltage, a current from 1 % of nominal to the
maximum, a power factor, optionally harmonics) run through a `MeasurementChain`; its active
energy over a whole number of periods is compared with the closed-form truth. The limits are
those of a class 0.2S meter (0.4 % / 0.2 % at power factor 1, 0.5 % / 0.3 % at 0.5 inductive
and 0.8 capacitive).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sealmeter.metering.adc import Adc, AdcChannel
from sealmeter.metering.chain import MeasurementChain
from sealmeter.metering.errors import MeteringError
from sealmeter.metering.integrator import Method
from sealmeter.metering.signals import Harmonic, Waveform

__all__ = ["AccuracyPoint", "TestPoint", "accuracy_table", "default_adc", "iec_test_points"]

U_NOMINAL = 230.0
I_NOMINAL = 5.0
I_MAX = 10.0


@dataclass(frozen=True)
class TestPoint:
    """One test condition: a name, the current as a fraction of nominal and the waveform."""

    name: str
    current_fraction: float
    power_factor: str
    limit_pct: float
    wave: Waveform


@dataclass(frozen=True)
class AccuracyPoint:
    """The result at one test point: true and measured energy and the error in percent."""

    name: str
    current_a: float
    current_pct_of_nominal: float
    power_factor: str
    true_wh: float
    measured_wh: float
    error_pct: float
    limit_pct: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _wave(fraction: float, lag_deg: float, harmonics: tuple[Harmonic, ...] = ()) -> Waveform:
    # Noise of about one LSB on each channel, as a real front end has (it also dithers).
    return Waveform(
        frequency_hz=50.0,
        u_rms=U_NOMINAL,
        i_rms=I_NOMINAL * fraction,
        lag_deg=lag_deg,
        harmonics=harmonics,
        u_noise_rms=0.006,
        i_noise_rms=0.0003,
    )


def iec_test_points() -> list[TestPoint]:
    """The test points: PF 1 from 1 % to Imax, 0.5 ind. and 0.8 cap. from 2 %, harmonics."""
    points: list[TestPoint] = []
    lag_05 = math.degrees(math.acos(0.5))
    lag_08 = -math.degrees(math.acos(0.8))
    for frac in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, I_MAX / I_NOMINAL):
        pct = f"{frac * 100:g} % In"
        points.append(
            TestPoint(f"{pct} PF 1", frac, "1", 0.4 if frac < 0.05 else 0.2, _wave(frac, 0))
        )
        if frac >= 0.02:
            limit = 0.5 if frac < 0.1 else 0.3
            points.append(TestPoint(f"{pct} PF 0.5 ind", frac, "0.5L", limit, _wave(frac, lag_05)))
            points.append(TestPoint(f"{pct} PF 0.8 cap", frac, "0.8C", limit, _wave(frac, lag_08)))
    # IEC 62053-21 style harmonic test: 10 % 5th on voltage, 40 % 5th on current, in phase.
    fifth = (Harmonic(5, u_rms=0.1 * U_NOMINAL, i_rms=0.4 * 0.5 * I_NOMINAL),)
    points.append(TestPoint("50 % In 5th harmonic", 0.5, "1+h5", 0.2, _wave(0.5, 0, fifth)))
    rich = (
        Harmonic(3, u_rms=0.05 * U_NOMINAL, i_rms=0.3 * I_NOMINAL, lag_deg=20),
        Harmonic(5, u_rms=0.06 * U_NOMINAL, i_rms=0.2 * I_NOMINAL, u_phase_deg=30, lag_deg=-15),
        Harmonic(7, u_rms=0.03 * U_NOMINAL, i_rms=0.1 * I_NOMINAL, lag_deg=40),
        Harmonic(11, u_rms=0.02 * U_NOMINAL, i_rms=0.05 * I_NOMINAL, lag_deg=60),
        Harmonic(13, u_rms=0.015 * U_NOMINAL, i_rms=0.04 * I_NOMINAL, lag_deg=-30),
    )
    points.append(TestPoint("100 % In harmonic-rich", 1.0, "0.9L+h", 0.3, _wave(1.0, 25.8, rich)))
    return points


def default_adc(rate_hz: float = 8000.0, bits: int = 16) -> Adc:
    """The reference converter: 16 bits, +-400 V and +-25 A, inputs multiplexed, 8 kHz.

    The current channel has a 0.3 % gain error that the meter's calibration divides out.
    """
    return Adc.multiplexed(
        AdcChannel(full_scale=400.0, bits=bits),
        AdcChannel(full_scale=25.0, bits=bits, gain_error=0.003),
        rate_hz,
    )


def accuracy_table(
    method: Method = Method.SIGNED,
    adc: Adc | None = None,
    periods: int = 500,
    seed: int = 0,
    correct_skew: bool = True,
) -> list[AccuracyPoint]:
    """Measure every test point for `periods` mains periods; return the errors."""
    if periods < 1:
        raise MeteringError(f"periods must be >= 1, got {periods}")
    adc = adc or default_adc()
    results: list[AccuracyPoint] = []
    for k, point in enumerate(iec_test_points()):
        count = round(periods * adc.rate_hz / point.wave.frequency_hz)
        duration = count / adc.rate_hz
        chain = MeasurementChain(adc, method, correct_skew=correct_skew)
        rng = np.random.default_rng([seed, k])
        step = 1 << 16
        for start in range(0, count, step):
            chain.feed_wave(point.wave, min(step, count - start), rng)
        measured = chain.finish().active_energy_wh
        truth = point.wave.energy_wh(duration)
        results.append(
            AccuracyPoint(
                name=point.name,
                current_a=point.wave.i_rms,
                current_pct_of_nominal=point.current_fraction * 100,
                power_factor=point.power_factor,
                true_wh=truth,
                measured_wh=measured,
                error_pct=(measured - truth) / truth * 100,
                limit_pct=point.limit_pct,
            )
        )
    return results
