"""A short run of the counter/memory fuzz target in the suite (long runs happen by hand)."""

from __future__ import annotations

from pathlib import Path

from tests._support import run_fuzz_target


def test_fuzz_target_survives_a_short_run(tmp_path: Path) -> None:
    run_fuzz_target("counter_memory.py", tmp_path, runs=1500, seed=77, max_len=512)
