"""The converter model: quantisation bounds, clipping, calibration, skew and its correction."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.metering import (
    Adc,
    AdcChannel,
    ClippingError,
    MeasurementChain,
    MeteringError,
    SkewCorrector,
    Waveform,
)


@settings(max_examples=50, deadline=None)
@given(
    bits=st.integers(8, 20),
    gain=st.floats(-0.01, 0.01),
    values=st.lists(st.floats(-0.99, 0.99), min_size=1, max_size=50),
)
def test_calibrated_codes_are_within_half_a_step_of_the_input(
    bits: int, gain: float, values: list[float]
) -> None:
    ch = AdcChannel(full_scale=10.0, bits=bits, gain_error=gain)
    x = np.array(values) * 10.0 / (1.0 + abs(gain))
    codes, clipped = ch.digitize(x)
    assert clipped == 0
    assert np.array_equal(codes, np.rint(codes))
    assert np.all(np.abs(codes * ch.scale - x) <= ch.scale / 2 * (1 + 1e-9))


def test_clipping_raises_a_typed_error_or_saturates_and_counts() -> None:
    ch = AdcChannel(full_scale=1.0, bits=12)
    x = np.array([0.0, 0.5, 1.5, -3.0, 0.99])
    with pytest.raises(ClippingError, match="2 sample"):
        ch.digitize(x)
    codes, clipped = ch.digitize(x, on_clip="saturate")
    lo, hi = ch.code_range
    assert clipped == 2
    assert codes[2] == hi
    assert codes[3] == lo


def test_a_clipping_signal_through_the_chain_is_reported() -> None:
    adc = Adc(AdcChannel(400.0), AdcChannel(5.0), 4000.0)
    with pytest.raises(ClippingError):
        MeasurementChain(adc).feed_wave(Waveform(i_rms=10.0), 400)
    lenient = Adc(AdcChannel(400.0), AdcChannel(5.0), 4000.0, on_clip="saturate")
    chain = MeasurementChain(lenient)
    chain.feed_wave(Waveform(i_rms=10.0), 400)
    reading = chain.finish()
    assert reading.clipped > 0
    assert reading.active_energy_wh < Waveform(i_rms=10.0).energy_wh(0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"full_scale": 0.0},
        {"full_scale": 1.0, "bits": 1},
        {"full_scale": 1.0, "bits": 24},
        {"full_scale": 1.0, "gain_error": 0.7},
    ],
)
def test_bad_channel_parameters_are_typed_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(MeteringError):
        AdcChannel(**kwargs)  # type: ignore[arg-type]


def test_skew_of_a_full_period_or_more_is_rejected() -> None:
    with pytest.raises(MeteringError):
        Adc(AdcChannel(1.0), AdcChannel(1.0), 1000.0, mux_skew_s=0.001)
    with pytest.raises(MeteringError):
        SkewCorrector(1.0)


@pytest.mark.parametrize("skew", [0.0, 0.25, 0.5, 0.9])
def test_skew_corrector_recovers_the_current_at_the_voltage_instant(skew: float) -> None:
    rate = 8000.0
    wave = Waveform(harmonics=())
    late = wave.sample(rate, 800, i_delay_s=skew / rate)
    truth = wave.sample(rate, 800)
    corrector = SkewCorrector(skew)
    corrected = corrector.process(np.rint(late.i * 1000)) * corrector.scale_factor / 1000
    # After the 3-sample start-up: input quantisation (0.5 mA) through the filter (gain of
    # absolute coefficients at most 1.5), output rounding (1/32 mA), interpolation 1e-6.
    err = np.abs(corrected[3:] - truth.i[3:])
    assert err.max() < 0.0005 * 1.5 + 0.00004 + 1e-6 * wave.i_peak


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 500), max_size=8), skew=st.floats(0.0, 0.99))
def test_skew_corrector_output_does_not_depend_on_chunking(cuts: list[int], skew: float) -> None:
    codes = np.rint(Waveform().sample(4000, 500, i_delay_s=skew / 4000).i * 100)
    whole = SkewCorrector(skew).process(codes)
    corrector = SkewCorrector(skew)
    edges = [0, *sorted(cuts), 500]
    parts = [corrector.process(codes[a:b]) for a, b in itertools.pairwise(edges)]
    np.testing.assert_array_equal(whole, np.concatenate(parts))


def test_skew_correction_is_what_makes_a_multiplexed_meter_accurate() -> None:
    adc = Adc.multiplexed(AdcChannel(400.0), AdcChannel(25.0), 4000.0)
    wave = Waveform.at_power_factor(0.5)
    truth = wave.energy_wh(2.0)
    errors = {}
    for correct in (True, False):
        chain = MeasurementChain(adc, correct_skew=correct)
        chain.feed_wave(wave, 8000)
        errors[correct] = (chain.finish().active_energy_wh - truth) / truth
    # Uncorrected: the current, taken half a sample late, looks 2.25 degrees less lagging.
    expected = math.cos(math.radians(60 - 360 * 50 / 8000)) / 0.5 - 1
    assert errors[False] == pytest.approx(expected, rel=0.02)
    assert abs(errors[True]) < 1e-4
