"""The levelled counter's bulk bit setting equals setting the same units one at a time.

`record(n)` fills runs of whole bytes at once and finds the new frontier with one scan;
inside one frame, recording the same units one by one must leave exactly the same cells
(the field bits are taken in the same order) and the same value. (A call that overflows the
field carries its excess into the next frame's base, so cells differ past a frame change.)
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.counter import LevelledConfig, LevelledCounter
from sealmeter.nvm import Eeprom


@given(
    st.lists(st.integers(0, 300), min_size=1, max_size=12),
    st.sampled_from([0xFF, 0x00]),
    st.sampled_from([64, 128]),
)
@settings(max_examples=60, deadline=None)
def test_record_n_equals_n_single_units(calls: list[int], erased: int, frame: int) -> None:
    config = LevelledConfig(3, frame)
    bulk_part, single_part = Eeprom(512, erased=erased), Eeprom(512, erased=erased)
    bulk = LevelledCounter.format(bulk_part.region("c", 512), config)
    single = LevelledCounter.format(single_part.region("c", 512), config)
    for n in calls:
        if bulk.value + n >= bulk.capacity:
            break  # stay inside the first frame (see the module docstring)
        bulk.record(n)
        for _ in range(n):
            single.record(1)
        assert bulk.value == single.value
        assert bulk_part.read(0, 512) == single_part.read(0, 512)
    again = LevelledCounter.open(bulk_part.region("c", 512), config)
    assert again.value == bulk.value
    assert bulk_part.read(0, 512) == single_part.read(0, 512)
