"""A short run of the metering's atheris fuzz target in the suite (long runs happen by hand)."""

from __future__ import annotations

from pathlib import Path

from tests._support import replay_fuzz_inputs, run_fuzz_target

FINDINGS = Path(__file__).parent / "data" / "fuzz"


def test_fuzz_target_survives_a_short_run(tmp_path: Path) -> None:
    run_fuzz_target("metering_inputs.py", tmp_path, runs=1000, seed=4243, max_len=2048)


def test_earlier_findings_are_findings_no_more(tmp_path: Path) -> None:
    # codes_through_the_compiled_kernel.bin: raw codes whose integration compiled numba's
    # `int(float)`, which failed while numba carried atheris's hooks (a harness fault)
    replay_fuzz_inputs("metering_inputs.py", tmp_path, sorted(FINDINGS.glob("*.bin")))
