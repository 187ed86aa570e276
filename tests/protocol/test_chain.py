"""The MAC chain: forward security, and gaps, reorders, insertions, deletions, duplicates."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    DUPLICATE_WINDOW,
    BadAuthCode,
    ChainConflict,
    ChainDuplicate,
    ChainError,
    ChainGap,
    ChainReorder,
    ChainStale,
    HeadEndChain,
    MeterChain,
    ProtocolUsageError,
    Registration,
    chain_code,
    decode_registration,
    encode_registration,
    evolve_chain_key,
    registration_body,
)
from tests.protocol import conftest as c
from tests.protocol import strategies as s


def test_head_end_accepts_the_meter_chain_in_order() -> None:
    regs, meter = c.sealed_registrations(10)
    state = HeadEndChain.start(c.CHAIN_KEY)
    for reg in regs:
        state = state.verify(reg)
    assert state.last_seq == 10
    assert [r.seq for r in regs] == list(range(1, 11))
    assert meter.next_seq == 11
    assert meter.key == state.key  # both sides evolved the key in step


def test_seal_replaces_seq_and_code_and_leaves_old_state_usable() -> None:
    start = MeterChain.start(c.CHAIN_KEY)
    reg, after = start.seal(replace(c.draft(), seq=99, auth_code=b"junk"))
    assert reg.seq == 1
    assert len(reg.auth_code) == 32
    assert start.next_seq == 1  # the old value is untouched
    assert after.next_seq == 2
    again, _ = start.seal(c.draft())
    assert again == reg  # deterministic


def test_codes_depend_on_the_previous_code() -> None:
    regs, _ = c.sealed_registrations(2)
    k1 = evolve_chain_key(c.CHAIN_KEY)
    assert chain_code(k1, regs[0].auth_code, registration_body(regs[1])) == regs[1].auth_code
    assert chain_code(k1, bytes(32), registration_body(regs[1])) != regs[1].auth_code


def test_forward_security_a_later_key_cannot_recode_the_past() -> None:
    regs, meter = c.sealed_registrations(5)
    stolen = meter.key  # extracted from the meter after registration 5
    edited = replace(regs[2], registers=regs[2].registers[:1])
    # the thief can only compute codes under keys from K_5 on
    forged_codes = set()
    key = stolen
    for _ in range(5):
        forged_codes.add(chain_code(key, regs[1].auth_code, registration_body(edited)))
        key = evolve_chain_key(key)
    state = HeadEndChain.start(c.CHAIN_KEY).verify(regs[0]).verify(regs[1])
    for code in forged_codes:
        with pytest.raises(BadAuthCode):
            state.verify(replace(edited, auth_code=code))
    assert stolen not in {c.CHAIN_KEY, evolve_chain_key(c.CHAIN_KEY)}


def test_gap_names_the_expected_sequence() -> None:
    regs, _ = c.sealed_registrations(4)
    state = HeadEndChain.start(c.CHAIN_KEY).verify(regs[0])
    with pytest.raises(ChainGap) as info:
        state.verify(regs[2])
    assert info.value.expected == 2
    assert info.value.seq == 3


def test_deletion_then_renumbering_is_caught_by_the_code() -> None:
    regs, _ = c.sealed_registrations(3)
    state = HeadEndChain.start(c.CHAIN_KEY).verify(regs[0])
    renumbered = replace(regs[2], seq=2)  # registration 2 deleted, 3 moved up
    with pytest.raises(BadAuthCode):
        state.verify(renumbered)


def test_insertion_with_a_made_up_code_is_rejected() -> None:
    regs, _ = c.sealed_registrations(2)
    state = HeadEndChain.start(c.CHAIN_KEY).verify(regs[0])
    inserted = replace(c.draft(7, usage=1), seq=2, auth_code=bytes(32))
    with pytest.raises(BadAuthCode):
        state.verify(inserted)
    assert state.verify(regs[1]).last_seq == 2  # the rejection changed nothing


def test_identical_duplicate_is_recognised_and_edited_copy_is_a_conflict() -> None:
    regs, _ = c.sealed_registrations(3)
    state = HeadEndChain.start(c.CHAIN_KEY)
    for reg in regs:
        state = state.verify(reg)
    with pytest.raises(ChainDuplicate) as info:
        state.verify(regs[1])
    assert info.value.seq == 2
    with pytest.raises(ChainConflict):
        state.verify(replace(regs[1], schedule_version=4))


def test_replay_older_than_the_window_is_stale() -> None:
    regs, _ = c.sealed_registrations(DUPLICATE_WINDOW + 2)
    state = HeadEndChain.start(c.CHAIN_KEY)
    for reg in regs:
        state = state.verify(reg)
    with pytest.raises(ChainStale):
        state.verify(regs[0])
    with pytest.raises(ChainDuplicate):
        state.verify(regs[-DUPLICATE_WINDOW])
    assert len(state.recent) == DUPLICATE_WINDOW


def test_batch_skips_registrations_acknowledged_long_ago() -> None:
    regs, _ = c.sealed_registrations(DUPLICATE_WINDOW + 5)
    state = HeadEndChain.start(c.CHAIN_KEY)
    for reg in regs[:-1]:
        state = state.verify(reg)
    # every ack was lost: the meter resends its whole queue plus one new registration
    verdict = state.verify_batch(tuple(regs))
    assert verdict.stale == tuple(range(1, 5))
    assert len(verdict.duplicates) == DUPLICATE_WINDOW
    assert [r.seq for r in verdict.accepted] == [len(regs)]
    with pytest.raises(ChainConflict):
        state.verify_batch((replace(regs[-2], schedule_version=8),))


def test_batch_skips_leading_duplicates_and_rejects_reorders() -> None:
    regs, _ = c.sealed_registrations(5)
    state = HeadEndChain.start(c.CHAIN_KEY).verify(regs[0]).verify(regs[1])
    verdict = state.verify_batch(tuple(regs))
    assert verdict.duplicates == (1, 2)
    assert [r.seq for r in verdict.accepted] == [3, 4, 5]
    assert verdict.chain.last_seq == 5
    with pytest.raises(ChainReorder):
        state.verify_batch((regs[2], regs[4], regs[3]))
    with pytest.raises(ChainReorder):
        state.verify_batch((regs[2], regs[2]))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(2, 8))
def test_any_shuffle_drop_or_duplicate_of_a_batch_is_rejected_or_exact(
    seed: int, count: int
) -> None:
    regs, _ = c.sealed_registrations(count)
    rng = random.Random(seed)
    batch = list(regs)
    action = rng.choice(["shuffle", "drop", "duplicate", "swap"])
    if action == "shuffle":
        rng.shuffle(batch)
    elif action == "drop":
        del batch[rng.randrange(len(batch))]
    elif action == "duplicate":
        i = rng.randrange(len(batch))
        batch.insert(i, batch[i])
    else:
        i = rng.randrange(len(batch) - 1)
        batch[i], batch[i + 1] = batch[i + 1], batch[i]
    start = HeadEndChain.start(c.CHAIN_KEY)
    try:
        verdict = start.verify_batch(tuple(batch))
    except ChainError:
        assert batch != regs, f"seed {seed}: an intact batch was rejected"
        return
    # accepted only when the batch is still an exact prefix of the meter's chain
    assert batch in (regs, regs[:-1]), f"seed {seed}: {action} was accepted"
    assert list(verdict.accepted) == batch, f"seed {seed}"


def test_states_serialise_round_trip_and_reject_corruption() -> None:
    regs, meter = c.sealed_registrations(3)
    assert MeterChain.from_bytes(meter.to_bytes()) == meter
    state = HeadEndChain.start(c.CHAIN_KEY)
    for reg in regs:
        state = state.verify(reg)
    restored = HeadEndChain.from_bytes(state.to_bytes())
    assert restored == state
    with pytest.raises(ChainDuplicate):
        restored.verify(regs[2])
    for bad in (
        b"",
        state.to_bytes()[:-1],
        state.to_bytes() + b"x",
        b"\x09" + meter.to_bytes()[1:],
    ):
        with pytest.raises(ProtocolUsageError):
            HeadEndChain.from_bytes(bad)
        with pytest.raises(ProtocolUsageError):
            MeterChain.from_bytes(bad)


def test_keys_never_appear_in_reprs() -> None:
    _, meter = c.sealed_registrations(1)
    state = HeadEndChain.start(c.CHAIN_KEY)
    for text in (repr(meter), repr(state), str(meter)):
        assert meter.key.hex() not in text
        assert repr(meter.key) not in text
        assert c.CHAIN_KEY.hex() not in text


def test_bad_initial_keys_are_usage_errors() -> None:
    for bad in (b"", bytes(31), "x" * 32):
        with pytest.raises(ProtocolUsageError):
            MeterChain.start(bad)  # type: ignore[arg-type]
        with pytest.raises(ProtocolUsageError):
            HeadEndChain.start(bad)  # type: ignore[arg-type]


@given(s.registrations(), st.integers(1, 2**64 - 1), st.binary(min_size=32, max_size=32))
@settings(max_examples=200)
def test_sealing_copies_the_draft_as_replace_would_and_encodes_it_afresh(
    draft: Registration, seq: int, key: bytes
) -> None:
    # the chain copies a draft's checked fields instead of re-checking them with `replace`
    chain = MeterChain(seq, key, bytes(32))
    sealed, _ = chain.seal(draft)
    expected = replace(draft, seq=seq, auth_code=sealed.auth_code)
    assert sealed == expected
    assert encode_registration(sealed) == encode_registration(expected)
    assert decode_registration(encode_registration(sealed)) == sealed


def test_a_sequence_number_out_of_range_is_still_refused() -> None:
    draft = c.draft()
    with pytest.raises(ProtocolUsageError, match="seq"):
        MeterChain(2**64, bytes(32), bytes(32)).seal(draft)
