"""A seeded run of two meters gives the bytes recorded before the module was optimised.

The module's hot paths (feeding, registering, sealing uplinks, applying downlinks, NVM
bookkeeping) are rewritten for speed from time to time; none of that may change what the
module does. This test drives two meters through seeded weeks (daily and 6-hour periods, DST,
a schedule update, dropped and refused answers, a block and its release, an outage, tamper, a
reboot, load-step events) and compares, after every step, against `data/golden-run.json`:

- the exact bytes of every uplink on the wire and of every downlink the meter accepted;
- the NVM: every record but the keys, the registration log and the counter, byte for byte;
  the wear of every cell group; and every primitive the part executed (kind, place, size,
  outcome, and the number of bits it changed);
- what the module reports (journal, counter, relay, registers, outstanding charge, control).

The keys record is compared by its writes only (place and size, not content): the private
keys are stored under PKCS#8 encryption, whose salt and IV come from OpenSSL's randomness.
Everything else is deterministic: the keys are fixed here, and the meter's entropy is seeded.

The data file was recorded at commit 24698df (before the meter-side speed work of issue 8):
`python -m tests.meter.test_golden_run` (from the repository root) writes it again; only do
that for a change that is meant to alter the module's bytes, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from sealmeter.meter import CreditFrame, DownlinkRejected, Meter, MeterConfig
from sealmeter.meter.store import MeterMemory
from sealmeter.nvm import Eeprom
from sealmeter.protocol import CreditFrame as WireCreditFrame
from sealmeter.protocol import PrivateKeys, Suite
from sealmeter.tariff import RateSchedule, schedule_from_dict
from sealmeter.tariff.shipped import load_shipped

from .conftest import DEVICE_KEY, WireHeadEnd

GOLDEN = Path(__file__).parent / "data" / "golden-run.json"
QUARTER = timedelta(minutes=15)


def _fixed_keys(label: bytes) -> PrivateKeys:
    """EC_MODERN keys derived from `label` (tests only: real keys come from the OS)."""
    seed = hashlib.sha256(label).digest()
    sign = hashlib.sha256(seed).digest()
    return PrivateKeys(
        Suite.EC_MODERN,
        x25519.X25519PrivateKey.from_private_bytes(seed),
        ed25519.Ed25519PrivateKey.from_private_bytes(sign),
    )


def _entropy(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


@dataclass
class _Rig:
    """One meter on its part, its head-end half, and the digest of what happened so far."""

    name: str
    meter: Meter
    device: Eeprom
    headend: WireHeadEnd
    rng: random.Random
    ops_seen: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def snapshot(self, what: str, uplink: bytes | None = None, down: bytes | None = None) -> None:
        """Record the step: wire bytes, NVM bytes and wear, primitives, module views."""
        dev, m = self.device, self.meter
        regions = dev.regions
        rec_off = regions["meter.records"][0]
        slots = MeterMemory(dev).records.slots
        keys = slots["keys"]
        keys_lo = rec_off + keys.start
        keys_hi = keys_lo + keys.size
        h = hashlib.sha256()
        for name, slot in slots.items():
            if name != "keys":
                h.update(name.encode() + dev.read(rec_off + slot.start, slot.size))
        for name in ("meter.log", "meter.counter"):
            off, length = regions[name]
            h.update(name.encode() + dev.read(off, length))
        h.update(repr(dev.cycles()).encode())
        ops = hashlib.sha256()
        for op in dev.op_log:
            if op.number <= self.ops_seen:
                continue
            in_keys = keys_lo <= op.offset < keys_hi
            ops.update(
                repr(
                    (
                        op.number,
                        op.kind.value,
                        op.offset,
                        op.length,
                        op.outcome.value,
                        None if in_keys else op.changing_bits,
                    )
                ).encode()
            )
        self.ops_seen = dev.ops
        views = repr(
            (
                m.journal,
                m.counted_units,
                m.open_units,
                m.relay,
                m.control,
                sorted(m.register_totals().items()),
                m.outstanding_charge(),
                m.next_seq,
                m.acked_seq,
                m.next_call_at(),
                [r.seq for r in m.queued_registrations()],
            )
        )
        self.steps.append(
            {
                "meter": self.name,
                "step": what,
                "ops": dev.ops,
                "uplink": None if uplink is None else hashlib.sha256(uplink).hexdigest(),
                "downlink": None if down is None else hashlib.sha256(down).hexdigest(),
                "nvm": h.hexdigest(),
                "primitives": ops.hexdigest(),
                "views": hashlib.sha256(views.encode()).hexdigest(),
            }
        )


def _rig(
    name: str,
    config: MeterConfig,
    schedule: RateSchedule,
    start: datetime,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> _Rig:
    device = Eeprom(128 * 1024, log_limit=1 << 20)
    meter = Meter.manufacture(device, DEVICE_KEY, config, start, entropy=_entropy(seed))
    headend = WireHeadEnd(_fixed_keys(b"golden head-end"))
    headend.credit = WireCreditFrame(timedelta(days=2), Decimal("40"))
    monkeypatch.setattr(
        "sealmeter.meter.module.generate_keys", lambda suite: _fixed_keys(name.encode())
    )
    headend.enrol(meter.provision(headend.keys.public(), start))
    meter.install_schedules((schedule,), start)
    return _Rig(name, meter, device, headend, random.Random(seed))


def _call(rig: _Rig, now: datetime, policy: str, **answer: Any) -> None:
    """One call: uplink, then the answer per `policy` (answer, drop, no-enable, forged)."""
    up = rig.meter.make_uplink(now)
    down: bytes | None = None
    if policy == "drop":
        rig.meter.call_failed(now)
    else:
        down = rig.headend.answer(
            up, enable=policy != "no-enable", seed=rig.rng.randrange(1 << 30), **answer
        )
        if policy == "forged":
            down = down[:-1] + bytes([down[-1] ^ 1])
        try:
            rig.meter.accept_downlink(down, now)
        except DownlinkRejected:
            rig.meter.call_failed(now)
    rig.snapshot(f"call {now.isoformat()} {policy}", up, down)


def _quarters(rng: random.Random, n: int) -> list[int]:
    """`n` quarter-hour energies in mWh: a household's noise, with idle spells."""
    out = []
    for _ in range(n):
        r = rng.random()
        out.append(0 if r < 0.15 else rng.randrange(1, 600_000 if r > 0.97 else 120_000))
    return out


def _daily_meter(monkeypatch: pytest.MonkeyPatch) -> _Rig:
    """Meter A: daily periods, Europe/Berlin tariff across DST, the fleet's feed path."""
    start = datetime(2026, 3, 20, tzinfo=UTC)
    cfg = MeterConfig(
        "golden-a", unit_wh=10, credit=CreditFrame(timedelta(days=3), Decimal("25.00"))
    )
    rig = _rig("golden-a", cfg, load_shipped("de-neustadt-donau-ht-nt"), start, 11, monkeypatch)
    rig.snapshot("provisioned")
    newer = schedule_from_dict(
        {
            **json.loads(load_shipped("de-neustadt-donau-ht-nt").to_bytes()),
            "version": 2,
            "valid_from": "2026-04-04T00:00:00Z",
        }
    )
    t = start
    opened = False
    for day in range(30):
        quarters = _quarters(rig.rng, 96)
        hours = [sum(quarters[k : k + 4]) for k in range(0, 96, 4)]
        # the fleet's path: hour sums, cut at the meter's call time
        k = 0
        while k < 24:
            call = rig.meter.next_call_at()
            hour = timedelta(hours=1)
            upto = min(24, max(k + 1, -((t - call) // hour)))  # the hour the call is in
            if day == 12 and k < 10 <= upto:
                upto = 10
            got = rig.meter.feed_intervals(t + hour * k, hour, hours[k:upto])
            k = upto
            now = t + hour * k
            rig.snapshot(f"fed {now.isoformat()} ({got} uWh)")
            if day == 12 and k == 10:
                rig.meter.mains_lost(now + timedelta(minutes=7))
                rig.meter.mains_returned(now + timedelta(hours=3, minutes=22))
                rig.snapshot("outage")
                k = 14  # nothing drawn while mains was off
            if day == 15 and not opened and k >= 12:
                opened = rig.meter.housing_opened(now) is not None
                rig.snapshot("housing opened")
            if now >= rig.meter.next_call_at():
                when = max(now, rig.meter.next_call_at())
                if 19 <= day <= 23:
                    policy = "drop"
                elif day == 9:
                    policy = "forged"
                elif day in (6, 7):
                    policy = "no-enable"
                else:
                    policy = rig.rng.choice(["answer"] * 8 + ["drop", "no-enable"])
                extra: dict[str, Any] = {"schedules": (newer,)} if day == 10 else {}
                _call(rig, when, policy, **extra)
        if day == 25:
            rig.meter = Meter.boot(rig.device, DEVICE_KEY, _entropy(99))
            rig.snapshot("rebooted")
        t += timedelta(days=1)
    rig.meter.checkpoint()
    rig.snapshot("checkpoint")
    return rig


def _stepped_meter(monkeypatch: pytest.MonkeyPatch) -> _Rig:
    """Meter B: 6-hour periods, load-step events, quarter by quarter with exact energies."""
    start = datetime(2026, 10, 20, tzinfo=UTC)
    cfg = MeterConfig(
        "golden-b",
        unit_wh=1,
        period=timedelta(hours=6),
        load_step_w=900,
        credit=CreditFrame(timedelta(days=2), None),
    )
    rig = _rig("golden-b", cfg, load_shipped("uk-e7-eon-next-flex"), start, 23, monkeypatch)
    rig.snapshot("provisioned")
    t = start
    for day in range(10):
        quarters = _quarters(rig.rng, 96)
        for k, e in enumerate(quarters):
            a = t + QUARTER * k
            if e:
                rig.meter.feed_interval(a, a + QUARTER, Fraction(e, 1000))
            if k % 8 == 7:
                rig.snapshot(f"fed {(a + QUARTER).isoformat()}")
            now = a + QUARTER
            if now >= rig.meter.next_call_at():
                _call(rig, now, "drop" if day in (4, 5) else "answer")
        t += timedelta(days=1)
    rig.meter.advance_to(t + timedelta(hours=7))
    rig.snapshot("advanced")
    return rig


def _run(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for run in (_daily_meter, _stepped_meter):
        steps.extend(run(monkeypatch).steps)
    return steps


def test_a_seeded_run_writes_and_sends_the_recorded_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    want = json.loads(GOLDEN.read_text())["steps"]
    got = _run(monkeypatch)
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        assert g == w, f"step {i} ({w['meter']}: {w['step']}) differs from the recording"
    assert len(got) == len(want)
    # the run is not vacuous: it calls, is refused, blocks, and writes a lot
    assert sum(1 for s in got if s["uplink"]) > 40
    assert got[-1]["ops"] > 1000


def test_the_recorded_run_covers_what_it_claims() -> None:
    steps = json.loads(GOLDEN.read_text())["steps"]
    names = " ".join(s["step"] for s in steps)
    for what in ("drop", "forged", "no-enable", "outage", "housing opened", "rebooted"):
        assert what in names


def _record() -> None:
    with pytest.MonkeyPatch.context() as mp:
        steps = _run(mp)
    GOLDEN.write_text(
        json.dumps(
            {
                "note": (
                    "Digests of a seeded two-meter run (tests/meter/test_golden_run.py), "
                    "recorded at commit 24698df before the meter-side speed work of issue 8."
                ),
                "steps": steps,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {len(steps)} steps to {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    _record()
