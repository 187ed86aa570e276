"""A short run of the atheris fuzz target in the suite (the long runs happen by hand)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).resolve().parents[2] / "fuzz" / "protocol_decoders.py"


def _require_atheris() -> None:
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires atheris for the fuzz run: {exc}")
        pytest.skip(f"atheris cannot be imported here ({exc}); install it to fuzz")


def test_fuzz_target_survives_a_short_run(tmp_path: Path) -> None:
    _require_atheris()
    done = subprocess.run(
        [sys.executable, str(TARGET), "-atheris_runs=4000", "-seed=1234", "-max_len=2048"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Done 4000" in done.stderr


def test_fuzz_entry_point_accepts_edge_inputs() -> None:
    _require_atheris()
    sys.path.insert(0, str(TARGET.parent))
    try:
        import protocol_decoders as target
    finally:
        sys.path.remove(str(TARGET.parent))
    for data in (b"", b"\x00", b"\x01", b"\x01" + bytes(range(256)), bytes(3000)):
        target.test_one_input(data)
