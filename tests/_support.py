"""Test kit shared by every part's tests: missing prerequisites and fuzz-target runs.

A prerequisite that is missing (a service, a system package, atheris) skips the test with its
reason on a developer's laptop and fails it under `CI=true`, so CI always proves the real path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test because of `reason`, or fail it when running under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI requires this test to run, but {reason}")
    else:  # a developer's laptop without the prerequisite: say why, never pass silently
        pytest.skip(reason)


def require_atheris() -> None:
    """Make sure the atheris fuzzer can be imported (see `unavailable`)."""
    try:
        import atheris  # noqa: F401
    except ImportError as exc:
        unavailable(f"atheris cannot be imported here ({exc}); install it to fuzz")


def run_fuzz_target(target: str, cwd: Path, *, runs: int, seed: int, max_len: int) -> None:
    """Run `fuzz/<target>` for `runs` inputs and assert it finished every one without a finding."""
    require_atheris()
    done = subprocess.run(
        [
            sys.executable,
            str(FUZZ_DIR / target),
            f"-atheris_runs={runs}",
            f"-seed={seed}",
            f"-max_len={max_len}",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"Done {runs}" in done.stderr


def replay_fuzz_inputs(target: str, cwd: Path, inputs: list[Path]) -> None:
    """Run `fuzz/<target>` on each of `inputs` (earlier findings) and assert none is one now.

    numba's cache is a fresh folder: kernels compile inside the run, as on a new machine.
    """
    require_atheris()
    assert inputs, "no inputs to replay"
    done = subprocess.run(
        [sys.executable, str(FUZZ_DIR / target), *map(str, inputs)],
        cwd=cwd,
        env={**os.environ, "NUMBA_CACHE_DIR": str(cwd / "numba-cache")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    for path in inputs:
        assert f"Executed {path}" in done.stderr
