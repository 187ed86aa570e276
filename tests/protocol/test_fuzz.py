"""A short run of the atheris fuzz target in the suite (the long runs happen by hand)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests._support import require_atheris, run_fuzz_target

TARGET = Path(__file__).resolve().parents[2] / "fuzz" / "protocol_decoders.py"


def test_fuzz_target_survives_a_short_run(tmp_path: Path) -> None:
    run_fuzz_target("protocol_decoders.py", tmp_path, runs=4000, seed=1234, max_len=2048)


def test_fuzz_entry_point_accepts_edge_inputs() -> None:
    require_atheris()
    sys.path.insert(0, str(TARGET.parent))
    try:
        import protocol_decoders as target
    finally:
        sys.path.remove(str(TARGET.parent))
    for data in (b"", b"\x00", b"\x01", b"\x01" + bytes(range(256)), bytes(3000)):
        target.test_one_input(data)
