"""The part's bookkeeping shortcuts agree with a plain recount of what was written.

The hot path keeps the highest cycle count as a bound and logs primitives as tuples; these
properties replay random operations on a reference model (a list of cycles per group, the
bits each write changes) and compare every observable: cycles, `max_cycles`, `op_log`,
and wear-out behaviour at a tiny endurance.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.nvm import Eeprom, FaultPlan, NorFlash, OpKind, OpOutcome, WearMode, WornOut

SIZE = 64

ops = st.lists(
    st.tuples(
        st.sampled_from(["write", "erase"]),
        st.integers(0, SIZE - 1),
        st.binary(min_size=1, max_size=24),
    ),
    max_size=60,
)


@given(ops, st.sampled_from([1, 2, 4]), st.integers(2, 40))
@settings(max_examples=150, deadline=None)
def test_eeprom_bookkeeping_matches_a_recount(
    steps: list[tuple[str, int, bytes]], word: int, log_limit: int
) -> None:
    part = Eeprom(SIZE, word_size=word, log_limit=log_limit)
    cells = bytearray([0xFF]) * SIZE
    cycles = [0] * (SIZE // word)
    expected = []
    for number, (kind, offset, data) in enumerate(steps, start=1):
        data = data[: SIZE - offset]
        if kind == "erase":
            part.erase(offset, len(data))
            target = bytes([0xFF]) * len(data)
        else:
            part.write(offset, data)
            target = data
        old = int.from_bytes(cells[offset : offset + len(data)], "little")
        changing = (old ^ int.from_bytes(target, "little")).bit_count()
        cells[offset : offset + len(data)] = target
        for g in range(offset // word, (offset + len(data) - 1) // word + 1):
            cycles[g] += 1
        op = OpKind.ERASE if kind == "erase" else OpKind.WRITE
        expected.append((number, op, offset, len(data), OpOutcome.DONE, changing))
        assert part.max_cycles == max(cycles)
    assert part.read(0, SIZE) == bytes(cells)
    assert part.cycles() == cycles
    assert part.max_cycles == max(cycles)
    got = [(r.number, r.kind, r.offset, r.length, r.outcome, r.changing_bits) for r in part.op_log]
    assert got == expected[-log_limit:]
    assert part.clone().max_cycles == max(cycles)


@pytest.mark.parametrize("mode", [WearMode.FAIL, WearMode.STUCK_BITS])
def test_wear_out_starts_exactly_past_endurance_after_wide_writes(mode: WearMode) -> None:
    part = Eeprom(SIZE, endurance=5, plan=FaultPlan(wear=mode))
    for i in range(5):  # multi-group writes: the maximum is only bounded until asked
        part.write(0, bytes(8) if i % 2 == 0 else b"\xff" * 8)
    assert part.max_cycles == 5
    part.write(16, b"\x00" * 4)  # fresh groups are fine
    if mode is WearMode.FAIL:
        with pytest.raises(WornOut):
            part.write(0, b"\xff" * 8)
        assert part.op_log[-1].outcome is OpOutcome.FAILED
        assert part.read(0, 8) == bytes(8)
    else:
        part.write(0, b"\xff" * 8)  # completes, but one bit per worn group sticks
        assert part.stuck_mask(0, 8) != bytes(8)
        assert part.read(0, 8) != b"\xff" * 8


def test_flash_log_and_cycles_after_programs_and_erases() -> None:
    part = NorFlash(1024, page_size=256, log_limit=3)
    part.program(0, b"\x0f")
    part.erase(0, 512)
    part.program(300, b"\x00\x00")
    assert part.cycles() == [1, 1, 0, 0]
    assert part.max_cycles == 1
    assert [(r.kind, r.offset) for r in part.op_log] == [
        (OpKind.ERASE, 0),
        (OpKind.ERASE, 256),
        (OpKind.PROGRAM, 300),
    ]
