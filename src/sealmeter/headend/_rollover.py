"""Key rollover at the head-end: the box's own keys, and ordering a meter to renew its keys.

Per meter the store keeps an opaque `rollover` state (NULL when nothing is under way):

- `box_key_id`: after a box key rollover (`roll_box_keys`), the key id of the *previous* box
  keys the meter still seals to. Its uplinks to that key are opened with the previous keys and
  answered with a `HEADEND_KEYS` order (signed by the previous key, carrying the new public keys
  and their proof); its first uplink sealed to the new keys clears the field, and from then on
  the previous keys open nothing of this meter (`WrongRecipient`).
- `renew_epoch` (and `salt` in the symmetric suite): a renewal ordered by the operator
  (`request_renewal`). Every answer carries a `RENEW_METER_KEYS` order until an uplink sealed
  with the meter's announced new keys arrives; `open_announced_uplink` trusts those only
  through the old key's endorsement. The new keys are then installed (the old key version is
  retired in `meter_keys`) and the old key opens nothing more (`WrongSender`).

State changes found while opening a batch are written after the batch's commit, each as a
compare-and-set (`Store.set_rollover`), before any answer is sealed: a crash in between loses
no registration (they are stored) and the meter simply repeats its announcement or its uplink
to the new box key, which is idempotent.
"""

from __future__ import annotations

import secrets
import struct
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sealmeter.headend._keys import BoxKeys
from sealmeter.headend._lifecycle import MeterEvent, next_state
from sealmeter.headend._sealing import seal_secret
from sealmeter.headend.errors import HeadEndError
from sealmeter.protocol import (
    ROLLOVER_SALT_SIZE,
    Command,
    CommandKind,
    HeadEndChain,
    OpenedUplink,
    PrivateKeys,
    PublicKeys,
    Suite,
    derive_symmetric,
    encode_order,
    generate_keys,
    headend_order,
    open_announced_uplink,
    open_uplink,
    peek_header,
    renew_order,
)
from sealmeter.store import MeterState, Store, StoredMeter

if TYPE_CHECKING:
    from sealmeter.headend._facade import HeadEnd

__all__ = [
    "RolloverIngest",
    "RolloverState",
    "request_renewal",
    "roll_box_keys",
    "rollover_state",
]

_VERSION = 1
_FIXED = struct.Struct(">B8sIB")


@dataclass(frozen=True, slots=True)
class RolloverState:
    """A meter's rollover under way: previous box key id, renewal epoch and salt (see above)."""

    box_key_id: bytes = b""
    renew_epoch: int = 0
    salt: bytes = b""

    @property
    def idle(self) -> bool:
        """Nothing under way (stored as NULL)."""
        return not self.box_key_id and not self.renew_epoch

    def to_bytes(self) -> bytes | None:
        """The stored form: version, key id (8, zeros when none), epoch, salt; None when idle."""
        if self.idle:
            return None
        return _FIXED.pack(
            _VERSION, self.box_key_id or bytes(8), self.renew_epoch, len(self.salt)
        ) + (self.salt)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> RolloverState:
        """Read the stored form (None: idle); a damaged value is an internal error."""
        if data is None:
            return cls()
        data = bytes(data)
        if len(data) < _FIXED.size:
            raise HeadEndError("a meter's stored rollover state is damaged; restore from backup")
        version, key_id, epoch, size = _FIXED.unpack_from(data)
        if version != _VERSION or len(data) != _FIXED.size + size:
            raise HeadEndError("a meter's stored rollover state is damaged; restore from backup")
        return cls(b"" if key_id == bytes(8) else key_id, epoch, data[_FIXED.size :])


def rollover_state(meter: StoredMeter) -> RolloverState:
    """The rollover under way for `meter` (idle when none)."""
    return RolloverState.from_bytes(meter.rollover)


@dataclass(slots=True)
class _Change:
    expected: bytes | None
    state: RolloverState
    public_keys: bytes | None = None  # what the store keeps for the new meter keys


class RolloverIngest:
    """The ingest path's view of rollovers (used by `Ingestor` for meters with a state)."""

    def __init__(self) -> None:
        """Start with no batch under way."""
        self._local = threading.local()

    def begin(self) -> None:
        """Forget the changes of a previous (or retried) batch."""
        self._local.changes = {}

    def _changes(self) -> dict[str, _Change]:
        changes: dict[str, _Change] | None = getattr(self._local, "changes", None)
        if changes is None:
            changes = self._local.changes = {}
        return changes

    def state(self, meter: StoredMeter) -> RolloverState:
        """The meter's state as this batch sees it (stored, plus earlier uplinks' changes)."""
        change = self._changes().get(meter.record.meter_id)
        return change.state if change is not None else rollover_state(meter)

    def open(
        self,
        keys: BoxKeys,
        data: bytes,
        meter: StoredMeter,
        public: PublicKeys,
        private: PrivateKeys,
        chain: HeadEndChain,
    ) -> tuple[OpenedUplink, PrivateKeys, PublicKeys]:
        """Open an uplink of a meter with a rollover under way.

        `public`/`private` are the meter's pinned keys and the keys the head-end would open
        with (the box's current set, or the symmetric suite's per-meter keys). Returns the
        opened uplink, the keys to answer with, and the meter keys to answer to. Raises the
        precise `ProtocolPeerError`; records the state change for `commit`.
        """
        rec = meter.record
        suite = Suite.from_name(rec.suite)
        state = self.state(meter)
        head = peek_header(data)
        box = private
        on_previous = bool(state.box_key_id) and head.recipient_key_id == state.box_key_id
        old = keys.previous.get(suite)
        if on_previous and old is not None and old.key_id == state.box_key_id:
            box = old  # (a process not yet on the new key file holds them as current)
        new_state = state
        stored_keys: bytes | None = None
        if state.renew_epoch and head.sender_key_id != public.key_id:
            opened, new_public = open_announced_uplink(
                data,
                headend=box,
                meter=public,
                meter_id=rec.meter_id,
                chain=chain,
                epoch=state.renew_epoch,
                salt=state.salt,
            )
            if suite is Suite.SYMMETRIC:
                box = derive_symmetric(
                    private, meter_id=rec.meter_id, epoch=state.renew_epoch, salt=state.salt
                )
                assert box.secret is not None
                stored_keys = seal_secret(keys, rec.meter_id, box.secret)
            else:
                stored_keys = new_public.to_bytes()
            public = new_public
            new_state = replace(new_state, renew_epoch=0, salt=b"")
        else:
            opened = open_uplink(
                data, headend=box, meter=public, meter_id=rec.meter_id, chain=chain
            )
        if state.box_key_id and not on_previous:
            new_state = replace(new_state, box_key_id=b"")  # the meter sealed to the new keys
        if new_state != state or stored_keys is not None:
            changes = self._changes()
            first = changes.get(rec.meter_id)
            if first is not None and stored_keys is None:
                stored_keys = first.public_keys
            expected = meter.rollover if first is None else first.expected
            changes[rec.meter_id] = _Change(expected, new_state, stored_keys)
        return opened, box, public

    def commands(self, keys: BoxKeys, meter: StoredMeter) -> list[Command]:
        """The rollover orders the answer to this meter carries (as this batch sees it)."""
        state = self.state(meter)
        rec = meter.record
        out: list[Command] = []
        new_box = keys.sets.get(Suite.from_name(rec.suite))
        # (a process whose current keys are still the meter's has nothing new to tell it)
        if state.box_key_id and new_box is not None and new_box.key_id != state.box_key_id:
            order = headend_order(rec.meter_id, 0, new_box)
            out.append(Command(CommandKind.KEY_ROLLOVER, encode_order(order)))
        if state.renew_epoch:
            order = renew_order(
                rec.meter_id, Suite.from_name(rec.suite), state.renew_epoch, state.salt
            )
            out.append(Command(CommandKind.KEY_ROLLOVER, encode_order(order)))
        return out

    def commit(self, store: Store, now: datetime) -> None:
        """Write the batch's rollover changes (after the batch itself is committed)."""
        changes = self._changes()
        for meter_id, change in sorted(changes.items()):
            store.set_rollover(
                meter_id,
                change.expected,
                change.state.to_bytes(),
                at=now,
                public_keys=change.public_keys,
            )
        changes.clear()


def request_renewal(he: HeadEnd, meter_id: str, now: datetime) -> RolloverState:
    """Order meter `meter_id` to renew its own keys; the order rides on its next answers."""
    meter = he.store.get_meter(meter_id)
    rec = meter.record
    next_state(meter_id, rec.state, MeterEvent.ROLL_KEYS)
    state = rollover_state(meter)
    if state.renew_epoch:
        return state  # already ordered: the same order keeps going out
    suite = Suite.from_name(rec.suite)
    salt = secrets.token_bytes(ROLLOVER_SALT_SIZE) if suite is Suite.SYMMETRIC else b""
    new = replace(state, renew_epoch=rec.key_version + 1, salt=salt)
    if not he.store.set_rollover(meter_id, meter.rollover, new.to_bytes(), at=now):
        raise HeadEndError(
            f"meter {meter_id!r} changed while the renewal was ordered; order it again"
        )
    return new


def roll_box_keys(he: HeadEnd, suite: Suite, now: datetime) -> BoxKeys:
    """Give the box a new key set for `suite`; every meter of that suite is told in its answers.

    Returns the new `BoxKeys` (the current set becomes `previous`): save them, they replace the
    key file. Refused while a meter is still on the previous keys of an earlier rollover.
    """
    if suite is Suite.SYMMETRIC:
        raise HeadEndError(
            "the symmetric suite has no box keys: renew each meter's secret instead "
            "(`sealmeter headend rollover renew METER`)"
        )
    current = he.keys.private(suite)
    meters = [m for m in he.store.all_meters() if m.suite == suite.value]
    stored = he.store.load_meters([m.meter_id for m in meters])
    behind = [
        mid
        for mid, m in stored.items()
        if rollover_state(m).box_key_id and m.record.state is not MeterState.DECOMMISSIONED
    ]
    if behind:
        raise HeadEndError(
            f"{len(behind)} meter(s) still seal to the previous {suite.value} box keys (e.g. "
            f"{sorted(behind)[0]!r}); wait until they reported, or decommission them"
        )
    new_set = generate_keys(suite)
    previous = {**he.keys.previous, suite: current}
    keys = BoxKeys({**he.keys.sets, suite: new_set}, he.keys.storage_key, previous)
    for mid, m in stored.items():
        if m.record.state is MeterState.DECOMMISSIONED:
            continue
        state = replace(rollover_state(m), box_key_id=current.key_id)
        while not he.store.set_rollover(mid, m.rollover, state.to_bytes(), at=now):
            m = he.store.get_meter(mid)  # an ingest moved it meanwhile: apply on the new state
            state = replace(rollover_state(m), box_key_id=current.key_id)
    he.use_keys(keys)
    return keys
