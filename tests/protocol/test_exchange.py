"""Meter and head-end cores back to back over a seeded faulty link (drop, duplicate, corrupt,
delay/replay): every registration reaches the head-end's store exactly once or stays queued.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    CreditFrame,
    Downlink,
    EnableCode,
    HeadEndChain,
    MeterChain,
    ProtocolPeerError,
    Registration,
    Suite,
    Uplink,
    open_downlink,
    open_uplink,
    seal_downlink,
    seal_uplink,
)
from tests.protocol import conftest as c
from tests.protocol.conftest import Parties


@dataclass
class Link:
    """A seeded faulty carrier: deliver, drop, duplicate, corrupt or hold back (replay later)."""

    rng: random.Random
    loss: float
    held: list[bytes] = field(default_factory=list)

    def carry(self, data: bytes) -> list[bytes]:
        """What arrives at the far end when `data` is sent now."""
        roll = self.rng.random()
        out: list[bytes] = []
        if roll < self.loss:
            pass
        elif roll < self.loss * 1.5:
            out += [data, data]
        elif roll < self.loss * 2:
            bad = bytearray(data)
            bad[self.rng.randrange(len(bad))] ^= 1 << self.rng.randrange(8)
            out.append(bytes(bad))
        elif roll < self.loss * 2.5:
            self.held.append(data)
        else:
            out.append(data)
        if self.held and self.rng.random() < 0.2:
            out.append(self.held.pop(self.rng.randrange(len(self.held))))
        return out


@dataclass
class MeterSide:
    """The meter's protocol state: chain, queue of unacknowledged registrations, nonce."""

    p: Parties
    rng: random.Random
    chain: MeterChain = field(default_factory=lambda: MeterChain.start(c.CHAIN_KEY))
    queue: list[Registration] = field(default_factory=list)
    made: list[Registration] = field(default_factory=list)
    nonce: bytes = b""
    step: int = 0

    def register(self) -> None:
        reg, self.chain = self.chain.seal(c.draft(15 * len(self.made), usage=len(self.made)))
        self.queue.append(reg)
        self.made.append(reg)

    def uplink(self) -> bytes:
        self.step += 1
        self.nonce = self.rng.randbytes(16)
        up = Uplink(c.METER_ID, c.T0 + timedelta(seconds=self.step), self.nonce,
                    tuple(self.queue))  # fmt: skip
        return seal_uplink(up, meter=self.p.meter, headend=self.p.headend.public(),
                           seed=self.rng.randbytes(32))  # fmt: skip

    def receive(self, data: bytes) -> None:
        down = open_downlink(data, meter=self.p.meter, headend=self.p.headend.public(),
                             meter_id=c.METER_ID, expected_nonce=self.nonce,
                             now=c.T0 + timedelta(seconds=self.step))  # fmt: skip
        assert down.enable_code is not None
        acked = down.enable_code.acked_seq
        self.queue = [r for r in self.queue if r.seq > acked]


@dataclass
class HeadEndSide:
    """The head-end's protocol state: chain, store, last accepted uplink time."""

    p: Parties
    chain: HeadEndChain = field(default_factory=lambda: HeadEndChain.start(c.CHAIN_KEY))
    store: dict[int, Registration] = field(default_factory=dict)
    last_time: datetime | None = None
    rejected: dict[str, int] = field(default_factory=dict)

    def receive(self, data: bytes) -> bytes:
        opened = open_uplink(data, headend=self.p.headend, meter=self.p.meter.public(),
                             meter_id=c.METER_ID, chain=self.chain,
                             not_before=self.last_time)  # fmt: skip
        for reg in opened.accepted:
            assert reg.seq not in self.store, f"registration {reg.seq} stored twice"
            self.store[reg.seq] = reg
        self.chain, self.last_time = opened.chain, opened.uplink.time
        up = opened.uplink
        code = EnableCode(c.METER_ID, self.chain.last_seq, up.nonce,
                          up.time + timedelta(minutes=5),
                          CreditFrame(timedelta(days=1), Decimal("20")))  # fmt: skip
        reply = Downlink(c.METER_ID, up.time, up.nonce, code)
        return seal_downlink(reply, headend=self.p.headend, meter=self.p.meter.public())


def _run(suite: Suite, seed: int, steps: int, loss: float) -> tuple[MeterSide, HeadEndSide]:
    rng = random.Random(seed)
    p = c.parties_for(suite)
    meter, box = MeterSide(p, random.Random(rng.random())), HeadEndSide(p)
    up_link, down_link = (
        Link(random.Random(rng.random()), loss),
        Link(random.Random(rng.random()), loss),
    )
    for _ in range(steps):
        for _ in range(rng.randint(0, 3)):
            meter.register()
        replies: list[bytes] = []
        for data in up_link.carry(meter.uplink()):
            try:
                replies.append(box.receive(data))
            except ProtocolPeerError as exc:
                name = type(exc).__name__
                box.rejected[name] = box.rejected.get(name, 0) + 1
        for reply in replies:
            for data in down_link.carry(reply):
                with contextlib.suppress(ProtocolPeerError):
                    meter.receive(data)
        # the invariant after every step: stored once, or still queued, nothing invented
        stored = set(box.store)
        assert stored == set(range(1, len(stored) + 1)), f"seed {seed}: store has holes"
        assert all(box.store[s] == meter.made[s - 1] for s in stored), f"seed {seed}"
        assert {r.seq for r in meter.made} <= stored | {r.seq for r in meter.queue}
    return meter, box


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), loss=st.sampled_from([0.0, 0.1, 0.3]))
def test_every_registration_arrives_exactly_once_over_a_faulty_link(seed: int, loss: float) -> None:
    meter, box = _run(Suite.EC_MODERN, seed, steps=30, loss=loss)
    # a last clean exchange empties the queue
    meter.receive(box.receive(meter.uplink()))
    assert meter.queue == []
    assert [box.store[s] for s in sorted(box.store)] == meter.made


@pytest.mark.parametrize("suite", list(Suite), ids=[s.value for s in Suite])
def test_lossy_exchange_in_every_suite(suite: Suite) -> None:
    meter, box = _run(suite, seed=20261122, steps=25, loss=0.3)
    meter.receive(box.receive(meter.uplink()))
    assert meter.queue == []
    assert len(box.store) == len(meter.made)
    assert box.rejected, "the faulty link should have caused some rejections"
