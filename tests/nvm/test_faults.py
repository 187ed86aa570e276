"""Power cuts, torn operations, weak and stuck bits, bad blocks, the operation log."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.nvm import (
    BadMode,
    Eeprom,
    EraseFailed,
    FaultPlan,
    NorFlash,
    NvmUsageError,
    OpKind,
    OpOutcome,
    PowerCut,
    PoweredOff,
    ProgramFailed,
    ReadFailed,
    TearMode,
    WearMode,
    WornOut,
)


def test_power_cut_strikes_the_kth_primitive_and_the_part_stays_off() -> None:
    part = Eeprom(16, plan=FaultPlan(cut_at=3, tear=TearMode.NOTHING))
    part.write(0, b"\x01")
    part.write(1, b"\x02")
    with pytest.raises(PowerCut, match="primitive 3"):
        part.write(2, b"\x03")
    for op in (lambda: part.read(0, 1), lambda: part.write(0, b"\x00"), lambda: part.erase(0, 1)):
        with pytest.raises(PoweredOff, match="power_on"):
            op()
    part.power_on()
    assert part.read(0, 3) == b"\x01\x02\xff"  # the torn write did nothing
    assert [r.outcome for r in part.op_log] == [OpOutcome.DONE, OpOutcome.DONE, OpOutcome.TORN]


def test_complete_tear_finishes_the_operation_before_the_cut() -> None:
    part = NorFlash(512, page_size=256, plan=FaultPlan(cut_at=1, tear=TearMode.COMPLETE))
    with pytest.raises(PowerCut):
        part.program(0, b"\x00\x00")
    part.power_on()
    assert part.read(0, 2) == b"\x00\x00"


@given(
    old=st.binary(min_size=1, max_size=6),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_tear_leaves_each_changing_bit_old_or_new(
    old: bytes, data: st.DataObject, seed: int
) -> None:
    new = data.draw(st.binary(min_size=len(old), max_size=len(old)))
    part = Eeprom(8)
    part.write(0, old)
    part.inject(FaultPlan(seed=seed, cut_at=1, tear=TearMode.RANDOM))
    with pytest.raises(PowerCut):
        part.write(0, new)
    part.power_on()
    torn = part.read(0, len(old))
    for o, n, t in zip(old, new, torn, strict=True):
        assert (t ^ o) & ~(o ^ n) == 0  # only bits that were changing changed


def test_every_tear_subset_of_a_small_write_is_reachable() -> None:
    seen = set()
    for subset in range(8):
        part = Eeprom(4)
        part.write(0, b"\xf8")  # erased 0xff -> 0xf8 changes the three low bits
        part.inject(FaultPlan(cut_at=1, tear=TearMode.SUBSET, tear_subset=subset))
        with pytest.raises(PowerCut):
            part.write(0, b"\xff")
        part.power_on()
        seen.add(part.read(0, 1)[0])
    assert seen == {0xF8 | s for s in range(8)}


def test_torn_erase_may_do_nothing_or_part_of_the_page() -> None:
    for tear, expect_any_erased in ((TearMode.NOTHING, False), (TearMode.COMPLETE, True)):
        part = NorFlash(512, page_size=256)
        part.program(0, b"\x00" * 256)
        part.inject(FaultPlan(cut_at=1, tear=tear))
        with pytest.raises(PowerCut):
            part.erase(0, 256)
        part.power_on()
        assert (part.read(0, 256) == b"\xff" * 256) is expect_any_erased
        assert part.cycles()[0] == 1  # an interrupted erase still stressed the page


def test_weak_bits_read_differently_until_rewritten() -> None:
    part = Eeprom(64, plan=FaultPlan(seed=5, cut_at=1, tear=TearMode.RANDOM, weak_on_tear=True))
    with pytest.raises(PowerCut):
        part.write(0, b"\x00" * 32)
    part.power_on()
    reads = {part.read(0, 32) for _ in range(20)}
    assert len(reads) > 1, "a torn write with weak bits should read back inconsistently"
    part.write(0, part.read(0, 32))
    assert len({part.read(0, 32) for _ in range(20)}) == 1


def test_faults_are_deterministic_for_a_seed() -> None:
    def torn(seed: int) -> bytes:
        part = Eeprom(16, plan=FaultPlan(seed=seed, cut_at=1, tear=TearMode.RANDOM))
        with pytest.raises(PowerCut):
            part.write(0, b"\x00" * 16)
        part.power_on()
        return part.read(0, 16)

    assert torn(11) == torn(11)
    assert len({torn(s) for s in range(5)}) > 1


@pytest.mark.parametrize(
    ("mode", "op", "error"),
    [
        (BadMode.PROGRAM_ERROR, "write", ProgramFailed),
        (BadMode.ERASE_ERROR, "erase", EraseFailed),
        (BadMode.READ_ERROR, "read", ReadFailed),
    ],
)
def test_bad_block_errors_raise_and_change_nothing(
    mode: BadMode, op: str, error: type[Exception]
) -> None:
    part = Eeprom(16, word_size=4)
    part.write(4, b"\x11\x22\x33\x44")
    part.inject(FaultPlan(bad_groups={1: mode}))
    calls = {
        "write": lambda: part.write(4, b"\x00"),
        "erase": lambda: part.erase(4, 4),
        "read": lambda: part.read(5, 1),
    }
    with pytest.raises(error, match="bad cell group 1"):
        calls[op]()
    part.inject(None)
    assert part.read(4, 4) == b"\x11\x22\x33\x44"
    part.write(0, b"\x00")  # other groups still work


@pytest.mark.parametrize(
    ("mode", "op"), [(BadMode.PROGRAM_NOOP, "program"), (BadMode.ERASE_NOOP, "erase")]
)
def test_silent_bad_blocks_return_normally_but_do_nothing(mode: BadMode, op: str) -> None:
    part = NorFlash(512, page_size=256)
    part.program(0, b"\x0f")
    part.inject(FaultPlan(bad_groups={0: mode}))
    if op == "program":
        part.program(0, b"\x00")
    else:
        part.erase(0, 256)
    assert part.read(0, 1) == b"\x0f"
    assert part.op_log[-1].outcome is OpOutcome.SILENT_NOOP


def test_wear_past_endurance_leaves_observable_stuck_bits() -> None:
    part = Eeprom(4, endurance=10, plan=FaultPlan(seed=1, wear=WearMode.STUCK_BITS))
    mismatches = 0
    for i in range(200):
        value = bytes([i & 0xFF])
        part.write(0, value)
        if part.read(0, 1) != value:
            mismatches += 1
    assert part.cycles()[0] == 200
    assert mismatches > 0
    assert part.stuck_mask(0, 1) != b"\x00"
    assert part.read(1, 1) == b"\xff"  # wear stays in its own cell group


def test_wear_fail_mode_refuses_writes_past_endurance() -> None:
    part = Eeprom(4, endurance=3, plan=FaultPlan(wear=WearMode.FAIL))
    for _ in range(3):
        part.write(0, b"\x00")
    with pytest.raises(WornOut, match="endurance of 3"):
        part.write(0, b"\x01")
    assert part.read(0, 1) == b"\x00"


def test_operation_log_names_kind_place_and_outcome() -> None:
    part = NorFlash(512, page_size=256, log_limit=3)
    part.program(5, b"\x00\x00")
    part.erase(0, 512)
    log = part.op_log
    assert len(log) == 3
    assert [(r.kind, r.offset, r.length) for r in log] == [
        (OpKind.PROGRAM, 5, 2),
        (OpKind.ERASE, 0, 256),
        (OpKind.ERASE, 256, 256),
    ]
    assert log[0].changing_bits == 16


def test_invalid_plans_are_rejected() -> None:
    with pytest.raises(NvmUsageError):
        FaultPlan(cut_at=0)
    with pytest.raises(NvmUsageError):
        FaultPlan(tear_subset=-1)


def test_clone_is_independent() -> None:
    part = Eeprom(8)
    part.write(0, b"\x01")
    twin = part.clone()
    twin.write(0, b"\x02")
    assert part.read(0, 1) == b"\x01"
    assert twin.read(0, 1) == b"\x02"
    assert twin.cycles()[0] == 2
