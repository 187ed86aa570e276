"""The levelled counter: alternating polarity, rotating headers, repair of a header copy."""

from __future__ import annotations

import pytest

from sealmeter.counter import (
    CounterCorrupted,
    CounterUsageError,
    LevelledConfig,
    LevelledCounter,
    NotFormatted,
    RecordTag,
    encode_record,
    try_decode,
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

CONFIG = LevelledConfig(frames=2, frame_size=64)


def _config_for(part: Eeprom | NorFlash) -> LevelledConfig:
    return LevelledConfig(frames=3, frame_size=max(64, part.geometry.group_size))


def test_counts_across_many_frames_and_reopens_exactly(make_part: PartFactory) -> None:
    part = make_part()
    config = _config_for(part)
    region = part.region("c", config.footprint(part))
    counter = LevelledCounter.format(region, config, start=7)
    total = 7
    for i in range(400):
        n = (0, 1, 2, 5, 33, 300)[i % 6]
        total += n
        assert counter.record(n) == total
    assert counter.sequence > 2 * config.frames  # went round the ring more than twice
    assert LevelledCounter.open(region, config).value == total


def test_eeprom_field_is_never_erased_polarity_alternates() -> None:
    part = Eeprom(256, log_limit=100_000)
    region = part.region("c", 128)
    counter = LevelledCounter.format(region, CONFIG)
    cap = counter.capacity
    for _ in range(3 * cap):
        counter.record(1)
    field_writes = [
        r for r in part.op_log if r.kind is OpKind.WRITE and (r.offset % 64) >= 24 and r.length == 1
    ]
    # one write per unit (plus the frontier refresh when format opens it), no field erase ever
    assert len(field_writes) == 3 * cap + 1
    assert not [r for r in part.op_log if r.kind is OpKind.ERASE and r.offset % 64 >= 24]
    # frame 0 is on its second pass: its field was full (all 0x00) and now counts back to 0xff
    frame0 = region.read(24, 40)
    assert frame0.count(b"\x00"[0]) + frame0.count(b"\xff"[0]) >= 39
    assert counter.value == 3 * cap


def test_every_field_byte_write_records_one_unit_on_eeprom() -> None:
    part = Eeprom(256)
    region = part.region("c", 128)
    counter = LevelledCounter.format(region, CONFIG)
    for _ in range(4 * counter.capacity):
        counter.record(1)
    cycles = region.cycles()
    field_cycles = [c for i, c in enumerate(cycles) if i % 64 >= 24]
    header_cycles = [c for i, c in enumerate(cycles) if i % 64 < 24]
    # each field byte: the format erase, then 8 writes per pass, 2 passes per frame in 4
    # capacities; byte 0 of frame 0 was also refreshed once when format opened the counter
    assert sorted(field_cycles) == [17] * (len(field_cycles) - 1) + [18]
    assert max(header_cycles) <= 4  # format erase + one write per pass of its frame


@pytest.mark.parametrize("copy", [0, 12])
def test_a_corrupted_header_copy_is_repaired_from_its_twin(copy: int) -> None:
    part = Eeprom(256)
    region = part.region("c", 128)
    counter = LevelledCounter.format(region, CONFIG, start=1000)
    counter.record(5)
    region.write(copy + 7, b"\xaa")
    again = LevelledCounter.open(region, CONFIG)
    assert again.value == 1005
    assert again.repairs
    good = encode_record(RecordTag.FRAME, 0, 1000)
    assert region.read(0, 12) == good
    assert region.read(12, 12) == good


def test_header_copies_that_disagree_stop_the_counter() -> None:
    part = Eeprom(256)
    region = part.region("c", 128)
    LevelledCounter.format(region, CONFIG, start=10)
    region.write(12, encode_record(RecordTag.FRAME, 0, 99))
    with pytest.raises(CounterCorrupted, match="disagree"):
        LevelledCounter.open(region, CONFIG)


def test_a_header_in_the_wrong_frame_is_corruption() -> None:
    part = Eeprom(256)
    region = part.region("c", 128)
    LevelledCounter.format(region, CONFIG)
    region.write(64, encode_record(RecordTag.FRAME, 2, 0))  # seq 2 belongs to frame 0
    with pytest.raises(CounterCorrupted, match="belongs to frame 0"):
        LevelledCounter.open(region, CONFIG)


def test_a_header_changed_behind_the_counter_is_caught_on_record() -> None:
    part = Eeprom(256)
    region = part.region("c", 128)
    counter = LevelledCounter.format(region, CONFIG, start=10)
    forged = encode_record(RecordTag.FRAME, 0, 5)
    region.write(0, forged)
    region.write(12, forged)
    with pytest.raises(CounterCorrupted, match="behind the counter"):
        counter.record(1)


def test_no_valid_header_at_all_is_corruption_or_blank() -> None:
    part = Eeprom(256)
    region = part.region("c", 128)
    with pytest.raises(NotFormatted):
        LevelledCounter.open(region, CONFIG)
    LevelledCounter.format(region, CONFIG)
    region.write(0, b"\x00" * 24)
    with pytest.raises(CounterCorrupted, match="no frame header"):
        LevelledCounter.open(region, CONFIG)


def test_flash_frame_is_erased_once_per_pass() -> None:
    part = NorFlash(1024, page_size=64)
    config = LevelledConfig(frames=4, frame_size=64)
    region = part.region("c", 256)
    counter = LevelledCounter.format(region, config)
    for _ in range(8 * counter.capacity):
        counter.record(1)
    assert region.cycles() == [3, 3, 3, 3]  # format, then two passes round the ring
    assert try_decode(region.read(0, 12), RecordTag.FRAME) is not None


@pytest.mark.parametrize(
    ("frames", "frame_size", "message"),
    [(1, 64, "at least 2"), (2, 24, "exceed"), (2, 100, "multiple of the cell group")],
)
def test_bad_configurations_are_usage_errors(frames: int, frame_size: int, message: str) -> None:
    part = NorFlash(1024, page_size=64)
    with pytest.raises(CounterUsageError, match=message):
        LevelledCounter.format(
            part.region("c", 512), LevelledConfig(frames=frames, frame_size=frame_size)
        )


def test_ring_larger_than_region_is_refused() -> None:
    with pytest.raises(CounterUsageError, match="needs 1024 bytes"):
        LevelledCounter.format(Eeprom(512).region("c", 512))


def _part(flash: bool) -> Eeprom | NorFlash:
    # flash pages of 32 bytes: a 64-byte frame is a header page and a field-only page
    return NorFlash(1024, page_size=32) if flash else Eeprom(256)


def _field_group(part: Eeprom | NorFlash, frame: int, config: LevelledConfig) -> int:
    """A cell group holding only field bytes of `frame` (the byte at offset 32 of it)."""
    return (frame * config.frame_size + 32) // part.geometry.group_size


@pytest.mark.parametrize("flash", [False, True], ids=["eeprom", "flash"])
def test_a_failing_field_switches_to_direct_mode_without_loss(flash: bool) -> None:
    part = _part(flash)
    config = LevelledConfig(frames=3, frame_size=64)
    region = part.region("c", 192)
    counter = LevelledCounter.format(region, config, start=10)
    bad = {_field_group(part, 0, config): BadMode.PROGRAM_ERROR}
    part.inject(FaultPlan(bad_groups=bad))
    total = 10
    while not counter.failed_field:
        total += 3
        assert counter.record(3) == total
        assert total < 200, "the bad field byte was never reached"
    assert counter.repairs
    for n in (1, 500, 2, 3, 7):
        total += n
        assert counter.record(n) == total
    field_ops = [r for r in part.op_log[-10:] if r.offset % 64 >= 24 and r.kind is not OpKind.ERASE]
    assert field_ops == []  # direct mode only writes headers
    again = LevelledCounter.open(region, config)
    assert again.failed_field
    assert again.value == total


@pytest.mark.parametrize("flash", [False, True], ids=["eeprom", "flash"])
def test_cuts_while_switching_to_and_running_in_direct_mode(flash: bool) -> None:
    def fresh() -> tuple[Eeprom | NorFlash, LevelledCounter, dict[int, BadMode]]:
        part = _part(flash)
        config = LevelledConfig(frames=2, frame_size=64)
        counter = LevelledCounter.format(part.region("c", 128), config)
        counter.record(63)  # the next unit lands in the byte that is about to fail
        return part, counter, {_field_group(part, 0, config): BadMode.PROGRAM_ERROR}

    config = LevelledConfig(frames=2, frame_size=64)
    for calls_before in (0, 2):  # cut in the switching call, or in a later direct-mode call
        for cut in range(1, 8):
            for tear in (TearMode.NOTHING, TearMode.RANDOM, TearMode.COMPLETE):
                part, counter, bad = fresh()
                part.inject(FaultPlan(bad_groups=bad))
                for _ in range(calls_before):
                    counter.record(2)
                before = counter.value
                part.inject(FaultPlan(seed=cut, cut_at=cut, tear=tear, bad_groups=bad))
                try:
                    counter.record(6)
                    returned = True
                except PowerCut:
                    returned = False
                part.power_on()
                part.inject(FaultPlan(seed=99, bad_groups=bad))
                value = LevelledCounter.open(part.region("c", 128), config).value
                if returned:
                    assert value == before + 6
                else:
                    assert before <= value <= before + 6, (calls_before, cut, tear)
                reopened = LevelledCounter.open(part.region("c", 128), config)
                assert reopened.record(1) == value + 1


def test_worn_field_switches_to_direct_mode_and_counting_goes_on() -> None:
    part = Eeprom(256, endurance=24, plan=FaultPlan(seed=3, wear=WearMode.STUCK_BITS))
    config = LevelledConfig(frames=2, frame_size=64)
    region = part.region("c", 128)
    counter = LevelledCounter.format(region, config)
    total = 0
    while not counter.failed_field:
        total += 1
        assert counter.record(1) == total
        assert total < 10_000, "the field never wore out"
    for n in (1, 2, 3):
        total += n
        assert counter.record(n) == total
    assert LevelledCounter.open(region, config).value == total
