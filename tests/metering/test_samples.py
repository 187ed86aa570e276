"""Recorded sample files: valid captures load, every malformed one gives a SampleFileError."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.metering import SampleFileError, Waveform, iter_samples, load_samples
from tests.metering.conftest import load_cases, write_csv

CASES = load_cases("sample_files.json")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_sample_file_vectors(tmp_path: Path, case: dict[str, Any]) -> None:
    path = tmp_path / "capture.csv"
    path.write_text(case["text"])
    if case["valid"]:
        samples = load_samples(path)
        assert len(samples) == case["samples"]
        assert samples.rate_hz == pytest.approx(case["rate_hz"], rel=1e-3)
        # The same file streamed two rows at a time gives the same samples.
        parts = list(iter_samples(path, chunk_rows=2))
        np.testing.assert_array_equal(np.concatenate([p.u for p in parts]), samples.u)
    else:
        with pytest.raises(SampleFileError) as info:
            load_samples(path)
        assert case["error"] in str(info.value)
        assert str(path) in str(info.value)


def test_csv_and_npy_captures_load_the_same_samples(tmp_path: Path) -> None:
    wave = Waveform.at_power_factor(0.8)
    csv_path = write_csv(tmp_path / "c.csv", wave, 4000.0, 1000)
    from_csv = load_samples(csv_path)
    table = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    np.save(tmp_path / "plain.npy", table)
    rec = np.zeros(1000, dtype=[("u", "f8"), ("t", "f8"), ("i", "f4")])
    rec["t"], rec["u"], rec["i"] = table[:, 0], table[:, 1], table[:, 2]
    np.save(tmp_path / "structured.npy", rec)
    for name in ("plain.npy", "structured.npy"):
        s = load_samples(tmp_path / name)
        assert s.rate_hz == pytest.approx(4000.0)
        np.testing.assert_array_equal(s.u, from_csv.u)
        np.testing.assert_allclose(s.i, from_csv.i, rtol=1e-6)
    assert from_csv.duration_s == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("array", "error"),
    [
        (np.zeros((4, 2)), "shape"),
        (np.zeros(4), "shape"),
        (np.zeros(3, dtype=[("t", "f8"), ("u", "f8")]), "lacks field"),
        (np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]), "not strictly increasing"),
        (np.array([[0.0, 1.0, 1.0], [1.0, np.nan, 1.0]]), "not a finite number"),
        (np.array([["a", "b", "c"], ["d", "e", "f"]]), "numeric"),
    ],
)
def test_malformed_npy_captures_are_typed_errors(
    tmp_path: Path, array: np.ndarray, error: str
) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(SampleFileError, match=error):
        load_samples(path)


def test_missing_unreadable_or_unknown_files_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(SampleFileError, match="does not exist"):
        load_samples(tmp_path / "absent.csv")
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    with pytest.raises(SampleFileError, match="suffix"):
        load_samples(tmp_path / "x.wav")
    (tmp_path / "x.npy").write_bytes(b"not numpy at all")
    with pytest.raises(SampleFileError, match="NumPy"):
        load_samples(tmp_path / "x.npy")
    with pytest.raises(SampleFileError, match="chunk_rows"):
        list(iter_samples(tmp_path / "x.npy", chunk_rows=1))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".npy"]))
def test_garbage_files_give_samples_or_a_typed_error(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(data)
    try:
        samples = load_samples(path)
    except SampleFileError:
        return
    assert len(samples) >= 2


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(*[st.sampled_from(["0", "1", "-2.5", "1e3", "nan", "", "x", "inf"])] * 3),
        max_size=6,
    )
)
def test_garbage_csv_text_gives_samples_or_a_typed_error(
    tmp_path: Path, rows: list[tuple[str, str, str]]
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("t,u,i\n" + "".join(",".join(r) + "\n" for r in rows))
    with contextlib.suppress(SampleFileError):
        load_samples(path)
