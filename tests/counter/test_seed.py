"""Seed 003's counter, claim by claim: areas, record, update, state check, recovery, C1."""

from __future__ import annotations

import pytest

from sealmeter.counter import (
    AreaFailed,
    CounterCorrupted,
    CounterUsageError,
    NotFormatted,
    RecordTag,
    RecoveryCase,
    SeedConfig,
    SeedCounter,
    decode_record,
    encode_record,
)
from sealmeter.nvm import (
    BadMode,
    Eeprom,
    FaultPlan,
    NorFlash,
    OpKind,
    PowerCut,
    TearMode,
    WearMode,
)

from .conftest import PartFactory


def _bits(data: bytes, erased: int) -> int:
    return sum(bin(b ^ erased).count("1") for b in data)


def test_value_is_b_plus_bits_set_in_a(make_part: PartFactory) -> None:
    part = make_part()
    region = part.region("c", 512)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=4), start=100)
    lay = counter.layout
    for n in (1, 2, 3, 7):
        counter.record(n)
    b = decode_record(region.read(lay.b, 12), RecordTag.VALUE)
    a_bits = _bits(region.read(lay.a, lay.a_len), part.geometry.erased)
    assert (b.value, a_bits) == (100, 13)
    assert counter.value == b.value + a_bits == 113


def test_overflow_fills_a_then_moves_the_total_into_b_and_erases_a(make_part: PartFactory) -> None:
    part = make_part()
    region = part.region("c", 512)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=2))
    lay = counter.layout
    counter.record(10)  # L = 16 >= 10: bits only
    assert decode_record(region.read(lay.b, 12), RecordTag.VALUE).value == 0
    counter.record(10)  # L = 6 < 10: fill A, B <- 0 + 16 + 4, erase A
    assert decode_record(region.read(lay.b, 12), RecordTag.VALUE).value == 20
    assert decode_record(region.read(lay.sb, 12), RecordTag.VALUE).value == 0
    assert _bits(region.read(lay.a, lay.a_len), part.geometry.erased) == 0
    assert counter.value == 20
    assert SeedCounter.open(region, SeedConfig(a_bytes=2)).value == 20


def test_update_runs_the_steps_of_claim_8_in_order() -> None:
    part = Eeprom(256, log_limit=16)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=1))
    counter.record(8)  # A full
    before = len(part.op_log)
    counter.record(1)  # L = 0: straight into the update
    steps = [(r.kind, r.offset) for r in part.op_log][before - 16 :][-5:]
    lay = counter.layout
    assert steps == [
        (OpKind.WRITE, lay.c2),  # C2 on
        (OpKind.WRITE, lay.sb),  # SB <- B
        (OpKind.WRITE, lay.b),  # B <- new
        (OpKind.ERASE, lay.a),  # erase A
        (OpKind.ERASE, lay.c2),  # C2 off
    ]


# The update of a full one-byte A (record(1) after record(8)) on EEPROM is five primitives:
# 1 set C2, 2 SB <- B, 3 B <- new, 4 erase A, 5 clear C2. Value before 8, after 9.
RECOVERY_TABLE = [
    (1, TearMode.NOTHING, None, 8),
    (1, TearMode.RANDOM, RecoveryCase.TORN_FLAG, 8),
    (1, TearMode.COMPLETE, RecoveryCase.CASE_1, 8),
    (2, TearMode.NOTHING, RecoveryCase.CASE_1, 8),
    (2, TearMode.RANDOM, RecoveryCase.CASE_1, 8),
    (2, TearMode.COMPLETE, RecoveryCase.CASE_4, 8),
    (3, TearMode.NOTHING, RecoveryCase.CASE_4, 8),
    (3, TearMode.RANDOM, RecoveryCase.CASE_2, 8),
    (3, TearMode.COMPLETE, RecoveryCase.CASE_3, 9),
    (4, TearMode.NOTHING, RecoveryCase.CASE_3, 9),
    (4, TearMode.RANDOM, RecoveryCase.CASE_5, 9),
    (4, TearMode.COMPLETE, RecoveryCase.CASE_5, 9),
    (5, TearMode.NOTHING, RecoveryCase.CASE_5, 9),
    (5, TearMode.RANDOM, RecoveryCase.TORN_FLAG, 9),
]


@pytest.mark.parametrize(("cut", "tear", "case", "value"), RECOVERY_TABLE)
@pytest.mark.parametrize("erased", [0xFF, 0x00])
def test_each_recovery_case_of_claim_10(
    cut: int, tear: TearMode, case: RecoveryCase | None, value: int, erased: int
) -> None:
    part = Eeprom(256, erased=erased)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=1))
    counter.record(8)
    part.inject(FaultPlan(seed=9, cut_at=cut, tear=tear))
    with pytest.raises(PowerCut):
        counter.record(1)
    part.power_on()
    part.inject(None)
    reopened = SeedCounter.open(region, SeedConfig(a_bytes=1))
    assert reopened.last_recovery is case
    assert reopened.value == value
    lay = reopened.layout
    assert region.read(lay.c2, 12) == bytes([erased]) * 12  # C2 definitely off
    b = decode_record(region.read(lay.b, 12), RecordTag.VALUE)
    sb = decode_record(region.read(lay.sb, 12), RecordTag.VALUE)
    assert b.gen == sb.gen + 1
    assert reopened.record(2) == value + 2


def test_state_check_stops_on_a_corrupted_b(make_part: PartFactory) -> None:
    part = make_part()
    region = part.region("c", 512)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=4))
    counter.record(3)
    lay = counter.layout
    full = part.geometry.erased ^ 0xFF
    b_bytes = region.read(lay.b, 12)
    i = next(k for k, byte in enumerate(b_bytes) if byte != full)
    region.store(lay.b + i, bytes([full]))  # program one byte fully: works on both technologies
    with pytest.raises(CounterCorrupted, match="area B fails its redundancy code"):
        counter.record(1)
    with pytest.raises(CounterCorrupted):
        SeedCounter.open(region, SeedConfig(a_bytes=4))


def test_state_check_stops_on_a_corrupted_sb() -> None:
    part = Eeprom(256)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=4))
    region.write(counter.layout.sb, b"\x00" * 12)
    with pytest.raises(CounterCorrupted, match="area SB"):
        counter.record(1)


def test_a_forged_but_valid_b_is_caught() -> None:
    part = Eeprom(256)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=4), start=50)
    region.write(counter.layout.b, encode_record(RecordTag.VALUE, 1, 10))  # roll back the total
    with pytest.raises(CounterCorrupted, match="disagree"):
        counter.record(1)


def test_a_torn_c1_flag_without_an_update_is_corruption() -> None:
    part = Eeprom(256)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=4))
    region.write(counter.layout.c1, b"\x0f")
    with pytest.raises(CounterCorrupted, match="C1"):
        SeedCounter.open(region, SeedConfig(a_bytes=4))


def test_failing_area_a_switches_to_c1_without_losing_units(make_part: PartFactory) -> None:
    part = make_part()
    region = part.region("c", 512)
    config = SeedConfig(a_bytes=4)
    counter = SeedCounter.format(region, config)
    counter.record(5)
    a_group = counter.layout.a // part.geometry.group_size
    part.inject(FaultPlan(bad_groups={a_group: BadMode.PROGRAM_ERROR}))
    assert counter.record(6) == 11
    assert counter.failed_a
    ops = len(part.op_log)
    for n in (1, 40, 3):
        counter.record(n)
    assert counter.value == 55
    assert all(r.offset >= counter.layout.b for r in part.op_log[ops:])  # A left alone
    part.inject(None)
    again = SeedCounter.open(region, config)
    assert again.failed_a
    assert again.value == 55


def test_silently_failing_area_a_is_caught_by_read_back() -> None:
    part = Eeprom(256)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=4))
    part.inject(FaultPlan(bad_groups={0: BadMode.PROGRAM_NOOP}))
    assert counter.record(3) == 3
    assert counter.failed_a


def test_worn_out_area_a_switches_to_c1_and_counting_goes_on() -> None:
    part = Eeprom(256, endurance=30, plan=FaultPlan(seed=2, wear=WearMode.STUCK_BITS))
    region = part.region("c", 256)
    config = SeedConfig(a_bytes=2)
    counter = SeedCounter.format(region, config)
    total = 0
    calls = 0
    while not counter.failed_a:
        n = 1 + calls % 3
        total += n
        calls += 1
        assert counter.record(n) == total
        assert calls < 2000, "area A never wore out"
    for n in (4, 1, 30):  # C1 mode: straight into B (which wears fast, so only a few calls)
        total += n
        assert counter.record(n) == total
    assert SeedCounter.open(region, config).value == total


def test_unreadable_area_a_stops_with_a_clear_error() -> None:
    part = Eeprom(256)
    region = part.region("c", 256)
    SeedCounter.format(region, SeedConfig(a_bytes=4)).record(3)
    part.inject(FaultPlan(bad_groups={0: BadMode.READ_ERROR}))
    with pytest.raises(AreaFailed, match="area A cannot be read"):
        SeedCounter.open(region, SeedConfig(a_bytes=4))


def test_a_b_area_that_silently_ignores_writes_stops_the_counter() -> None:
    part = Eeprom(256)
    region = part.region("c", 256)
    counter = SeedCounter.format(region, SeedConfig(a_bytes=1))
    counter.record(8)
    part.inject(FaultPlan(bad_groups={counter.layout.b: BadMode.PROGRAM_NOOP}))
    with pytest.raises(AreaFailed, match="area B"):
        counter.record(1)


def test_blank_region_is_not_formatted(make_part: PartFactory) -> None:
    part = make_part()
    with pytest.raises(NotFormatted, match="format it first"):
        SeedCounter.open(part.region("c", 512), SeedConfig(a_bytes=4))


def test_bad_sizes_and_units_are_usage_errors() -> None:
    with pytest.raises(CounterUsageError):
        SeedConfig(a_bytes=0)
    part = NorFlash(1024, page_size=256)
    with pytest.raises(CounterUsageError, match="needs 1280 bytes"):
        SeedCounter.format(part.region("c", 1024))
    counter = SeedCounter.format(Eeprom(256).region("c", 256), SeedConfig(a_bytes=4))
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(CounterUsageError):
            counter.record(bad)  # type: ignore[arg-type]
    assert counter.record(0) == 0


def test_a_counter_with_a_failing_area_a_still_opens_and_then_retires_it() -> None:
    part = NorFlash(1024, page_size=64)
    region = part.region("c", 320)
    config = SeedConfig(a_bytes=4)
    SeedCounter.format(region, config).record(5)
    part.inject(FaultPlan(bad_groups={0: BadMode.PROGRAM_ERROR}))
    counter = SeedCounter.open(region, config)  # the refresh of A is refused; open goes on
    assert counter.value == 5
    assert not counter.failed_a
    assert counter.record(2) == 7
    assert counter.failed_a
