"""A test kit: a minimal meter side that makes real uplinks with the protocol core.

`MeterSide` holds a meter's keys and MAC chain and produces sealed uplinks and opens the
head-end's answers, so head-end tests, benchmarks and the doors' tests need no full meter.
Everything random is seeded (`random.Random`), so runs are reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sealmeter.protocol import (
    NONCE_SIZE,
    AnswerKey,
    BatteryState,
    ClockState,
    Downlink,
    MeterChain,
    PrivateKeys,
    PublicKeys,
    RegisterUsage,
    Registration,
    RegistrationKind,
    Status,
    Suite,
    TamperEvent,
    TamperKind,
    generate_keys,
    open_downlink,
    seal_call,
)
from sealmeter.protocol import Uplink as UplinkMessage
from sealmeter.store import Provisioning

__all__ = ["MeterSide"]


@dataclass
class MeterSide:
    """A meter reduced to what talks to the head-end: keys, chain, queue, last nonce."""

    meter_id: str
    box_public: PublicKeys
    rng: random.Random
    suite: Suite = Suite.EC_MODERN
    keys: PrivateKeys = field(init=False)
    chain_key: bytes = field(init=False)
    chain: MeterChain = field(init=False)
    queue: list[Registration] = field(default_factory=list)
    last_nonce: bytes = b""
    answer_key: AnswerKey | None = None  # the last call's, as a meter keeps it in RAM

    def __post_init__(self) -> None:
        """Make the meter's keys and initial chain key (as at manufacture)."""
        self.keys = generate_keys(self.suite)
        if self.suite is Suite.SYMMETRIC:  # one shared secret: the head-end side is the same
            self.box_public = self.keys.public()
        self.chain_key = self.rng.randbytes(32)
        self.chain = MeterChain.start(self.chain_key)

    def provisioning(
        self,
        customer_ref: str,
        *,
        feeder: str = "",
        schedule_id: str | None = None,
        credit_frame: timedelta = timedelta(days=7),
        report_interval: timedelta = timedelta(days=1),
    ) -> Provisioning:
        """What the head-end needs to provision this meter."""
        return Provisioning(
            meter_id=self.meter_id,
            customer_ref=customer_ref,
            suite=self.suite.value,
            public_keys=(
                self.keys.secret or b""
                if self.suite is Suite.SYMMETRIC
                else self.keys.public().to_bytes()
            ),
            chain_key=self.chain_key,
            feeder=feeder,
            schedule_id=schedule_id,
            credit_frame=credit_frame,
            report_interval=report_interval,
        )

    def register(
        self,
        time: datetime,
        usage: dict[str, tuple[int, Decimal]],
        *,
        schedule_id: str = "",
        schedule_version: int = 0,
        kind: RegistrationKind = RegistrationKind.REAL_TIME,
    ) -> Registration:
        """Seal a registration (obis -> (usage, charge)) into the chain and queue it."""
        draft = Registration(
            seq=0,
            kind=kind,
            meter_id=self.meter_id,
            registers=tuple(RegisterUsage(o, u, c) for o, (u, c) in sorted(usage.items())),
            schedule_id=schedule_id,
            schedule_version=schedule_version,
            time=time,
        )
        reg, self.chain = self.chain.seal(draft)
        self.queue.append(reg)
        return reg

    def status(
        self,
        time: datetime,
        tamper: tuple[tuple[TamperKind, datetime], ...] = (),
        *,
        schedule_id: str = "",
        schedule_version: int = 0,
    ) -> Status:
        """A status message with the given tamper detections."""
        return Status(
            meter_id=self.meter_id,
            time=time,
            tamper_events=tuple(TamperEvent(k, t) for k, t in tamper),
            schedule_id=schedule_id,
            schedule_version=schedule_version,
            schedule_valid_from=time,
            schedule_valid_to=None,
            peak_load_w=0,
            peak_load_time=None,
            next_contact=time + timedelta(days=1),
            battery=BatteryState.OK,
            battery_mv=3600,
            clock=ClockState.SYNCED,
            firmware="test-1",
        )

    def uplink(self, now: datetime, status: Status | None = None) -> bytes:
        """Seal every queued registration (and the status) into a call; keep its answer key."""
        self.last_nonce = self.rng.randbytes(NONCE_SIZE)
        message = UplinkMessage(
            meter_id=self.meter_id,
            time=now,
            nonce=self.last_nonce,
            registrations=tuple(self.queue),
            status=status,
        )
        sealed = seal_call(
            message, meter=self.keys, headend=self.box_public, seed=self.rng.randbytes(32)
        )
        self.answer_key = sealed.answer_key
        return sealed.data

    def accept(self, answer: bytes, now: datetime) -> Downlink:
        """Open the head-end's answer to the last uplink; drop what its enable code acks."""
        down = open_downlink(
            answer,
            meter=self.keys,
            headend=self.box_public,
            meter_id=self.meter_id,
            expected_nonce=self.last_nonce,
            now=now,
            answer_key=self.answer_key,
        )
        if down.enable_code is not None:
            acked = down.enable_code.acked_seq
            self.queue = [r for r in self.queue if r.seq > acked]
        return down
