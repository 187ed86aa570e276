"""Synthetic waveforms: the closed-form truth agrees with the sampled signal itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.metering import Harmonic, SignalError, Waveform


@settings(max_examples=40, deadline=None)
@given(
    lag=st.floats(-89, 89),
    i_rms=st.floats(0.01, 50),
    h_order=st.integers(2, 15),
    h_u=st.floats(0, 30),
    h_i=st.floats(0, 5),
    h_lag=st.floats(-180, 180),
    freq=st.sampled_from([50.0, 60.0]),
)
def test_closed_form_power_matches_the_mean_of_sampled_products(
    lag: float, i_rms: float, h_order: int, h_u: float, h_i: float, h_lag: float, freq: float
) -> None:
    wave = Waveform(
        frequency_hz=freq,
        i_rms=i_rms,
        lag_deg=lag,
        harmonics=(Harmonic(h_order, h_u, h_i, lag_deg=h_lag),),
        u_dc=1.5,
        i_dc=0.01,
    )
    rate = freq * 400  # 400 samples per period resolve the 15th harmonic well
    s = wave.sample(rate, 400 * 10)
    p = float(np.mean(s.u * s.i))
    assert p == pytest.approx(wave.active_power_w, rel=1e-9, abs=1e-9 * wave.apparent_power_va)
    assert math.sqrt(float(np.mean(s.u**2))) == pytest.approx(wave.u_total_rms, rel=1e-9)
    assert math.sqrt(float(np.mean(s.i**2))) == pytest.approx(wave.i_total_rms, rel=1e-9)
    assert float(np.abs(s.u).max()) <= wave.u_peak + 1e-9
    assert float(np.abs(s.i).max()) <= wave.i_peak + 1e-9


def test_power_factor_constructor_sets_the_angle_and_sign() -> None:
    ind = Waveform.at_power_factor(0.5, "inductive")
    cap = Waveform.at_power_factor(0.8, "capacitive")
    assert ind.lag_deg == pytest.approx(60.0)
    assert cap.lag_deg == pytest.approx(-math.degrees(math.acos(0.8)))
    assert ind.reactive_power_var > 0 > cap.reactive_power_var
    assert ind.active_power_w == pytest.approx(230 * 5 * 0.5)


def test_chunked_sampling_equals_one_block_without_noise() -> None:
    wave = Waveform(drift_hz_per_s=0.01, harmonics=(Harmonic(3, 5, 1),))
    whole = wave.sample(4000, 1000)
    parts = [wave.sample(4000, 250, start) for start in range(0, 1000, 250)]
    np.testing.assert_array_equal(whole.u, np.concatenate([p.u for p in parts]))
    np.testing.assert_array_equal(whole.i, np.concatenate([p.i for p in parts]))


def test_mux_delay_shifts_only_the_current() -> None:
    wave = Waveform()
    plain = wave.sample(4000, 100)
    late = wave.sample(4000, 100, i_delay_s=1 / 8000)
    np.testing.assert_array_equal(plain.u, late.u)
    shifted = wave.sample(8000, 200)
    np.testing.assert_allclose(late.i, shifted.i[1::2], atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frequency_hz": 0.0},
        {"frequency_hz": float("nan")},
        {"u_rms": -1.0},
        {"i_noise_rms": float("inf")},
    ],
)
def test_bad_waveform_parameters_are_typed_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(SignalError):
        Waveform(**kwargs)  # type: ignore[arg-type]


def test_bad_harmonics_and_sampling_arguments_are_typed_errors() -> None:
    with pytest.raises(SignalError):
        Harmonic(1, 1.0, 1.0)
    with pytest.raises(SignalError):
        Harmonic(3, -1.0, 1.0)
    with pytest.raises(SignalError):
        Waveform.at_power_factor(1.2)
    with pytest.raises(SignalError):
        Waveform(u_noise_rms=1.0).sample(4000, 10)  # noise needs an rng
    with pytest.raises(SignalError):
        Waveform().sample(0.0, 10)
