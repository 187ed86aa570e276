"""The fleet fast path: standard load profiles (checked against demandlib) and fleets."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings

import numpy as np
import pytest

from sealmeter.metering import (
    FleetVariation,
    MeteringError,
    fleet_interval_energy,
    interval_starts,
    iter_fleet_interval_energy,
    standard_profile,
)


@pytest.mark.parametrize("kind", ["H25", "G25", "H0", "synthetic"])
def test_profiles_cover_the_year_and_sum_to_one(kind: str) -> None:
    for year in (2024, 2025):
        p = standard_profile(kind, year)
        assert p.shape == (interval_starts(year).size,)
        assert p.shape[0] == (366 if year == 2024 else 365) * 96
        assert abs(float(p.sum()) - 1.0) < 1e-12
        assert (p >= 0).all()


def test_h25_is_demandlib_renormalised_and_leaves_warning_filters_alone() -> None:
    before = list(warnings.filters)
    ours = standard_profile("H25", 2025)
    assert warnings.filters == before
    import pandas as pd
    from demandlib import bdew

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = pd.date_range("2025-01-01", periods=35040, freq="15min")
        theirs = bdew.H25(index).to_numpy()
    # demandlib scales H25 to about 1 GWh per year in kW; its sum misses by about 0.5 %.
    annual_kwh = theirs.sum() / 4
    assert 0.99e6 < annual_kwh < 1.0e6
    np.testing.assert_allclose(ours, theirs / theirs.sum(), rtol=1e-12)


def test_elecslp_isolation_keeps_warnings_as_configured() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        marker = list(warnings.filters)
        standard_profile("G0", 2023)  # runs ElecSlp, which sets simplefilter("error")
        assert warnings.filters == marker


def test_holidays_are_treated_as_sundays() -> None:
    plain = standard_profile("synthetic", 2025)
    holiday = standard_profile("synthetic", 2025, holidays=[dt.date(2025, 12, 25)])
    day = (dt.date(2025, 12, 25) - dt.date(2025, 1, 1)).days
    assert not np.array_equal(plain[day * 96 : (day + 1) * 96], holiday[day * 96 : (day + 1) * 96])
    h25 = standard_profile("H25", 2025, holidays=[dt.date(2025, 12, 25)])
    assert h25.sum() == pytest.approx(1.0)


def test_synthetic_profile_has_daily_weekly_and_seasonal_shape() -> None:
    p = standard_profile("synthetic", 2025).reshape(365, 96)
    night, evening = p[:, 12].mean(), p[:, 76].mean()  # 03:00 and 19:00
    assert evening > 2 * night
    january, july = p[:31].sum(), p[181:212].sum()
    assert january > 1.2 * july
    saturday, monday = p[3, 28], p[5, 28]  # 4 Jan 2025 is a Saturday; 07:00
    assert monday > saturday


def test_fleet_is_deterministic_per_meter_and_independent_of_batching() -> None:
    var = FleetVariation(annual_sigma=0.2, shift_intervals=3, noise_sigma=0.3)
    a = fleet_interval_energy(7, 3000.0, kind="synthetic", seed=5, variation=var)
    b = np.concatenate(
        [
            blk
            for _, blk in iter_fleet_interval_energy(
                7, 3000.0, kind="synthetic", seed=5, variation=var, batch=3
            )
        ]
    )
    np.testing.assert_array_equal(a, b)
    c = fleet_interval_energy(7, 3000.0, kind="synthetic", seed=6, variation=var)
    assert not np.array_equal(a, c)
    assert len({round(float(x), 6) for x in a.sum(axis=1)}) == 7  # meters differ
    assert a.shape == (7, 35040)
    assert (a >= 0).all()


def test_fleet_without_variation_is_the_profile_times_the_annual_energy() -> None:
    flat = FleetVariation(annual_sigma=0.0, shift_intervals=0, noise_sigma=0.0)
    f = fleet_interval_energy(3, 3500.0, kind="H25", year=2025, variation=flat)
    np.testing.assert_allclose(f[0], standard_profile("H25", 2025) * 3.5e6, rtol=1e-12)
    np.testing.assert_allclose(f.sum(axis=1), 3.5e6, rtol=1e-12)


def test_fleet_annual_energy_follows_the_lognormal_spread() -> None:
    f = fleet_interval_energy(300, 4000.0, kind="synthetic", seed=2, dtype=np.float32)
    assert f.dtype == np.float32
    annual = f.sum(axis=1, dtype=np.float64) / 1000
    assert np.median(annual) == pytest.approx(4000.0, rel=0.1)
    assert 0.2 < float(np.std(np.log(annual))) < 0.4


@pytest.mark.parametrize(
    "call",
    [
        lambda: standard_profile("X9"),
        lambda: standard_profile("H25", 1800),
        lambda: fleet_interval_energy(-1),
        lambda: fleet_interval_energy(2, float("nan")),
        lambda: list(iter_fleet_interval_energy(2, batch=0)),
        lambda: FleetVariation(noise_sigma=-1),
    ],
)
def test_bad_fleet_arguments_are_typed_errors(call: object) -> None:
    with pytest.raises(MeteringError):
        call()  # type: ignore[operator]


def test_importing_metering_does_not_import_pandas_or_demandlib() -> None:
    code = (
        "import sys, sealmeter.metering, sealmeter.cli; "
        "print(sorted(m for m in ('pandas', 'demandlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
