"""The security module: counting, charging, registering, calling, blocking, defending.

`Meter` composes the cores on one simulated NVM part: energy goes through a write-ahead
journal into the tear-safe unit counter; usage is charged per the installed rate schedules;
a registration closes the open segment at every band, schedule and period boundary and at
every event, and is sealed into the MAC chain and the registration log; uplinks and downlinks
are sealed with the protocol's suites. It is sans-IO and deterministic: every call takes
`now`, randomness comes from the `entropy` function it was given.

A power cut (`sealmeter.nvm.PowerCut`) may strike inside any call. The object is then dead:
power the part on and `Meter.boot` a new one, which completes or discards the interrupted
operation (see `_recover`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

import cbor2

from sealmeter.clock import ensure_utc
from sealmeter.errors import UsageError
from sealmeter.meter.charging import Rate, Schedules
from sealmeter.meter.config import MeterConfig
from sealmeter.meter.counting import open_counter
from sealmeter.meter.credit import CreditGrant, RelayEvent, RelayState, relay_after
from sealmeter.meter.downlink import DownlinkResult, apply_downlink, reason_of
from sealmeter.meter.errors import (
    DownlinkRejected,
    MeterStorageFault,
    NotProvisioned,
    RegistrationLogFull,
)
from sealmeter.meter.power import PowerState, VoltageWatchdog
from sealmeter.meter.provisioning import LIFE, LifeEvent, LifeState, ProvisioningExport
from sealmeter.meter.reglog import RegistrationLog
from sealmeter.meter.rollover import KeysRecord, RolloverPlan, plan_rollover
from sealmeter.meter.state import ChainRecord, ControlState, Journal, decode, encode
from sealmeter.meter.status import build_status
from sealmeter.meter.store import MeterMemory, nvm_size, seal_secret, unseal_secret
from sealmeter.meter.tamper import (
    Detection,
    DetectionKind,
    HousingEvent,
    HousingState,
    LoopEvent,
    LoopState,
    SealLoop,
    housing_after,
    loop_after,
)
from sealmeter.meter.watchdog import CommState, Watchdog
from sealmeter.metering import Energy, MeteringError, exact_energy
from sealmeter.nvm import Eeprom
from sealmeter.protocol import (
    CHAIN_KEY_SIZE,
    DUPLICATE_WINDOW,
    NONCE_SIZE,
    Downlink,
    MeterChain,
    PrivateKeys,
    ProtocolPeerError,
    PublicKeys,
    RegisterUsage,
    Registration,
    RegistrationKind,
    Status,
    Suite,
    Uplink,
    decode_registration,
    encode_registration,
    generate_keys,
    open_downlink,
    seal_uplink,
)
from sealmeter.tariff import RateSchedule
from sealmeter.tariff.calendar import local_midnight

__all__ = ["Meter"]

MAX_DETECTIONS = 32
MAX_BATCH = DUPLICATE_WINDOW // 2
"""Registrations per uplink, oldest first. If an answer is lost, the next uplink repeats at
most this many, so they stay within the head-end's duplicate window and are acknowledged as
duplicates instead of being refused as replays; a full batch brings a follow-up call."""
FOLLOW_UP = timedelta(minutes=1)
_CHAIN_LABEL = b"meter chain state"
_KEYS_LABEL = b"meter private keys"
_UWH_PER_WH = 1_000_000
_MICRO = timedelta(microseconds=1)
_T = TypeVar("_T")


def power_of(energy_mwh: int, span_us: int) -> int:
    """Mean power in W of `energy_mwh` over `span_us` µs, rounded half to even (exactly as
    `round(Fraction(...))` in `Meter.feed_interval`)."""
    q, r = divmod(energy_mwh * 3_600_000, span_us)
    if 2 * r > span_us or (2 * r == span_us and q % 2):
        q += 1
    return q


def _stored(what: str, load: Callable[[], _T]) -> _T:
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


def _pair(blob: bytes) -> tuple[Any, Any]:
    """A stored CBOR pair `[a, b]`."""

    def load() -> tuple[Any, Any]:
        first, second = cbor2.loads(blob)
        return first, second

    return _stored("record", load)


class Meter:
    """One security module on its NVM part; see the module docstring."""

    # ------------------------------------------------------------------ construction
    def __init__(
        self,
        device: Eeprom,
        device_key: bytes,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """Boot the module from its NVM (use `manufacture` for a blank part)."""
        self.device = device
        self._device_key = device_key
        self._entropy = entropy
        self._memory = MeterMemory(device)
        self._seg_cache: tuple[datetime, Schedules, Rate, datetime | None] | None = None
        self._period_cache: tuple[datetime, Schedules, datetime] | None = None
        self._month_cache: tuple[datetime, Schedules, str] | None = None
        self._owed_cache: tuple[int, ChainRecord, Schedules, Decimal] | None = None
        self._entries: dict[bytes, tuple[Registration, int]] = {}  # decoded log entries
        self._lazy = False  # inside `feed_intervals`: journal and counter commit later
        self._dirty = False  # the journal in RAM is ahead of the one in NVM
        self._recover()

    @classmethod
    def boot(
        cls, device: Eeprom, device_key: bytes, entropy: Callable[[int], bytes] = os.urandom
    ) -> Meter:
        """Power up: settle every record, complete or discard interrupted work, load state."""
        return cls(device, device_key, entropy)

    @classmethod
    def manufacture(
        cls,
        device: Eeprom,
        device_key: bytes,
        config: MeterConfig,
        now: datetime,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> Meter:
        """Format a blank part for a new meter with `config`; it still needs `provision`."""
        now = ensure_utc(now)
        need = nvm_size(config.log_entries)
        if device.geometry.size < need:
            raise UsageError(
                f"a meter with a log of {config.log_entries} entries needs {need} bytes of "
                f"EEPROM, the part has {device.geometry.size}; use Eeprom(nvm_size(...))"
            )
        memory = MeterMemory(device)
        if memory.records.read("identity") is not None:
            raise UsageError(
                "this NVM part already holds a meter; boot it instead of manufacturing again"
            )
        memory.bind_log(config.log_entries)
        open_counter(memory.counter_region(), fresh=True)
        control = ControlState(
            relay=RelayState.SUPPLYING,
            grant=CreditGrant(now, config.credit),
            watchdog=Watchdog.start(config.meter_id, config.calls, now),
            power=VoltageWatchdog(battery_left=config.battery, battery_capacity=config.battery),
            relay_since=now,
        )
        memory.records.write("journal", encode(Journal(fed_until=now)))
        memory.records.write("control", encode(control))
        memory.records.write("identity", config.to_bytes())
        return cls(device, device_key, entropy)

    def _recover(self) -> None:
        records = self._memory.records
        found = records.settle()
        identity = found["identity"]
        if identity is None:
            raise UsageError("this NVM part holds no meter; manufacture one first")
        self.config = MeterConfig.from_bytes(identity)
        self._log: RegistrationLog = self._memory.bind_log(self.config.log_entries)
        self._counter = open_counter(self._memory.counter_region(), fresh=False)
        self._journal = decode(Journal, records.require("journal"))
        self._control = decode(ControlState, records.require("control"))
        self._schedules = Schedules.from_bytes(self._control.schedules)
        # The journal is written before the counter: finish an interrupted count.
        value = self._counter.value
        if value > self._journal.target_units:
            raise MeterStorageFault(
                f"the unit counter ({value}) is above the journal's target "
                f"({self._journal.target_units}): the memory was altered; replace the module"
            )
        if value < self._journal.target_units:
            self._counter.record(self._journal.target_units - value)
        self._keys: PrivateKeys | None = None
        keys = found["keys"]
        self.life = LifeState.MANUFACTURED if keys is None else LifeState.PROVISIONED
        self._chain_rec: ChainRecord | None = None
        self._chain: MeterChain | None = None
        self._headend: PublicKeys | None = None
        self._announcement = b""  # a key renewal not yet confirmed by the head-end
        if keys is not None:
            stored = KeysRecord.from_bytes(keys)
            self._headend = _stored("keys", lambda: PublicKeys.from_bytes(stored.headend))
            self._announcement = stored.announcement
            self._chain_rec = decode(ChainRecord, records.require("chain"))
            self._chain = MeterChain.from_bytes(
                unseal_secret(self._device_key, _CHAIN_LABEL, self._chain_rec.sealed_chain)
            )
            self._roll_forward()
        self._queued_charge = sum(
            (reg.total_charge for reg in self.queued_registrations()), Decimal(0)
        )

    def _roll_forward(self) -> None:
        """A registration appended but not yet in the chain record is completed here."""
        assert self._chain_rec is not None
        assert self._chain is not None
        seq = self._chain_rec.next_seq
        payload = self._log.read_entry(seq)
        if payload is None:
            return
        self._log.rewrite(seq, payload)
        reg, total = self._decode_entry(payload)
        if reg.seq != seq:
            raise MeterStorageFault(f"log entry {seq} holds registration {reg.seq}")
        chain = MeterChain(seq, self._chain.key, self._chain.last_code)
        sealed, after = chain.seal(replace(reg, auth_code=b""))
        if not hmac.compare_digest(sealed.auth_code, reg.auth_code):
            raise MeterStorageFault(
                f"log entry {seq} does not continue the MAC chain: the memory was altered"
            )
        self._commit_chain(after, reg, total)

    # ------------------------------------------------------------------ provisioning (Fig. 3)
    def provision(
        self, headend: PublicKeys, now: datetime, suite: Suite | None = None
    ) -> ProvisioningExport:
        """Generate the module's key pairs and K_0, store the head-end's public keys.

        Returns the export for the head-end: the module's public keys, suite and K_0 (deliver
        it over the manufacturer's protected channel). Private keys never leave in clear.
        """
        now = ensure_utc(now)
        provisioned = LIFE.fire(self.life, LifeEvent.PROVISION)
        chosen = suite if suite is not None else headend.suite
        if headend.suite is not chosen:
            raise UsageError(
                f"the head-end keys are for suite {headend.suite.value}, not {chosen.value}; "
                "export the head-end's keys in the meter's suite"
            )
        keys = generate_keys(chosen)
        k0 = self._entropy(CHAIN_KEY_SIZE)
        chain = MeterChain.start(k0)
        record = ChainRecord(
            seal_secret(self._device_key, _CHAIN_LABEL, chain.to_bytes(), self._entropy),
            chain.next_seq,
            self._counter.value,
            now,
        )
        self._memory.records.write("chain", encode(record))
        sealed_keys = keys.to_bytes(self._device_key)
        blob = bytes(cbor2.dumps([sealed_keys, headend.to_bytes()], canonical=True))
        self._memory.records.write("keys", blob)
        self._keys, self._headend, self._chain, self._chain_rec = keys, headend, chain, record
        self.life = provisioned
        return ProvisioningExport(
            meter_id=self.config.meter_id,
            suite=chosen,
            public_keys=keys.public().to_bytes(),
            chain_key=k0,
        )

    def reexport(self) -> ProvisioningExport:
        """The provisioning export again, while no registration was made yet.

        For the factory: if power failed after the keys were stored but before the export
        reached the head-end, the export can be made again (K_0 has not evolved yet).
        """
        chain, record = self._require_chain()
        if record.next_seq != 1:
            raise UsageError(
                "the MAC chain has moved on (registrations were made): K_0 is gone for good; "
                "the export can only be made again before the first registration"
            )
        keys = self._private_keys()
        return ProvisioningExport(
            meter_id=self.config.meter_id,
            suite=keys.suite,
            public_keys=keys.public().to_bytes(),
            chain_key=chain.key,
        )

    def install_schedules(self, schedules: tuple[RateSchedule, ...], now: datetime) -> None:
        """Install the initial rate schedules at the factory, before the first registration.

        In the field, schedules arrive only in authentic downlinks (`accept_downlink`).
        """
        now = ensure_utc(now)
        if self._chain_rec is not None and self._chain_rec.next_seq > 1:
            raise UsageError(
                "factory installation of schedules is only possible before the first "
                "registration; send schedules in a downlink instead"
            )
        book = self._schedules
        for schedule in schedules:
            book = book.install(schedule, now)
        self._set_control(replace(self._control, schedules=book.to_bytes()))
        self._schedules = book

    def _private_keys(self) -> PrivateKeys:
        if self._keys is None:
            blob = self._memory.records.read("keys")
            if blob is None:
                raise NotProvisioned(
                    f"meter {self.config.meter_id!r} has no keys yet; provision it first"
                )
            sealed = KeysRecord.from_bytes(blob).sealed_keys
            self._keys = _stored("keys", lambda: PrivateKeys.from_bytes(sealed, self._device_key))
        return self._keys

    def _require_chain(self) -> tuple[MeterChain, ChainRecord]:
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
        return self.config.unit_wh * _UWH_PER_WH

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
        held = self._owed_cache
        if (
            held is not None
            and held[0] == units
            and held[1] is record
            and held[2] is self._schedules
        ):
            return self._queued_charge + held[3]
        charge = self._open_segment(self._segment_rate())[1]
        self._owed_cache = (units, record, self._schedules, charge)
        return self._queued_charge + charge

    def next_call_at(self) -> datetime:
        """When the watchdog wants to talk to the head-end (its slot, or a backoff retry)."""
        return self._control.watchdog.next_call

    def status(self, now: datetime) -> Status:
        """The status message as it would be sent at `now`."""
        return build_status(self, ensure_utc(now))

    # ------------------------------------------------------------------ time and energy
    def _segment_rate(self) -> Rate:
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
        schedule = self._schedules.in_force(at)
        month = at.astimezone(schedule.zone if schedule else UTC).strftime("%Y-%m")
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
        same_month = self._month(record.last_time) == record.month
        before = dict(record.month_usage).get(rate.obis, 0) if same_month else 0
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
        schedule = self._schedules.in_force(after) if period == timedelta(days=1) else None
        if schedule is not None:
            day = after.astimezone(schedule.zone).date() + timedelta(days=1)
            end = datetime.fromtimestamp(local_midnight(schedule, day), UTC)
        else:
            epoch = datetime(2000, 1, 1, tzinfo=UTC)
            end = epoch + period * ((after - epoch) // period + 1)
        self._period_cache = (after, self._schedules, end)
        return end

    def _next_boundary(self, cursor: datetime, end: datetime) -> datetime:
        """The first instant in (cursor, end] at which something must happen."""
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
        control = self._control
        if control.relay is not RelayState.SUPPLYING:
            return
        outstanding = (
            Decimal(0) if control.grant.frame.charge_limit is None else self.outstanding_charge()
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

    def feed_interval(self, start: datetime, end: datetime, energy_wh: Energy) -> float:
        """Consumption of `energy_wh` spread evenly over [start, end); returns the Wh delivered.

        While the relay is open or mains is off nothing flows (0 is returned for that part).
        Intervals must not overlap what was already fed; gaps are fine (no consumption).
        Energy is taken exactly (`Fraction`, `Decimal`, int or float), journaled to the µWh.
        """
        start, end = ensure_utc(start), ensure_utc(end)
        if end <= start:
            raise UsageError(f"interval end {end.isoformat()} is not after its start")
        try:
            exact = exact_energy(energy_wh)
        except MeteringError as exc:
            raise UsageError(str(exc)) from None
        if exact < 0:
            raise UsageError(f"energy {energy_wh} Wh is negative; feed consumption only")
        fed = self._journal.fed_until
        if fed is not None and start < fed:
            raise UsageError(
                f"interval starting {start.isoformat()} overlaps energy already fed up to "
                f"{fed.isoformat()}; feed consecutive intervals"
            )
        span = (end - start) // _MICRO
        total_uwh = round(exact * _UWH_PER_WH)
        power_w = round(exact * 3600 / Fraction(span, 10**6))
        delivered = self._feed_span(start, end, span, total_uwh, power_w)
        return delivered / _UWH_PER_WH

    def feed_intervals(self, start: datetime, interval: timedelta, energy_mwh: list[int]) -> int:
        """Consecutive intervals of `interval` from `start`, energy per interval in whole mWh;
        returns the µWh delivered. The fleet simulator's path: a day in one call.

        The same as one `feed_interval` per interval (the same registrations, charges, relay
        moves and peak, to the µWh), except that the journal and the counter are committed
        once per stretch between registrations and at the end instead of after every interval:
        before any other record is written, and before this call returns, the energy fed so
        far is journaled and counted (write-ahead, as always). A power cut inside the call
        loses at most the uncommitted energy of this call, never a counted unit, and invents
        none (the boot completes the counter to the journal, see `_recover`). Intervals with
        no energy are skipped (time still passes at the next interval with energy).
        """
        start = ensure_utc(start)
        span = interval // _MICRO
        if span <= 0:
            raise UsageError(f"interval {interval} must be positive")
        fed = self._journal.fed_until
        if fed is not None and start < fed:
            raise UsageError(
                f"interval starting {start.isoformat()} overlaps energy already fed up to "
                f"{fed.isoformat()}; feed consecutive intervals"
            )
        for e in energy_mwh:
            if type(e) is not int or e < 0:
                raise UsageError(f"interval energy {e!r} must be a whole, non-negative mWh")
        delivered = 0
        n = len(energy_mwh)
        self._lazy = True
        try:
            k = 0
            while k < n:
                if not energy_mwh[k]:
                    k += 1
                    continue
                a = start + interval * k
                fit = self._quiet_stretch(a, interval, n - k)
                if fit > 1:
                    got = self._feed_stretch(a, interval, span, energy_mwh[k : k + fit])
                    if got is not None:
                        delivered += got
                        k += fit
                        continue
                e = energy_mwh[k]
                power_w = power_of(e, span)
                delivered += self._feed_span(a, a + interval, span, e * 1000, power_w)
                k += 1
        finally:
            self._lazy = False
        self._flush()
        return delivered

    def _quiet_stretch(self, start: datetime, interval: timedelta, most: int) -> int:
        """How many whole intervals from `start` (at most `most`) end before or at the next
        instant something is due, while energy flows at a monotone price with no load-step
        watch; 0 when such a stretch cannot be taken at once."""
        self.advance_to(start)
        control = self._control
        if (
            self.config.load_step_w is not None
            or control.relay is not RelayState.SUPPLYING
            or control.power.state is not PowerState.MAINS
            or self._chain_rec is None
            or not self._segment_rate().monotone
        ):
            return 0
        stop = self._next_boundary(start, start + interval * most)
        return min(most, (stop - start) // interval)

    def _feed_stretch(
        self, start: datetime, interval: timedelta, span: int, energy_mwh: list[int]
    ) -> int | None:
        """Feed a quiet stretch (see `_quiet_stretch`) at once; None if the charge limit of
        the credit frame would be passed inside it (then it is fed interval by interval).

        Nothing is due inside the stretch, so what `feed_interval` would do per interval
        reduces to: add the energy, keep the first peak and the last interval's power, and
        check the credit frame at its end (a charge that only grows is below the limit
        inside the stretch when it is below it at the end)."""
        record = self._chain_rec
        assert record is not None
        j = self._journal
        total_mwh = sum(energy_mwh)
        energy = j.energy_uwh + total_mwh * 1000
        target = energy // (self.config.unit_wh * _UWH_PER_WH)
        limit = self._control.grant.frame.charge_limit
        charge: Decimal | None = None
        if limit is not None:
            charge = self._open_segment(self._segment_rate(), target)[1]
            if self._queued_charge + charge > limit:
                return None
        peak_w, peak_at = j.peak_w, j.peak_at
        top_w = power_of(max(energy_mwh), span)
        if top_w > peak_w:
            # the first interval reaching that power (two energies may round to the same W)
            first = next(k for k, e in enumerate(energy_mwh) if power_of(e, span) == top_w)
            peak_w, peak_at = top_w, start + interval * first
        last = len(energy_mwh) - 1
        while not energy_mwh[last]:
            last -= 1
        end = start + interval * (last + 1)
        self._journal = Journal(
            energy, target, end, peak_w, peak_at, power_of(energy_mwh[last], span)
        )
        self._dirty = True
        if charge is not None:  # the open segment's charge at `target`, for `_check_credit`
            self._owed_cache = (target, record, self._schedules, charge)
        self._on_time(end)
        return total_mwh * 1000

    def _feed_span(
        self, start: datetime, end: datetime, span: int, total_uwh: int, power_w: int
    ) -> int:
        """`total_uwh` spread evenly over [start, end) of `span` µs; returns µWh delivered."""
        self.advance_to(start)
        step = self.config.load_step_w
        if (
            step is not None
            and abs(power_w - self._journal.last_load_w) > step
            and self._chain_rec is not None
            and start > self._chain_rec.last_time
        ):
            self._register(RegistrationKind.EVENT, start)
        # Piece by piece up to the next boundary, found afresh after each one (a registration
        # at a boundary starts a segment with boundaries of its own).
        delivered = given = 0
        cursor = start
        while cursor < end:
            nxt = self._next_boundary(cursor, end)
            upto = total_uwh if nxt == end else total_uwh * ((nxt - start) // _MICRO) // span
            share, given = upto - given, upto
            flowing = (
                self._control.relay is RelayState.SUPPLYING
                and self._control.power.state is PowerState.MAINS
            )
            if flowing and share > 0:
                self._account(share, cursor, nxt, power_w)
                delivered += share
            self._on_time(nxt)
            cursor = nxt
        if self._journal.fed_until != end:
            self._journal = replace(self._journal, fed_until=end)
        return delivered

    def checkpoint(self) -> None:
        """Persist the meter's time (the end of what was fed) if only RAM knows it yet.

        Intervals with no flow (blocked, no mains, no load) are not journaled, to spare the
        memory; call this at the end of a feed so the next boot resumes from its end.
        """
        self._flush()
        stored = self._memory.records.read("journal")
        if stored is None or decode(Journal, stored) != self._journal:
            self._memory.records.write("journal", encode(self._journal))

    def _account(self, energy_uwh: int, start: datetime, end: datetime, power_w: int) -> None:
        """Journal the energy, then count its whole units (write-ahead; see `_recover`)."""
        j = self._journal
        energy = j.energy_uwh + energy_uwh
        # whole units of the total, exactly (the remainder stays in the journal's energy)
        target = energy // (self.config.unit_wh * _UWH_PER_WH)
        peak_w, peak_at = j.peak_w, j.peak_at
        if power_w > peak_w:
            peak_w, peak_at = power_w, start
        self._journal = Journal(energy, target, end, peak_w, peak_at, power_w)
        self._dirty = True
        if not self._lazy:
            self._flush()

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
        reg_bytes, total = _pair(payload)
        reg = _stored("registration log", lambda: decode_registration(bytes(reg_bytes)))
        if len(self._entries) >= 256:
            self._entries.clear()
        self._entries[payload] = (reg, int(total))
        return reg, int(total)

    def _register(self, kind: RegistrationKind, at: datetime) -> Registration | None:
        """Close the open segment at `at` into a sealed registration in the log."""
        chain, record = self._require_chain()
        self._flush()
        rate = self._segment_rate()
        usage, charge = self._open_segment(rate)
        total = self._counter.value
        registers = tuple(
            RegisterUsage(obis, usage, charge)
            if obis == rate.obis
            else RegisterUsage(obis, 0, Decimal(0))
            for obis in rate.registers()
        )
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
        self._commit_chain(after, sealed, total)
        self._queued_charge += sealed.total_charge
        return sealed

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
            seal_secret(self._device_key, _CHAIN_LABEL, after.to_bytes(), self._entropy),
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

    # ------------------------------------------------------------------ communication
    def make_uplink(self, now: datetime) -> bytes:
        """Seal an uplink: every queued registration (the open segment closed now if it has
        usage), a status with the unreported detections, and a fresh nonce to echo."""
        now = ensure_utc(now)
        self._require_chain()
        last = self._control.last_uplink
        if last is not None and now <= last:
            raise UsageError(
                f"an uplink was already made at {last.isoformat()}; uplinks need strictly "
                "increasing times (the head-end treats an older one as a replay)"
            )
        self.advance_to(now)
        assert self._chain_rec is not None
        # The call closes the open segment, so the head-end sees usage up to now (a segment
        # with no usage is left open: retries while blocked do not fill the log).
        if (
            now > self._chain_rec.last_time
            and self._journal.target_units > self._chain_rec.last_total
        ):
            self._register(RegistrationKind.REAL_TIME, now)
        nonce = self._entropy(NONCE_SIZE)
        status = self.status(now)
        queued = self.queued_registrations()
        batch = tuple(queued[:MAX_BATCH])
        uplink = Uplink(self.config.meter_id, now, nonce, batch, status, self._announcement)
        dog = self._control.watchdog
        if dog.state is not CommState.CALLING:
            dog = dog.call_started()
        self._set_control(
            replace(
                self._control,
                pending_nonce=nonce,
                last_uplink=now,
                in_flight=self._control.unreported,
                more_queued=len(queued) > len(batch),
                watchdog=dog,
            )
        )
        assert self._headend is not None
        return seal_uplink(
            uplink, meter=self._private_keys(), headend=self._headend, seed=self._entropy(32)
        )

    def call_failed(self, now: datetime) -> datetime:
        """No (authentic) answer to the last call: back off; returns when to try again."""
        now = ensure_utc(now)
        dog = self._control.watchdog.call_failed(self.config.meter_id, self.config.calls, now)
        self._set_control(replace(self._control, watchdog=dog))
        self._check_credit(now)
        return dog.next_call

    def accept_downlink(self, data: bytes, now: datetime) -> DownlinkResult:
        """Verify and apply a downlink; anything not authentic and fresh raises
        `DownlinkRejected` and changes nothing."""
        now = ensure_utc(now)
        _, record = self._require_chain()
        pending = self._control.pending_nonce
        if pending is None:
            raise DownlinkRejected("unsolicited", "no uplink is waiting for an answer")
        if self._headend is None:
            raise NotProvisioned("the head-end's keys are missing; provision the meter")
        try:
            down = open_downlink(
                data,
                meter=self._private_keys(),
                headend=self._headend,
                meter_id=self.config.meter_id,
                expected_nonce=pending,
                now=now,
            )
        except ProtocolPeerError as exc:
            raise DownlinkRejected(reason_of(exc), str(exc)) from None
        return self._apply(down, now, record)

    def _apply(self, down: Downlink, now: datetime, record: ChainRecord) -> DownlinkResult:
        control, schedules, result = apply_downlink(
            down, self._control, self._schedules, record.next_seq, self.config, now
        )
        slot = self._memory.records.slots["control"]
        checked, encoded = control, encode(control)
        if len(encoded) > slot.capacity:
            raise DownlinkRejected(
                "schedule-too-large",
                f"the schedules would need more than the {slot.capacity} bytes the module "
                "keeps for them; send a smaller schedule or fewer at once",
            )
        assert self._headend is not None
        keys = plan_rollover(
            result.rollovers,
            meter_id=self.config.meter_id,
            keys=self._private_keys(),
            headend=self._headend,
            next_seq=record.next_seq,
            entropy=self._entropy,
        )
        # Everything checked: close the segment if the rate changes now, then commit at once.
        if (
            result.schedules
            and self._chain_rec is not None
            and now > self._chain_rec.last_time
            and schedules.rate_at(now).key != self._schedules.rate_at(now).key
        ):
            self._register(RegistrationKind.EVENT, now)
        if self._control.more_queued:  # the uplink left registrations behind: call again soon
            control = replace(
                control, watchdog=replace(control.watchdog, next_call=now + FOLLOW_UP)
            )
        self._set_control(control, encoded if control is checked else None)
        self._commit_keys(keys)
        self._schedules = schedules
        self._queued_charge = sum(
            (reg.total_charge for reg in self.queued_registrations()), Decimal(0)
        )
        self._check_credit(now)
        return replace(result, relay=self._control.relay)

    def _commit_keys(self, plan: RolloverPlan | None) -> None:
        """Store the keys after an authentic downlink: its rollover orders applied, and any
        pending announcement retired (the downlink opened with the new keys). One write."""
        if plan is None and not self._announcement:
            return
        keys = plan.keys if plan is not None else self._private_keys()
        headend = plan.headend if plan is not None else self._headend
        assert headend is not None
        announcement = plan.announcement if plan is not None and plan.renewed else b""
        blob = self._memory.records.require("keys")
        sealed = KeysRecord.from_bytes(blob).sealed_keys
        if plan is not None and plan.renewed:
            sealed = keys.to_bytes(self._device_key)
        record = KeysRecord(sealed, headend.to_bytes(), announcement)
        self._memory.records.write("keys", record.to_bytes())
        self._keys, self._headend, self._announcement = keys, headend, announcement

    # ------------------------------------------------------------------ sensors
    def _detect(self, found: list[Detection], control: ControlState) -> ControlState:
        if not found:
            return control
        detections = (*control.detections, *found)[-MAX_DETECTIONS:]
        unreported = min(control.unreported + len(found), len(detections))
        return replace(control, detections=detections, unreported=unreported)

    def housing_opened(self, now: datetime) -> Detection | None:
        """S1 reports the housing opened (latched unless under an authorised inspection)."""
        now = ensure_utc(now)
        c = self._control
        housing = housing_after(c.housing, HousingEvent.S1_OPENED)
        found = (
            [Detection(DetectionKind.HOUSING_OPENED, now)]
            if c.housing is HousingState.SEALED and housing is HousingState.TAMPERED
            else []
        )
        self._set_control(
            self._detect(found, replace(c, housing=housing, power=c.power.housing_opened()))
        )
        return found[0] if found else None

    def inspection_key(self, now: datetime) -> None:
        """The inspector's key turned S2: an authorised opening begins (reported, not latched)."""
        now = ensure_utc(now)
        c = self._control
        housing = housing_after(c.housing, HousingEvent.S2_KEY)
        found = [] if housing is c.housing else [Detection(DetectionKind.AUTHORISED_OPENING, now)]
        self._set_control(self._detect(found, replace(c, housing=housing)))

    def check_seal_loop(self, now: datetime, loop: SealLoop) -> Detection | None:
        """Send a time-allocated pulse pattern round the seal loop and check what comes back."""
        now = ensure_utc(now)
        pattern = hmac.new(
            self._device_key, b"seal-loop" + now.isoformat().encode(), hashlib.sha256
        ).digest()[:8]
        echoed = loop.echo(pattern)
        ok = echoed is not None and hmac.compare_digest(echoed, pattern)
        c = self._control
        state = loop_after(c.loop, LoopEvent.PULSE_OK if ok else LoopEvent.PULSE_LOST)
        if state is c.loop:
            return None
        found = (
            Detection(DetectionKind.SEAL_LOOP_BROKEN, now) if state is LoopState.BROKEN else None
        )
        self._set_control(self._detect([found] if found else [], replace(c, loop=state)))
        return found

    def observe_currents(self, now: datetime, supply_a: float, load_a: float) -> Detection | None:
        """One reading of the supply-side and load-side currents for the bypass detector."""
        now = ensure_utc(now)
        c = self._control
        bypass, found = c.bypass.observe(self.config.bypass, now, supply_a, load_a)
        if bypass != c.bypass:
            self._set_control(self._detect([found] if found else [], replace(c, bypass=bypass)))
        return found

    def _event_registration(self, now: datetime) -> None:
        """Close the open segment at `now` as an event (time passed up to it first)."""
        if self._chain_rec is None:
            return
        self.advance_to(now)
        if now > self._chain_rec.last_time:
            self._register(RegistrationKind.EVENT, now)

    def mains_lost(self, now: datetime) -> None:
        """The voltage watchdog saw mains drop: run on battery, store the instant.

        An event registration closes the segment at the loss; another one at the return
        closes the gap, so both instants are in the authenticated chain as well as in the
        status message's detection (which carries the start and the kind).
        """
        now = ensure_utc(now)
        self._event_registration(now)
        c = self._control
        self._set_control(replace(c, power=c.power.mains_lost(now)))

    def mains_returned(self, now: datetime) -> list[Detection]:
        """Mains is back: report the gap (outage, or removal if S1 moved meanwhile)."""
        now = ensure_utc(now)
        c = self._control
        power, found = c.power.mains_returned(now)
        if found:
            self._event_registration(now)
        self._set_control(self._detect(found, replace(self._control, power=power)))
        if self._journal.fed_until is not None and self._journal.fed_until < now:
            self._journal = replace(self._journal, fed_until=now)
        return found
