"""Property tests over sizes, technologies, polarities, designs and call sequences."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.counter import (
    Config,
    Design,
    LevelledConfig,
    SeedConfig,
    footprint,
    format_counter,
    open_counter,
)
from sealmeter.errors import SealmeterError
from sealmeter.nvm import Eeprom, FaultPlan, NorFlash, PowerCut, TearMode


@st.composite
def setups(draw: st.DrawFn) -> tuple[Eeprom | NorFlash, Design, Config | None]:
    """A part (technology, polarity, geometry) and a design with sizes that fit it."""
    erased = draw(st.sampled_from([0xFF, 0x00]))
    design = draw(st.sampled_from(list(Design)))
    part: Eeprom | NorFlash
    if draw(st.booleans()):
        part = Eeprom(1024, word_size=draw(st.sampled_from([1, 2, 4])), erased=erased)
    else:
        part = NorFlash(4096, page_size=draw(st.sampled_from([32, 64])), erased=erased)
    gs = part.geometry.group_size
    config: Config | None = None
    if design is Design.SEED:
        config = SeedConfig(a_bytes=draw(st.integers(1, 12)))
    elif design is Design.LEVELLED:
        sizes = [64, 128] if gs == 64 else [32, 64, 96]
        config = LevelledConfig(
            frames=draw(st.integers(2, 4)), frame_size=draw(st.sampled_from(sizes))
        )
    return part, design, config


CALLS = st.lists(st.integers(0, 150), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setup=setups(), calls=CALLS, start=st.integers(0, 10**6))
def test_value_is_the_sum_of_calls_and_survives_reopen(
    setup: tuple[Eeprom | NorFlash, Design, Config | None], calls: list[int], start: int
) -> None:
    part, design, config = setup
    region = part.region("c", footprint(design, part, config))
    counter = format_counter(design, region, config, start)
    for n in calls:
        counter.record(n)
    assert counter.value == start + sum(calls)
    assert open_counter(design, region, config).value == start + sum(calls)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    setup=setups(),
    calls=CALLS,
    last=st.integers(1, 150),
    cut=st.integers(1, 40),
    tear=st.sampled_from(list(TearMode)),
    seed=st.integers(0, 2**16),
    weak=st.booleans(),
)
def test_one_cut_anywhere_keeps_the_invariants(
    setup: tuple[Eeprom | NorFlash, Design, Config | None],
    calls: list[int],
    last: int,
    cut: int,
    tear: TearMode,
    seed: int,
    weak: bool,
) -> None:
    part, design, config = setup
    region = part.region("c", footprint(design, part, config))
    counter = format_counter(design, region, config)
    for n in calls:
        counter.record(n)
    before = counter.value
    part.inject(FaultPlan(seed=seed, cut_at=cut, tear=tear, tear_subset=seed, weak_on_tear=weak))
    try:
        counter.record(last)
        returned = True
    except PowerCut:
        returned = False
    part.power_on()
    part.inject(FaultPlan(seed=seed + 1))
    value = open_counter(design, region, config).value
    if returned:
        assert value == before + last
    else:
        assert before <= value <= before + last
    twin = copy.deepcopy(part)
    assert open_counter(design, twin.region("c", region.length), config).value == value
    after = open_counter(design, region, config)
    assert after.record(1) == value + 1


@settings(max_examples=40, deadline=None)
@given(setup=setups(), garbage=st.binary(min_size=1, max_size=64), at=st.integers(0, 4000))
def test_garbage_in_the_memory_gives_a_value_or_a_typed_error(
    setup: tuple[Eeprom | NorFlash, Design, Config | None], garbage: bytes, at: int
) -> None:
    part, design, config = setup
    size = footprint(design, part, config)
    region = part.region("c", size)
    format_counter(design, region, config).record(5)
    offset = at % size
    data = garbage[: size - offset]
    if isinstance(part, Eeprom):
        region.write(offset, data)
    else:
        region.program(offset, data)
    try:
        counter = open_counter(design, region, config)
        counter.record(1)
    except SealmeterError:
        pass  # a typed error is a correct answer to corrupted memory
