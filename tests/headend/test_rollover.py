"""Key rollover end to end: the real meter module and the real head-end, on SQLite and PostgreSQL.

Both keys roll (the box's, then the meter's, then both again) while the meter keeps reporting;
every registration arrives exactly once; forged, replayed and unsolicited rollovers are refused
with their reason recorded and change nothing; the old keys are useless afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealmeter.cli import app
from sealmeter.headend import BoxKeys, HeadEnd
from sealmeter.headend._ingest import REJECTION_ANSWER
from sealmeter.headend.testing import MeterSide
from sealmeter.headend.verify_bill import verify_export
from sealmeter.meter import CallPolicy, Meter, MeterConfig
from sealmeter.nvm import Eeprom
from sealmeter.protocol import (
    ROLLOVER_SALT_SIZE,
    CommandKind,
    PrivateKeys,
    PublicKeys,
    RolloverOp,
    Suite,
    Uplink,
    announce,
    decode_order,
    derive_symmetric,
    encode_announcement,
    generate_keys,
    seal_uplink,
    verify_order,
)
from sealmeter.store import Provisioning
from tests.meter.conftest import DATA, DEVICE_KEY, schedule, seeded
from tests.store.conftest import Database

T0 = datetime(2026, 3, 2, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


class Rig:
    """A real meter talking to a real head-end on a simulated clock, with seeded lost answers."""

    def __init__(self, he: HeadEnd, meter_id: str = "m-roll", seed: int = 3) -> None:
        """Manufacture and provision a meter calling every six hours."""
        self.he = he
        he.publish_schedule((DATA / "day-night.json").read_text(), T0)
        config = MeterConfig(meter_id, calls=CallPolicy(timedelta(hours=6)))
        self.meter = Meter.manufacture(Eeprom(128 * 1024), DEVICE_KEY, config, T0, seeded(seed))
        export = self.meter.provision(he.keys.public(Suite.EC_MODERN), T0)
        he.provision(
            Provisioning(
                meter_id=meter_id,
                customer_ref=f"c-{meter_id}",
                suite=export.suite.value,
                public_keys=export.public_keys,
                chain_key=export.chain_key,
                schedule_id="test-day-night",
            ),
            T0,
        )
        self.meter.install_schedules((schedule(),), T0)
        self.t = T0
        self.rejected = 0
        self.lost = 0
        self.rng = random.Random(seed)

    def run(self, span: timedelta, *, lose: float = 0.0) -> None:
        """Feed 250 Wh per quarter hour and call when due; answers are lost at rate `lose`."""
        end = self.t + span
        while self.t < end:
            self.meter.feed_interval(self.t, self.t + QUARTER, 250)
            self.t += QUARTER
            if self.t >= self.meter.next_call_at():
                answer = self.he.handle_uplink(self.meter.make_uplink(self.t), self.t)
                if answer == REJECTION_ANSWER:
                    self.rejected += 1
                    self.meter.call_failed(self.t)
                elif self.rng.random() < lose:
                    self.lost += 1
                    self.meter.call_failed(self.t)
                else:
                    self.meter.accept_downlink(answer, self.t)

    def stored_seqs(self) -> list[int]:
        """Sequence numbers stored for the meter, in order."""
        page = self.he.list_registrations(meter_id=self.meter.meter_id, limit=1000)
        return sorted(r.seq for r in page.items)


@pytest.mark.parametrize("lose", [0.0, 0.3], ids=["reliable", "lossy"])
def test_both_keys_roll_twice_while_the_meter_reports_exactly_once(
    headend: HeadEnd, lose: float
) -> None:
    rig = Rig(headend, seed=7 if lose else 3)
    he, meter = rig.he, rig.meter
    first_keys = he.meter_public_keys(meter.meter_id)
    rig.run(timedelta(days=1), lose=lose)
    box0 = he.keys.private(Suite.EC_MODERN).key_id
    for round_ in range(2):
        he.roll_box_keys(Suite.EC_MODERN, rig.t)
        he.renew_meter_keys(meter.meter_id, rig.t)
        rig.run(timedelta(days=2), lose=lose)
        stored = he.store.get_meter(meter.meter_id)
        assert he.rollover(meter.meter_id).idle, f"round {round_}: rollover not finished"
        assert stored.rollover is None
        assert stored.record.key_version == 2 + round_
    rig.run(timedelta(days=1), lose=lose)
    assert rig.rejected == 0
    assert he.meter_public_keys(meter.meter_id) != first_keys
    assert he.keys.private(Suite.EC_MODERN).key_id != box0
    # nothing lost, nothing twice: every registration the meter made is stored once, or
    # still queued on the meter (made after its last call)
    made = meter.next_seq - 1
    assert made > 30
    stored = rig.stored_seqs()
    assert stored == list(range(1, len(stored) + 1))
    queued = {r.seq for r in meter.queued_registrations()}
    assert set(range(len(stored) + 1, made + 1)) <= queued
    assert made - len(stored) <= 2
    assert he.list_rejections(meter_id=meter.meter_id).items == ()


def test_an_in_memory_headend_rolls_both_keys() -> None:
    he = HeadEnd.open("sqlite://", BoxKeys.generate())
    rig = Rig(he)
    rig.run(timedelta(hours=12))
    he.roll_box_keys(Suite.EC_MODERN, rig.t)
    he.renew_meter_keys(rig.meter.meter_id, rig.t)
    rig.run(timedelta(days=1))
    assert he.rollover(rig.meter.meter_id).idle
    assert rig.rejected == 0
    stored = rig.stored_seqs()
    assert stored == list(range(1, len(stored) + 1))
    assert len(stored) >= rig.meter.next_seq - 3
    he.close()


def _forge(
    meter_id: str, keys: PrivateKeys, box: PublicKeys, t: datetime, announcement: bytes = b""
) -> bytes:
    up = Uplink(meter_id, t, bytes(16), (), None, announcement)
    return seal_uplink(up, meter=keys, headend=box)


def test_an_attacker_holding_the_old_meter_key_gets_nothing_accepted(headend: HeadEnd) -> None:
    rig = Rig(headend, seed=5)
    he, meter = rig.he, rig.meter
    rig.run(timedelta(hours=12))
    stolen = meter._private_keys()
    he.renew_meter_keys(meter.meter_id, rig.t)
    rig.run(timedelta(days=1))
    assert he.store.get_meter(meter.meter_id).record.key_version == 2
    before = (rig.stored_seqs(), he.meter_public_keys(meter.meter_id))
    box = he.keys.public(Suite.EC_MODERN)
    t = rig.t + timedelta(minutes=1)
    # a plain uplink under the old key; one replaying the real announcement; one announcing
    # the attacker's own keys "endorsed" by the old key, with or without a renewal ordered
    own = generate_keys(Suite.EC_MODERN)
    fake = announce(meter_id=meter.meter_id, epoch=3, seq=meter.next_seq, old=stolen, new=own)
    attempts = [
        _forge(meter.meter_id, stolen, box, t),
        _forge(meter.meter_id, own, box, t, encode_announcement(fake)),
    ]
    for data in attempts:
        assert he.handle_uplink(data, t) == REJECTION_ANSWER
    he.renew_meter_keys(meter.meter_id, t)  # even with a renewal under way
    for data in attempts:
        assert he.handle_uplink(data, t) == REJECTION_ANSWER
    assert (rig.stored_seqs(), he.meter_public_keys(meter.meter_id)) == before
    reasons = [r.reason.value for r in he.list_rejections(meter_id=meter.meter_id).items]
    assert len(reasons) == 4
    # the real meter finishes its second renewal undisturbed
    rig.run(timedelta(days=1))
    assert he.store.get_meter(meter.meter_id).record.key_version == 3
    assert rig.rejected == 0


def test_the_previous_box_key_is_retired_per_meter_at_its_first_uplink_to_the_new_one(
    headend: HeadEnd, make_meter: Callable[..., MeterSide]
) -> None:
    he = headend
    a, b = make_meter("ms-a", 1), make_meter("ms-b", 2)
    for side in (a, b):
        he.provision(side.provisioning(f"c-{side.meter_id}"), T0)
    t = T0 + timedelta(hours=1)
    old_box = he.keys.public(Suite.EC_MODERN)
    he.roll_box_keys(Suite.EC_MODERN, t)
    new_box = he.keys.public(Suite.EC_MODERN)
    # both meters still seal to the old box key: accepted, and told the new keys
    for side in (a, b):
        down = side.accept(he.handle_uplink(side.uplink(t), t), t)
        orders = [decode_order(c.argument) for c in down.commands]
        assert [o.op for o in orders] == [RolloverOp.HEADEND_KEYS]
        got = verify_order(orders[0], meter_id=side.meter_id, suite=Suite.EC_MODERN)
        assert got == new_box
    # a moves to the new key; b does not yet
    t += timedelta(hours=1)
    a.box_public = new_box
    down = a.accept(he.handle_uplink(a.uplink(t), t), t)
    assert down.commands == ()
    assert he.rollover("ms-a").idle
    assert not he.rollover("ms-b").idle
    t += timedelta(hours=1)
    a.box_public = old_box  # a (or someone with a's keys) seals to the retired box key
    assert he.handle_uplink(a.uplink(t), t) == REJECTION_ANSWER
    assert he.list_rejections(meter_id="ms-a").items[0].reason.value == "wrong_recipient"
    down = b.accept(he.handle_uplink(b.uplink(t), t), t)  # b is still served on the old key
    assert down.commands
    # a second box rollover waits until every meter moved
    with pytest.raises(Exception, match="still seal to the previous"):
        he.roll_box_keys(Suite.EC_MODERN, t)


def test_a_symmetric_meter_renews_its_secret_derived_under_the_old_one(
    headend: HeadEnd, make_meter: Callable[..., MeterSide]
) -> None:
    he = headend
    side = make_meter("ms-sym", 4, Suite.SYMMETRIC)
    he.provision(side.provisioning("c-sym"), T0)
    t = T0 + timedelta(hours=1)
    side.register(t, {"1.8.1": (100, schedule_charge())})
    side.accept(he.handle_uplink(side.uplink(t), t), t)
    state = he.renew_meter_keys("ms-sym", t)
    assert len(state.salt) == ROLLOVER_SALT_SIZE
    t += timedelta(hours=1)
    side.register(t, {"1.8.1": (100, schedule_charge())})
    down = side.accept(he.handle_uplink(side.uplink(t), t), t)
    (order,) = [
        decode_order(c.argument) for c in down.commands if c.kind is CommandKind.KEY_ROLLOVER
    ]
    old = side.keys
    new = derive_symmetric(old, meter_id="ms-sym", epoch=order.epoch, salt=order.salt)
    ann = announce(meter_id="ms-sym", epoch=order.epoch, seq=side.chain.next_seq, old=old, new=new)
    side.keys, side.box_public = new, new.public()
    t += timedelta(hours=1)
    side.register(t, {"1.8.1": (100, schedule_charge())})
    side.last_nonce = side.rng.randbytes(16)
    up = Uplink("ms-sym", t, side.last_nonce, tuple(side.queue), None, encode_announcement(ann))
    data = seal_uplink(up, meter=new, headend=new.public())
    side.accept(he.handle_uplink(data, t), t)
    assert he.rollover("ms-sym").idle
    # the old secret opens nothing any more
    forged = _forge("ms-sym", old, old.public(), t + timedelta(minutes=5))
    assert he.handle_uplink(forged, t + timedelta(minutes=5)) == REJECTION_ANSWER
    assert [r.seq for r in he.list_registrations(meter_id="ms-sym").items] == [1, 2, 3]


def schedule_charge() -> Decimal:
    """A charge for a MeterSide registration (not reconciled: no schedule is named)."""
    return Decimal("0.05")


def test_unsolicited_and_wrong_epoch_announcements_change_nothing(
    headend: HeadEnd, make_meter: Callable[..., MeterSide]
) -> None:
    he = headend
    side = make_meter("ms-u", 6)
    he.provision(side.provisioning("c-u"), T0)
    t = T0 + timedelta(hours=1)
    keys0 = he.meter_public_keys("ms-u")
    new = generate_keys(Suite.EC_MODERN)
    for epoch, ordered in ((2, False), (5, True)):
        if ordered:
            he.renew_meter_keys("ms-u", t)
        ann = announce(meter_id="ms-u", epoch=epoch, seq=1, old=side.keys, new=new)
        data = _forge("ms-u", new, he.keys.public(Suite.EC_MODERN), t, encode_announcement(ann))
        assert he.handle_uplink(data, t) == REJECTION_ANSWER
        t += timedelta(minutes=1)
    assert he.meter_public_keys("ms-u") == keys0
    assert he.rollover("ms-u").renew_epoch == 2
    assert len(he.list_rejections(meter_id="ms-u").items) == 2


def test_a_customer_export_spans_a_box_key_rollover(
    headend: HeadEnd, make_meter: Callable[..., MeterSide]
) -> None:
    he = headend
    side = make_meter("ms-x", 8)
    he.provision(side.provisioning("c-x"), T0)
    t = T0 + timedelta(hours=1)
    for step in range(4):
        if step == 2:
            he.roll_box_keys(Suite.EC_MODERN, t)
        side.register(t, {"1.8.1": (100 + step, schedule_charge())})
        down = side.accept(he.handle_uplink(side.uplink(t), t), t)
        for command in down.commands:
            order = decode_order(command.argument)
            new = verify_order(order, meter_id="ms-x", suite=Suite.EC_MODERN)
            assert new is not None
            side.box_public = new
        t += timedelta(hours=1)
    report = verify_export(
        he.export_registrations("ms-x"), public_keys=side.keys.public().to_bytes()
    )
    # every uplink verifies and decrypts (before and after the rollover); only the charges
    # cannot be recomputed, as these test registrations name no schedule
    assert [p for p in report.problems if "cannot recompute" not in p] == []
    assert sorted(p.split()[1] for p in report.problems) == ["1", "2", "3", "4"]


def test_the_rollover_commands(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_meter: Callable[..., MeterSide]
) -> None:
    monkeypatch.setenv("SEALMETER_KEY_PASSPHRASE", "rollover cli test")
    monkeypatch.setenv("SEALMETER_DB", f"sqlite:///{tmp_path / 'he.db'}")
    monkeypatch.setenv("SEALMETER_KEYS", str(tmp_path / "box.json"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    ok("headend", "keys", "init")
    keys = BoxKeys.load(tmp_path / "box.json", b"rollover cli test")
    he = HeadEnd.open(f"sqlite:///{tmp_path / 'he.db'}", keys)
    side = MeterSide("cli-r", keys.public(Suite.EC_MODERN), random.Random(1))
    he.provision(side.provisioning("c"), T0)
    he.close()
    assert "renewal -" in ok("headend", "rollover", "status", "cli-r")
    assert "key version 2 ordered" in ok("headend", "rollover", "renew", "cli-r")
    out = ok("headend", "rollover", "box-keys", "--out", "box2.json")
    assert "box2.json" in out
    status = ok("headend", "rollover", "status", "cli-r")
    assert keys.private(Suite.EC_MODERN).key_id.hex() in status
    assert "renewal 2" in status
    new = BoxKeys.load(tmp_path / "box2.json", b"rollover cli test")
    assert new.previous[Suite.EC_MODERN].key_id == keys.private(Suite.EC_MODERN).key_id
    assert new.private(Suite.EC_MODERN).key_id != keys.private(Suite.EC_MODERN).key_id
    refused = runner.invoke(app, ["headend", "rollover", "box-keys", "--out", "box2.json"])
    assert refused.exit_code == 2


def test_a_process_still_on_the_old_key_file_serves_and_never_tells_old_keys_as_new(
    headend: HeadEnd, make_meter: Callable[..., MeterSide], database: Database
) -> None:
    side = make_meter("ms-p", 9)
    headend.provision(side.provisioning("c-p"), T0)
    old_keys = headend.keys
    headend.roll_box_keys(Suite.EC_MODERN, T0)
    other = HeadEnd(database.open(), old_keys)  # another worker, not restarted yet
    t = T0 + timedelta(hours=1)
    down = side.accept(other.handle_uplink(side.uplink(t), t), t)
    assert down.commands == ()  # no order naming the keys the meter already pins
    assert not headend.rollover("ms-p").idle  # and the meter is still marked as not moved
    down = side.accept(headend.handle_uplink(side.uplink(t + timedelta(hours=1)), t), t)
    assert [decode_order(c.argument).op for c in down.commands] == [RolloverOp.HEADEND_KEYS]
    other.close()


def test_replayed_and_readdressed_announced_uplinks_change_nothing(
    headend: HeadEnd, make_meter: Callable[..., MeterSide]
) -> None:
    he = headend
    side, other = make_meter("ms-r", 10), make_meter("ms-r2", 11)
    for s in (side, other):
        he.provision(s.provisioning(f"c-{s.meter_id}"), T0)
    t = T0 + timedelta(hours=1)
    he.renew_meter_keys("ms-r", t)
    he.renew_meter_keys("ms-r2", t)
    new = generate_keys(Suite.EC_MODERN)
    ann = announce(meter_id="ms-r", epoch=2, seq=1, old=side.keys, new=new)
    side.register(t, {"1.8.1": (100, schedule_charge())})
    side.last_nonce = side.rng.randbytes(16)
    up = Uplink("ms-r", t, side.last_nonce, tuple(side.queue), None, encode_announcement(ann))
    data = seal_uplink(up, meter=new, headend=he.keys.public(Suite.EC_MODERN))
    # re-addressed to another meter with a renewal under way: refused, nothing changes
    keys2 = he.meter_public_keys("ms-r2")
    forged = seal_uplink(
        replace(up, meter_id="ms-r2", registrations=()),
        meter=new,
        headend=he.keys.public(Suite.EC_MODERN),
    )
    assert he.handle_uplink(forged, t) == REJECTION_ANSWER  # the announcement names ms-r
    assert he.meter_public_keys("ms-r2") == keys2
    assert he.rollover("ms-r2").renew_epoch == 2
    # the real one installs; its replay is acknowledged again and stores nothing twice
    side.keys = new
    first = he.handle_uplink(data, t)
    assert first != REJECTION_ANSWER
    assert he.meter_public_keys("ms-r") == new.public().to_bytes()
    again = he.handle_uplink(data, t + timedelta(minutes=1))
    assert again != REJECTION_ANSWER
    assert [r.seq for r in he.list_registrations(meter_id="ms-r").items] == [1]
    assert he.get_meter("ms-r").key_version == 2
    assert he.rollover("ms-r").idle


def test_a_crash_between_the_batch_and_the_rollover_commit_loses_nothing(
    headend: HeadEnd, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(headend, seed=9)
    he, meter = rig.he, rig.meter
    rig.run(timedelta(hours=12))
    he.renew_meter_keys(meter.meter_id, rig.t)
    he.roll_box_keys(Suite.EC_MODERN, rig.t)
    rollovers = he._ingestor.rollovers
    real_commit = rollovers.commit
    crashes = []

    def crash(store: object, now: datetime) -> None:
        if rollovers._changes() and len(crashes) < 3:  # only when a rollover step is due
            crashes.append(now)
            rollovers.begin()  # the process dies: its pending changes are gone
            raise RuntimeError("power failed in the head-end")
        real_commit(he.store, now)

    monkeypatch.setattr(rollovers, "commit", crash)
    end = rig.t + timedelta(days=2)
    while rig.t < end:
        meter.feed_interval(rig.t, rig.t + QUARTER, 250)
        rig.t += QUARTER
        if rig.t >= meter.next_call_at():
            try:
                answer = he.handle_uplink(meter.make_uplink(rig.t), rig.t)
            except RuntimeError:
                meter.call_failed(rig.t)  # no answer ever came
                continue
            assert answer != REJECTION_ANSWER
            meter.accept_downlink(answer, rig.t)
    assert len(crashes) == 3
    assert he.rollover(meter.meter_id).idle
    assert he.get_meter(meter.meter_id).key_version == 2
    stored = rig.stored_seqs()
    assert stored == list(range(1, len(stored) + 1))
    assert len(stored) >= meter.next_seq - 3


def test_the_customer_bill_check_follows_a_meter_key_renewal(headend: HeadEnd) -> None:
    rig = Rig(headend, seed=12)
    he, meter = rig.he, rig.meter
    original = he.meter_public_keys(meter.meter_id)  # what the customer obtained at the start
    rig.run(timedelta(days=1))
    he.renew_meter_keys(meter.meter_id, rig.t)
    rig.run(timedelta(days=1))
    assert he.get_meter(meter.meter_id).key_version == 2
    export = he.export_registrations(meter.meter_id)
    report = verify_export(export, public_keys=original)
    assert report.problems == ()
    assert report.registrations == len(rig.stored_seqs())
    # the same export checked against a key the meter never endorsed fails from the renewal on
    report = verify_export(export, public_keys=generate_keys().public().to_bytes())
    assert not report.ok
