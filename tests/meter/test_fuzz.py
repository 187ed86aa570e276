"""A short run of the meter's atheris fuzz target in the suite (long runs happen by hand)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parents[2] / "fuzz" / "meter_downlink.py"


def _require_atheris() -> None:
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires atheris for the fuzz run: {exc}")
        pytest.skip(f"atheris cannot be imported here ({exc}); install it to fuzz")


def test_meter_fuzz_target_survives_a_short_run(tmp_path: Path) -> None:
    _require_atheris()
    done = subprocess.run(
        [sys.executable, str(TARGET), "-atheris_runs=1000", "-seed=4321", "-max_len=1024"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done 1000" in done.stderr
