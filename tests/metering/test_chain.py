"""Measuring recorded captures end to end, and the `measure` and `bench metering` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sealmeter.cli import app
from sealmeter.metering import (
    Harmonic,
    MeteringError,
    Method,
    Waveform,
    iter_samples,
    load_samples,
    measure_file,
    measure_samples,
)
from tests.metering.conftest import write_csv

runner = CliRunner()
WAVE = Waveform(
    lag_deg=36.87, harmonics=(Harmonic(3, 6.0, 1.0, lag_deg=10.0), Harmonic(5, 4.0, 0.5))
)


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """Two seconds of WAVE at 6.4 kHz as a CSV file."""
    return write_csv(tmp_path / "capture.csv", WAVE, 6400.0, 12800)


def test_a_recorded_capture_measures_its_closed_form_truth(capture: Path) -> None:
    r = measure_file(capture)
    assert r.samples == 12800
    assert r.duration_s == pytest.approx(2.0)
    assert r.active_energy_wh == pytest.approx(WAVE.energy_wh(2.0), rel=1e-5)
    assert r.apparent_vah == pytest.approx(WAVE.apparent_power_va * 2 / 3600, rel=1e-3)
    assert r.u_rms_v == pytest.approx(WAVE.u_total_rms, rel=1e-5)
    assert r.i_rms_a == pytest.approx(WAVE.i_total_rms, rel=1e-5)
    assert r.reactive_varh > 0  # inductive


def test_file_chunking_does_not_change_the_reading(capture: Path) -> None:
    whole = measure_file(capture)
    assert measure_file(capture, chunk_rows=777) == whole
    assert measure_samples(list(iter_samples(capture, chunk_rows=1000))) == whole
    assert measure_samples(load_samples(capture)) == whole


def test_rectified_method_overstates_energy_below_unity_power_factor(capture: Path) -> None:
    signed = measure_file(capture)
    rectified = measure_file(capture, Method.RECTIFIED)
    assert rectified.active_energy_wh > 1.02 * signed.active_energy_wh


def test_empty_sequence_is_a_typed_error() -> None:
    with pytest.raises(MeteringError):
        measure_samples([])


def test_measure_command_prints_the_figures_as_json(capture: Path) -> None:
    result = runner.invoke(app, ["measure", "--samples", str(capture), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for key in (
        "active_energy_wh",
        "reactive_energy_varh",
        "apparent_energy_vah",
        "u_rms_v",
        "i_rms_a",
        "samples",
    ):
        assert key in figures
    assert figures["samples"] == 12800
    assert figures["active_energy_wh"] == pytest.approx(WAVE.energy_wh(2.0), rel=1e-5)
    text = runner.invoke(app, ["measure", "--samples", str(capture), "--method", "rectified"])
    assert text.exit_code == 0
    assert "active_energy_wh" in text.output


def test_measure_command_reports_bad_input_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t,u\n0,1\n")
    result = runner.invoke(app, ["measure", "--samples", str(bad), "--json"])
    assert result.exit_code == 2
    assert "lacks column" in result.output
    good = write_csv(tmp_path / "ok.csv", Waveform(), 1000.0, 10)
    result = runner.invoke(app, ["measure", "--samples", str(good), "--method", "magic"])
    assert result.exit_code == 2
    assert "signed" in result.output


def test_npy_capture_through_the_command(tmp_path: Path) -> None:
    s = WAVE.sample(6400.0, 6400)
    path = tmp_path / "cap.npy"
    np.save(path, np.c_[np.arange(6400) / 6400.0, s.u, s.i])
    result = runner.invoke(app, ["measure", "--samples", str(path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["active_energy_wh"] == pytest.approx(
        WAVE.energy_wh(1.0), rel=1e-5
    )


def test_bench_metering_quick_prints_the_required_figures() -> None:
    result = runner.invoke(app, ["bench", "metering", "--json", "--quick"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    points = figures["accuracy"]["points"]
    assert {p["power_factor"] for p in points} >= {"1", "0.5L", "0.8C", "1+h5"}
    assert min(p["current_pct_of_nominal"] for p in points) == 1
    worst = max(abs(p["error_pct"]) for p in points)
    assert figures["accuracy"]["max_abs_error_pct"] == worst
    assert figures["accuracy_rectified"]["max_abs_error_pct"] > 10
    assert figures["samples_per_s"] > 0
    assert figures["numpy_bound_samples_per_s"] > 0


def test_measure_file_reports_progress_to_the_end(capture: Path) -> None:
    seen: list[tuple[int, int]] = []
    reading = measure_file(capture, chunk_rows=5000, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(5000, 12800), (10000, 12800), (12800, 12800)]
    assert reading == measure_file(capture)
