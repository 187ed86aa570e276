"""Key rollover in the security module: the head-end's new keys, renewing its own, power cuts.

The head-end's side is `WireHeadEnd` (the real protocol core) plus the rollover payloads of
`sealmeter.protocol.rollover`; the real head-end is exercised in tests/headend/test_rollover.py.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sealmeter.meter import DownlinkRejected, Meter
from sealmeter.meter.rollover import KeysRecord
from sealmeter.nvm import FaultPlan, PowerCut
from sealmeter.protocol import (
    Command,
    CommandKind,
    Downlink,
    EnableCode,
    PublicKeys,
    Suite,
    WrongRecipient,
    WrongSender,
    decode_announcement,
    encode_order,
    generate_keys,
    headend_order,
    open_announced_uplink,
    open_uplink,
    peek_header,
    renew_order,
    seal_downlink,
)

from .conftest import DEVICE_KEY, WireHeadEnd, make_meter, seeded

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _renew(meter: Meter, epoch: int = 2) -> Command:
    return Command(
        CommandKind.KEY_ROLLOVER, encode_order(renew_order(meter.meter_id, Suite.EC_MODERN, epoch))
    )


def _record(meter: Meter) -> KeysRecord:
    blob = meter._memory.records.read("keys")
    assert blob is not None
    return KeysRecord.from_bytes(blob)


def _used_keys(data: bytes) -> tuple[bytes, bytes]:
    head = peek_header(data)
    return head.sender_key_id, head.recipient_key_id


def _install_announced(he: WireHeadEnd, data: bytes, epoch: int = 2) -> PublicKeys:
    """The head-end's side of a renewal: open the announced uplink, pin the new keys."""
    assert he.chain is not None
    opened, new = open_announced_uplink(
        data, headend=he.keys, meter=he.meter_public, meter_id=he.meter_id, chain=he.chain,
        epoch=epoch,
    )  # fmt: skip
    he.chain = opened.chain
    he.last_time = opened.uplink.time
    he.accepted.extend(opened.accepted)
    he.meter_public = new
    return new


def _answer_to(he: WireHeadEnd, data: bytes, up_time: datetime, nonce: bytes) -> bytes:
    """An enable-code answer sealed to the meter's currently pinned keys."""
    assert he.chain is not None
    code = EnableCode(he.meter_id, he.chain.last_seq, nonce, up_time + HOUR, he.credit)
    down = Downlink(he.meter_id, up_time, nonce, code)
    return seal_downlink(down, headend=he.keys, meter=he.meter_public, seed=bytes(32))


def test_a_meter_renews_its_keys_and_the_old_key_is_gone() -> None:
    meter, he, _ = make_meter(T0, seed=11)
    old_id = he.meter_public.key_id
    meter.feed_interval(T0, T0 + HOUR, 500)
    t = T0 + HOUR
    result = meter.accept_downlink(he.answer(meter.make_uplink(t), commands=(_renew(meter),)), t)
    assert result.rollovers
    assert result.enable_code
    record = _record(meter)
    ann = decode_announcement(record.announcement)
    assert ann.old_key_id == old_id
    assert ann.new_key_id != old_id
    assert ann.seq == meter.next_seq
    # the next uplink is signed by the new key and announces it; the old key opens nothing
    meter.feed_interval(t, t + HOUR, 500)
    t += HOUR
    up = meter.make_uplink(t)
    assert _used_keys(up)[0] == ann.new_key_id
    with pytest.raises(WrongSender):
        he.answer(up)
    new = _install_announced(he, up)
    assert new.key_id == ann.new_key_id
    opened_nonce = meter.control.pending_nonce
    assert opened_nonce is not None
    meter.accept_downlink(_answer_to(he, up, t, opened_nonce), t)
    assert _record(meter).announcement == b""  # confirmed: no more announcements
    meter.feed_interval(t, t + HOUR, 500)
    t += HOUR
    answer = he.answer(meter.make_uplink(t))  # a plain uplink under the new key
    meter.accept_downlink(answer, t)
    assert [r.seq for r in he.accepted] == list(range(1, meter.next_seq))


def test_the_renewal_is_deterministic_under_a_seeded_entropy_source() -> None:
    ids = []
    for _ in range(2):
        meter, he, _ = make_meter(T0, seed=5)
        t = T0 + HOUR
        meter.accept_downlink(he.answer(meter.make_uplink(t), commands=(_renew(meter),)), t)
        ids.append(decode_announcement(_record(meter).announcement).new_key_id)
    assert ids[0] == ids[1]


def test_a_lost_answer_keeps_the_announcement_until_a_downlink_under_the_new_key() -> None:
    meter, he, _ = make_meter(T0, seed=12)
    t = T0 + HOUR
    meter.accept_downlink(he.answer(meter.make_uplink(t), commands=(_renew(meter),)), t)
    t += HOUR
    first = meter.make_uplink(t)
    _install_announced(he, first)  # the head-end installs; its answer is lost
    meter.call_failed(t)
    t += HOUR
    again = meter.make_uplink(t)  # still announced, under the new key
    record = _record(meter)
    assert record.announcement
    assert he.chain is not None
    opened = open_uplink(
        again, headend=he.keys, meter=he.meter_public, meter_id=he.meter_id, chain=he.chain
    )
    assert opened.uplink.key_announcement == record.announcement
    nonce = meter.control.pending_nonce
    assert nonce is not None
    he.chain = opened.chain
    meter.accept_downlink(_answer_to(he, again, t, nonce), t)
    assert _record(meter).announcement == b""


def test_the_headend_keys_roll_over_and_old_box_keys_are_refused_after() -> None:
    meter, he, _ = make_meter(T0, seed=13)
    old_box = he.keys
    new_box = generate_keys(Suite.EC_MODERN)
    order = Command(
        CommandKind.KEY_ROLLOVER, encode_order(headend_order(meter.meter_id, 2, new_box))
    )
    t = T0 + HOUR
    up = meter.make_uplink(t)
    assert _used_keys(up)[1] == old_box.key_id
    meter.accept_downlink(he.answer(up, commands=(order,)), t)
    t += HOUR
    up = meter.make_uplink(t)
    assert _used_keys(up)[1] == new_box.public().key_id
    with pytest.raises(WrongRecipient):
        he.answer(up)  # the old box key can no longer read the meter
    he.keys = new_box
    answer = he.answer(up)
    meter.accept_downlink(answer, t)
    # a downlink still signed by the old box key is refused from now on
    t += HOUR
    up = meter.make_uplink(t)
    he.keys = old_box
    nonce = meter.control.pending_nonce
    assert nonce is not None
    stale = seal_downlink(
        Downlink(meter.meter_id, t, nonce), headend=old_box, meter=he.meter_public
    )
    with pytest.raises(DownlinkRejected):
        meter.accept_downlink(stale, t)


@pytest.mark.parametrize(
    "forge",
    ["other-meter", "other-suite", "bad-proof", "garbage", "same-keys", "two-renewals"],
)
def test_a_bad_order_is_refused_and_changes_nothing(forge: str) -> None:
    meter, he, device = make_meter(T0, seed=14)
    t = T0 + HOUR
    up = meter.make_uplink(t)
    before = _record(meter).to_bytes()
    new_box = generate_keys(Suite.EC_MODERN)
    order = headend_order(meter.meter_id, 2, new_box)
    if forge == "other-meter":
        arg = encode_order(replace(order, meter_id="meter-0002"))
    elif forge == "other-suite":
        arg = encode_order(renew_order(meter.meter_id, Suite.NIST_P256, 2))
    elif forge == "bad-proof":  # someone swaps in keys whose private half the box lacks
        arg = encode_order(replace(order, new_keys=generate_keys().public().to_bytes()))
    elif forge == "garbage":
        arg = b"\x01\x10\x09"
    elif forge == "same-keys":
        arg = encode_order(headend_order(meter.meter_id, 2, he.keys))
    else:
        arg = _renew(meter).argument
    commands = [Command(CommandKind.KEY_ROLLOVER, arg)]
    if forge == "two-renewals":
        commands.append(Command(CommandKind.KEY_ROLLOVER, arg))
    control = meter.control
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(he.answer(up, commands=tuple(commands)), t)
    assert info.value.reason == "bad-rollover"
    assert _record(meter).to_bytes() == before
    assert meter.control == control
    rebooted = Meter.boot(device.clone(None), DEVICE_KEY, seeded(1))
    assert _record(rebooted).to_bytes() == before


def test_an_attacker_with_the_old_key_cannot_get_a_downlink_accepted_after_renewal() -> None:
    meter, he, _ = make_meter(T0, seed=15)
    t = T0 + HOUR
    meter.accept_downlink(he.answer(meter.make_uplink(t), commands=(_renew(meter),)), t)
    old_meter_pub = he.meter_public
    t += HOUR
    up = meter.make_uplink(t)
    nonce = meter.control.pending_nonce
    assert nonce is not None
    # a downlink sealed to the meter's old keys (as one would with a stale pin) is refused
    stale = seal_downlink(Downlink(meter.meter_id, t, nonce), headend=he.keys, meter=old_meter_pub)
    with pytest.raises(DownlinkRejected):
        meter.accept_downlink(stale, t)
    _install_announced(he, up)
    meter.accept_downlink(_answer_to(he, up, t, nonce), t)


def test_a_power_cut_anywhere_in_a_renewal_leaves_old_or_new_keys_and_the_meter_talks() -> None:
    meter, he, device = make_meter(T0, seed=16)
    old_id = he.meter_public.key_id
    chain0 = he.chain
    t = T0 + HOUR
    answer = he.answer(meter.make_uplink(t), commands=(_renew(meter),))
    base = device.clone(None)
    clean = base.clone(None)
    before = clean.ops
    Meter.boot(clean, DEVICE_KEY, seeded(99)).accept_downlink(answer, t)
    total = clean.ops - before
    assert total >= 2
    # a cut in every primitive, three tear patterns each; total + 1 is no cut at all
    cuts = [(cut, seed) for cut in range(1, total + 2) for seed in range(3)]
    outcomes = set()
    for cut, seed in cuts:
        dev = base.clone(FaultPlan(seed=seed * 1000 + cut, cut_at=cut, weak_on_tear=True))
        with contextlib.suppress(PowerCut):
            Meter.boot(dev, DEVICE_KEY, seeded(99)).accept_downlink(answer, t)
        dev.power_on()
        dev.inject(None)
        after = Meter.boot(dev, DEVICE_KEY, seeded(cut))
        record = _record(after)
        side = WireHeadEnd(he.keys, he.meter_public, he.meter_id, chain0, None, [], [])
        side.chain, side.last_time = he.chain, he.last_time
        t2 = t + HOUR
        up = after.make_uplink(t2)
        sender = _used_keys(up)[0]
        if sender == old_id:  # the renewal did not happen: old keys, nothing announced
            assert record.announcement == b""
            outcomes.add("old")
            side.answer(up)
        else:  # the renewal happened: new keys with their announcement
            ann = decode_announcement(record.announcement)
            assert ann.new_key_id == sender
            outcomes.add("new")
            _install_announced(side, up)
    assert outcomes == {"old", "new"}, f"cuts {cuts} gave only {outcomes}"


def test_a_forged_order_inside_an_envelope_of_another_key_never_reaches_the_meter() -> None:
    meter, he, _ = make_meter(T0, seed=17)
    t = T0 + HOUR
    up = meter.make_uplink(t)
    nonce = meter.control.pending_nonce
    assert nonce is not None
    intruder = generate_keys(Suite.EC_MODERN)
    order = Command(
        CommandKind.KEY_ROLLOVER, encode_order(headend_order(meter.meter_id, 2, intruder))
    )
    forged = seal_downlink(
        Downlink(meter.meter_id, t, nonce, commands=(order,)),
        headend=intruder,
        meter=he.meter_public,
    )
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(forged, t)
    assert info.value.reason in {"wrong-sender", "bad-signature"}
    del up
