"""The meter's state and the primitives every operation of the module is built from.

`MeterCore` holds what `Meter` keeps in RAM over its NVM part (the configuration, the journal,
the counter, the control and chain records, the keys) and the steps all its operations share:
reading the open segment and its price, letting time pass up to an instant (registrations at
every boundary, the credit frame's check), sealing a registration into the MAC chain and the
log, and committing the journal and the control record. The operations themselves are mixins
over it (`_energy_feed`, `_calls`, `_sensors`), composed with construction and provisioning
into `sealmeter.meter.module.Meter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import cbor2

from sealmeter.clock import ensure_utc
from sealmeter.counter import UnitCounter
from sealmeter.meter.charging import Rate, Schedules
from sealmeter.meter.config import MeterConfig
from sealmeter.meter.credit import RelayEvent, RelayState, relay_after
from sealmeter.meter.errors import MeterStorageFault, NotProvisioned, RegistrationLogFull
from sealmeter.meter.provisioning import LifeState
from sealmeter.meter.reglog import RegistrationLog
from sealmeter.meter.rollover import KeysRecord
from sealmeter.meter.state import ChainRecord, ControlState, Journal, encode
from sealmeter.meter.status import build_status
from sealmeter.meter.store import MeterMemory, seal_secret
from sealmeter.nvm import Eeprom
from sealmeter.protocol import (
    MeterChain,
    PrivateKeys,
    PublicKeys,
    RegisterUsage,
    Registration,
    RegistrationKind,
    Status,
    decode_registration,
    encode_registration,
)

__all__ = [
    "CHAIN_LABEL",
    "KEYS_LABEL",
    "MICRO",
    "UWH_PER_WH",
    "MeterCore",
    "load_stored",
    "stored_pair",
]

CHAIN_LABEL = b"meter chain state"
KEYS_LABEL = b"meter private keys"
UWH_PER_WH = 1_000_000
MICRO = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)
_IDLE: dict[str, RegisterUsage] = {}  # a register with no usage, per OBIS code (immutable)
_T = TypeVar("_T")


def load_stored(what: str, load: Callable[[], _T]) -> _T:
    """Run `load`; anything but a value means the stored `what` is not ours: a storage fault."""
    try:
        return load()
    except Exception as exc:
        if isinstance(exc, MeterStorageFault):
            raise
        raise MeterStorageFault(
            f"the stored {what} passed its redundancy code but does not decode "
            f"({type(exc).__name__}); the memory is corrupt or the device key is wrong: "
            "replace the module"
        ) from None


def stored_pair(blob: bytes) -> tuple[Any, Any]:
    """A stored CBOR pair `[a, b]`."""

    def load() -> tuple[Any, Any]:
        first, second = cbor2.loads(blob)
        return first, second

    return load_stored("record", load)


def _idle(obis: str) -> RegisterUsage:
    """`RegisterUsage(obis, 0, Decimal(0))`, made once per OBIS code."""
    held = _IDLE.get(obis)
    if held is None:
        if len(_IDLE) >= 1024:
            _IDLE.clear()
        held = _IDLE[obis] = RegisterUsage(obis, 0, _ZERO)
    return held


class MeterCore:
    """The state of one security module and the steps its operations share.

    Not used alone: `sealmeter.meter.module.Meter` boots it (sets every attribute below) and
    adds the operations. Only this class's methods write the chain and control records.
    """

    device: Eeprom
    config: MeterConfig
    life: LifeState
    _device_key: bytes
    _entropy: Callable[[int], bytes]
    _memory: MeterMemory
    _seg_cache: tuple[datetime, Schedules, Rate, datetime | None] | None
    _period_cache: tuple[datetime, Schedules, datetime] | None
    _month_cache: tuple[datetime, Schedules, str] | None
    _owed_cache: tuple[int, ChainRecord, Schedules, Decimal] | None
    _entries: dict[bytes, tuple[Registration, int]]  # decoded log entries
    # per rate (by id, the rate kept to check it): its registers idle, and where its own is
    _templates: dict[int, tuple[Rate, list[RegisterUsage], tuple[int, ...]]]
    _lazy: bool  # inside `feed_intervals`: journal and counter commit later
    _dirty: bool  # the journal in RAM is ahead of the one in NVM
    _log: RegistrationLog
    _counter: UnitCounter
    _journal: Journal
    _control: ControlState
    _schedules: Schedules
    _keys: PrivateKeys | None
    _chain_rec: ChainRecord | None
    _chain: MeterChain | None
    _headend: PublicKeys | None
    _announcement: bytes  # a key renewal not yet confirmed by the head-end
    _queued_charge: Decimal

    # ------------------------------------------------------------------ keys and chain
    def _private_keys(self) -> PrivateKeys:
        """The module's private keys, unsealed from NVM on first use; `NotProvisioned` if none."""
        if self._keys is None:
            blob = self._memory.records.read("keys")
            if blob is None:
                raise NotProvisioned(
                    f"meter {self.config.meter_id!r} has no keys yet; provision it first"
                )
            sealed = KeysRecord.from_bytes(blob).sealed_keys
            self._keys = load_stored(
                "keys", lambda: PrivateKeys.from_bytes(sealed, self._device_key)
            )
        return self._keys

    def _require_chain(self) -> tuple[MeterChain, ChainRecord]:
        """The MAC chain and its record; `NotProvisioned` before provisioning."""
        if self._chain is None or self._chain_rec is None:
            raise NotProvisioned(
                f"meter {self.config.meter_id!r} is not provisioned; run provision first"
            )
        return self._chain, self._chain_rec

    # ------------------------------------------------------------------ views
    @property
    def meter_id(self) -> str:
        """This meter's id."""
        return self.config.meter_id

    @property
    def relay(self) -> RelayState:
        """Whether the output is supplied or blocked."""
        return self._control.relay

    @property
    def control(self) -> ControlState:
        """The control state (relay, credit, watchdog, tamper machines, detections)."""
        return self._control

    @property
    def journal(self) -> Journal:
        """Energy measured so far and the peak load."""
        return self._journal

    @property
    def counted_units(self) -> int:
        """Units in the tear-safe counter."""
        return self._counter.value

    @property
    def open_units(self) -> int:
        """Units counted since the last registration (the open segment, not yet registered)."""
        if self._chain_rec is None:
            return 0
        return self._counter.value - self._chain_rec.last_total

    @property
    def remainder_uwh(self) -> int:
        """Energy measured but not yet a whole unit, in µWh."""
        return self._journal.energy_uwh - self._journal.target_units * self._unit_uwh

    @property
    def _unit_uwh(self) -> int:
        """One counter unit in µWh."""
        return self.config.unit_wh * UWH_PER_WH

    @property
    def schedules(self) -> Schedules:
        """The installed rate schedules."""
        return self._schedules

    @property
    def next_seq(self) -> int:
        """The sequence number the next registration will get."""
        return self._require_chain()[1].next_seq

    @property
    def acked_seq(self) -> int:
        """The highest registration the head-end acknowledged."""
        return self._control.acked_seq

    def register_totals(self) -> dict[str, tuple[int, Decimal]]:
        """Cumulative usage (Wh) and charge per register, the open segment included."""
        totals: dict[str, tuple[int, Decimal]] = {}
        if self._chain_rec is not None:
            for obis, usage, charge in self._chain_rec.totals:
                totals[obis] = (usage, charge)
            rate = self._segment_rate()
            usage, charge = self._open_segment(rate)
            old = totals.get(rate.obis, (0, Decimal(0)))
            totals[rate.obis] = (old[0] + usage, old[1] + charge)
        return totals

    def queued_registrations(self) -> list[Registration]:
        """Registrations made and not yet acknowledged, in order."""
        if self._chain_rec is None:
            return []
        entries = self._log.queued(self._control.acked_seq, self._chain_rec.next_seq)
        if len(entries) != self._chain_rec.next_seq - 1 - self._control.acked_seq:
            raise MeterStorageFault(
                "a queued registration is missing from the log; the memory is damaged beyond "
                "its redundancy: replace the module (the head-end holds what it acknowledged)"
            )
        return [self._decode_entry(payload)[0] for _, payload in entries]

    def outstanding_charge(self) -> Decimal:
        """Charge not yet confirmed by an enable code (queued registrations + open segment)."""
        record = self._chain_rec
        if record is None:
            return Decimal(0)
        units = self._journal.target_units
        priced = self._priced_ahead(units, record)
        if priced is not None:
            return self._queued_charge + priced
        if units == record.last_total:  # an empty open segment owes nothing at any rate
            charge = _ZERO
        else:
            charge = self._open_segment(self._segment_rate())[1]
        self._owed_cache = (units, record, self._schedules, charge)
        return self._queued_charge + charge

    def _priced_ahead(self, units: int, record: ChainRecord) -> Decimal | None:
        """The open segment's charge as the credit check last priced it, if still valid.

        Valid while the counter, the chain record and the schedules are the very ones it was
        priced with; None otherwise (price it afresh).
        """
        held = self._owed_cache
        if (
            held is not None
            and held[0] == units
            and held[1] is record
            and held[2] is self._schedules
        ):
            return held[3]
        return None

    def next_call_at(self) -> datetime:
        """When the watchdog wants to talk to the head-end (its slot, or a backoff retry)."""
        return self._control.watchdog.next_call

    def status(self, now: datetime) -> Status:
        """The status message as it would be sent at `now`."""
        return build_status(self, ensure_utc(now))

    # ------------------------------------------------------------------ time and energy
    def _segment_rate(self) -> Rate:
        """The rate of the open segment (cached, see `_segment`)."""
        return self._segment()[0]

    def _segment(self) -> tuple[Rate, datetime | None]:
        """The rate of the open segment and the instant it stops applying (cached)."""
        assert self._chain_rec is not None
        start = self._chain_rec.last_time
        cached = self._seg_cache
        if cached is None or cached[0] != start or cached[1] is not self._schedules:
            rate, until = self._schedules.rate_span(start)
            cached = self._seg_cache = (start, self._schedules, rate, until)
        return cached[2], cached[3]

    def _month(self, at: datetime) -> str:
        """The billing month of instant `at` (local to the schedule in force), for tiers."""
        cached = self._month_cache
        if cached is not None and cached[0] == at and cached[1] is self._schedules:
            return cached[2]
        month = self._schedules.local_day(at)[0]
        self._month_cache = (at, self._schedules, month)
        return month

    def _open_segment(self, rate: Rate, units: int | None = None) -> tuple[int, Decimal]:
        """Usage (Wh) and charge of the open segment, with the counter at `units` (default:
        the journal's target, what the counter holds or will once a batch commits)."""
        record = self._chain_rec
        assert record is not None
        if units is None:
            units = self._journal.target_units
        usage = (units - record.last_total) * self.config.unit_wh
        if usage == 0:
            return 0, _ZERO  # what `rate.charge` gives for no usage, whatever the tier
        before = 0
        if self._month(record.last_time) == record.month:
            for obis, used in record.month_usage:
                if obis == rate.obis:
                    before = used  # the last one wins, as in a dict of the pairs
        return usage, rate.charge(usage, before)

    def _period_end(self, after: datetime) -> datetime:
        """The end of the registration period that contains `after`.

        A daily period ends at local midnight of the schedule in force (the customer's day,
        23 or 25 hours long across DST changes); other periods are multiples of the period
        from 2000-01-01 UTC.
        """
        cached = self._period_cache
        if cached is not None and cached[0] == after and cached[1] is self._schedules:
            return cached[2]
        period = self.config.period
        end = self._schedules.local_day(after)[1] if period == _DAY else None
        if end is None:
            end = _EPOCH + period * ((after - _EPOCH) // period + 1)
        self._period_cache = (after, self._schedules, end)
        return end

    def _next_boundary(self, cursor: datetime, end: datetime) -> datetime:
        """The first instant in (cursor, end] at which something must happen."""
        if end <= cursor:  # not asked by the module; the general rule
            return self._first_after(cursor, end)
        # the earliest of `end` and the boundaries in (cursor, end), without a list
        first = end
        if self._chain_rec is not None:
            period = self._period_end(self._chain_rec.last_time)
            if cursor < period < first:
                first = period
            until = self._segment()[1]
            if until is not None and cursor < until < first:
                first = until
        control = self._control
        expires = control.grant.expires_at
        if (
            expires is not None
            and control.relay is RelayState.SUPPLYING
            and cursor < expires < first
        ):
            first = expires
        return first

    def _first_after(self, cursor: datetime, end: datetime) -> datetime:
        """`_next_boundary` for any `end`: the first candidate after `cursor`, else `end`."""
        candidates = [end]
        if self._chain_rec is not None:
            candidates.append(self._period_end(self._chain_rec.last_time))
            until = self._segment()[1]
            if until is not None:
                candidates.append(until)
        expires = self._control.grant.expires_at
        if expires is not None and self._control.relay is RelayState.SUPPLYING:
            candidates.append(expires)
        later = [c for c in candidates if c > cursor]
        return min(later) if later else end

    def _on_time(self, at: datetime) -> None:
        """Handle what is due at instant `at`: boundaries, period end, credit frame."""
        if self._chain_rec is not None and at > self._chain_rec.last_time:
            period_end = self._period_end(self._chain_rec.last_time)
            until = self._segment()[1]
            if at >= period_end or (until is not None and at >= until):
                self._register(RegistrationKind.REAL_TIME, at)
        self._check_credit(at)

    def _check_credit(self, at: datetime) -> None:
        """Block the output at `at` if the credit frame is exceeded (registering first)."""
        control = self._control
        if control.relay is not RelayState.SUPPLYING:
            return
        outstanding = (
            _ZERO if control.grant.frame.charge_limit is None else self.outstanding_charge()
        )
        if control.grant.exceeded(at, outstanding):
            if self._chain_rec is not None and at > self._chain_rec.last_time:
                self._register(RegistrationKind.EVENT, at)
            self._set_control(
                replace(
                    self._control,
                    relay=relay_after(control.relay, RelayEvent.CREDIT_EXCEEDED),
                    relay_since=at,
                )
            )

    def advance_to(self, now: datetime) -> None:
        """Let time pass up to `now` with no consumption, handling every boundary on the way."""
        now = ensure_utc(now)
        cursor = self._journal.fed_until or now
        if self._chain_rec is not None:
            cursor = max(cursor, self._chain_rec.last_time)
        while cursor < now:
            step = self._next_boundary(cursor, now)
            self._on_time(step)
            cursor = step
        self._check_credit(now)

    def _flush(self) -> None:
        """Commit energy journaled in RAM only: the journal record, then the counter."""
        if not self._dirty:
            return
        self._memory.records.write("journal", encode(self._journal))
        self._dirty = False
        more = self._journal.target_units - self._counter.value
        if more > 0:
            self._counter.record(more)

    # ------------------------------------------------------------------ registrations
    def _decode_entry(self, payload: bytes) -> tuple[Registration, int]:
        """A log entry's registration and counter total (decoded once per exact bytes)."""
        held = self._entries.get(payload)
        if held is not None:
            return held
        reg_bytes, total = stored_pair(payload)
        reg = load_stored("registration log", lambda: decode_registration(bytes(reg_bytes)))
        self._remember_entry(payload, reg, int(total))
        return reg, int(total)

    def _remember_entry(self, payload: bytes, reg: Registration, total: int) -> None:
        """Keep the decoded form of log entry `payload` (bounded)."""
        if len(self._entries) >= 256:
            self._entries.clear()
        self._entries[payload] = (reg, total)

    def _register(self, kind: RegistrationKind, at: datetime) -> Registration | None:
        """Close the open segment at `at` into a sealed registration in the log."""
        chain, record = self._require_chain()
        self._flush()
        rate = self._segment_rate()
        units = self._journal.target_units
        priced = self._priced_ahead(units, record)
        if priced is not None:
            # the credit check already priced this very segment: `_open_segment` would
            # compute the same charge again
            usage, charge = (units - record.last_total) * self.config.unit_wh, priced
        else:
            usage, charge = self._open_segment(rate, units)
        total = self._counter.value
        registers = self._registers(rate, RegisterUsage(rate.obis, usage, charge))
        draft = Registration(
            seq=record.next_seq,
            kind=kind,
            meter_id=self.config.meter_id,
            registers=registers,
            schedule_id=rate.schedule_id,
            schedule_version=rate.version,
            time=at,
            currency=rate.schedule.currency if rate.schedule is not None else "EUR",
        )
        sealed, after = chain.seal(draft)
        payload = bytes(cbor2.dumps([encode_registration(sealed), total], canonical=True))
        try:
            self._log.append(sealed.seq, payload, self._control.acked_seq)
        except RegistrationLogFull:
            return None
        # what `_decode_entry` would decode from these bytes (the log is still read and its
        # code checked before an entry is used; only the decoding of our own bytes is saved)
        self._remember_entry(payload, sealed, total)
        self._commit_chain(after, sealed, total)
        self._queued_charge += sealed.total_charge
        return sealed

    def _registers(self, rate: Rate, used: RegisterUsage) -> tuple[RegisterUsage, ...]:
        """Every register of `rate`'s schedule: `used` for the segment's own, idle ones else."""
        held = self._templates.get(id(rate))
        if held is None or held[0] is not rate:
            obis = rate.registers()
            at = tuple(k for k, o in enumerate(obis) if o == rate.obis)
            held = (rate, [_idle(o) for o in obis], at)
            if len(self._templates) >= 64:
                self._templates.clear()
            self._templates[id(rate)] = held
        registers = held[1].copy()
        for k in held[2]:
            registers[k] = used
        return tuple(registers)

    def _commit_chain(self, after: MeterChain, reg: Registration, total: int) -> None:
        """Write the chain record that follows registration `reg` (counter total `total`)."""
        _, record = self._require_chain()
        totals = {obis: (usage, charge) for obis, usage, charge in record.totals}
        # The segment belongs to the month it started in (a daily registration at midnight
        # of the 1st closes the last day of the previous month).
        month = self._month(record.last_time)
        month_usage = dict(record.month_usage) if month == record.month else {}
        for item in reg.registers:
            usage, charge = totals.get(item.obis, (0, Decimal(0)))
            totals[item.obis] = (usage + item.usage, charge + item.charge)
            month_usage[item.obis] = month_usage.get(item.obis, 0) + item.usage
        new = ChainRecord(
            seal_secret(self._device_key, CHAIN_LABEL, after.to_bytes(), self._entropy),
            after.next_seq,
            total,
            reg.time,
            tuple(sorted((o, u, c) for o, (u, c) in totals.items())),
            month,
            tuple(sorted(month_usage.items())),
        )
        self._memory.records.write("chain", encode(new))
        self._chain, self._chain_rec = after, new

    def _set_control(self, control: ControlState, encoded: bytes | None = None) -> None:
        """Write the control record (`encoded`: its bytes, if already made)."""
        self._flush()  # energy fed before this moment is committed before it
        self._memory.records.write("control", encode(control) if encoded is None else encoded)
        self._control = control
