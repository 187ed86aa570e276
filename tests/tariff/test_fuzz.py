"""A short run of the tariff's atheris fuzz target in the suite (long runs happen by hand)."""

from __future__ import annotations

from pathlib import Path

from tests._support import run_fuzz_target


def test_fuzz_target_survives_a_short_run(tmp_path: Path) -> None:
    run_fuzz_target("tariff_inputs.py", tmp_path, runs=3000, seed=4242, max_len=1024)
