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

import hmac
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import cbor2

from sealmeter.clock import ensure_utc
from sealmeter.errors import UsageError
from sealmeter.meter._calls import FOLLOW_UP as FOLLOW_UP
from sealmeter.meter._calls import MAX_BATCH as MAX_BATCH
from sealmeter.meter._calls import Calls
from sealmeter.meter._core import CHAIN_LABEL, load_stored
from sealmeter.meter._energy_feed import EnergyFeed
from sealmeter.meter._energy_feed import power_of as power_of
from sealmeter.meter._sensors import MAX_DETECTIONS as MAX_DETECTIONS
from sealmeter.meter._sensors import Sensors
from sealmeter.meter.charging import Rate, Schedules
from sealmeter.meter.config import MeterConfig
from sealmeter.meter.counting import open_counter
from sealmeter.meter.credit import CreditGrant, RelayState
from sealmeter.meter.errors import MeterStorageFault
from sealmeter.meter.power import VoltageWatchdog
from sealmeter.meter.provisioning import LIFE, LifeEvent, LifeState, ProvisioningExport
from sealmeter.meter.reglog import RegistrationLog
from sealmeter.meter.rollover import KeysRecord
from sealmeter.meter.state import ChainRecord, ControlState, Journal, decode, encode
from sealmeter.meter.store import MeterMemory, nvm_size, seal_secret, unseal_secret
from sealmeter.meter.watchdog import Watchdog
from sealmeter.nvm import Eeprom
from sealmeter.protocol import (
    CHAIN_KEY_SIZE,
    MeterChain,
    PrivateKeys,
    PublicKeys,
    RegisterUsage,
    Registration,
    Suite,
    generate_keys,
)
from sealmeter.tariff import RateSchedule

__all__ = ["Meter"]


class Meter(EnergyFeed, Calls, Sensors):
    """One security module on its NVM part; see the module docstring.

    Its operations come from mixins over `sealmeter.meter._core.MeterCore` (the state and the
    shared steps): `EnergyFeed` (feeding energy), `Calls` (uplinks and downlinks) and `Sensors`
    (tamper and power); construction, recovery and provisioning are here.
    """

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
        self._templates: dict[int, tuple[Rate, list[RegisterUsage], tuple[int, ...]]] = {}
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
        """Settle the records, load the state, finish an interrupted count or registration."""
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
            self._headend = load_stored("keys", lambda: PublicKeys.from_bytes(stored.headend))
            self._announcement = stored.announcement
            self._chain_rec = decode(ChainRecord, records.require("chain"))
            self._chain = MeterChain.from_bytes(
                unseal_secret(self._device_key, CHAIN_LABEL, self._chain_rec.sealed_chain)
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
            seal_secret(self._device_key, CHAIN_LABEL, chain.to_bytes(), self._entropy),
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
