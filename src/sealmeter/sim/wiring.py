"""The real fleet: `sealmeter.meter.Meter`s and a `sealmeter.headend.HeadEnd`, full crypto.

`build_world` manufactures and provisions N meters (each on its own simulated EEPROM, keys
made in the module, K_0 exported to the head-end as at the factory), publishes the shipped
real tariffs at the head-end and puts each meter on one of them, opens the head-end on SQLite
(a file, so a crash-restart finds its data) or PostgreSQL, and prepares each meter's load from
the metering core's fleet path (BDEW standard load profiles, 15-minute intervals).
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from random import Random
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, event

from sealmeter.clock import SimClock
from sealmeter.headend import REJECTION_ANSWER, BoxKeys, HeadEnd, Policy, Provisioning
from sealmeter.meter import CallPolicy, Meter, MeterConfig, RelayState, SealLoop
from sealmeter.meter import CreditFrame as MeterCreditFrame
from sealmeter.metering.profiles import PROFILE_KINDS, iter_fleet_interval_energy
from sealmeter.nvm import Eeprom
from sealmeter.protocol import (
    NONCE_SIZE,
    CreditFrame,
    Downlink,
    EnableCode,
    PublicKeys,
    Suite,
    Uplink,
    generate_keys,
    seal_downlink,
    seal_uplink,
)
from sealmeter.sim.errors import SimError
from sealmeter.sim.ledger import BillLine
from sealmeter.sim.scenario import FleetSpec, TamperAct
from sealmeter.sim.world import HeadEndKilled, SimMeter, Verdict, World
from sealmeter.store import MAX_PAGE, walk_pages
from sealmeter.tariff import RateSchedule
from sealmeter.tariff.shipped import load_shipped, shipped_names

__all__ = ["RealHeadEnd", "RealMeter", "build_world"]

_UWH = 1_000_000
_MICRO = timedelta(microseconds=1)
_DEVICE_KEY_LABEL = b"sealmeter sim device key"


def _entropy(rng: Random) -> Callable[[int], bytes]:
    return lambda n: rng.randbytes(n)


class RealMeter:
    """A `sealmeter.meter.Meter` as the simulator drives it (`SimMeter`)."""

    def __init__(
        self, meter: Meter, device_key: bytes, customer: str, feeder: int, feed_step: int
    ) -> None:
        """Wrap `meter`; `feed_step` intervals are fed per `feed_interval` call."""
        self.meter = meter
        self.meter_id = meter.meter_id
        self.customer = customer
        self.feeder = feeder
        self.device_key = device_key
        self.feed_step = feed_step
        self.delivered_uwh = 0
        self.last_now: datetime | None = None

    def feed(self, start: datetime, interval: timedelta, energy_mwh: NDArray[np.int64]) -> None:
        """Feed the intervals, `feed_step` at a time; count the energy the meter let through.

        Whole steps go to the meter in one `Meter.feed_intervals` call (the journal and the
        counter commit once per stretch between registrations, not after every step); a step
        that mains came back inside, and a last shorter step, go through `feed_interval`.
        """
        values = energy_mwh.tolist()
        step = self.feed_step
        if step > 1:
            full = len(values) // step * step
            sums = np.asarray(energy_mwh[:full]).reshape(-1, step).sum(axis=1).tolist()
            chunks = [*sums, *([sum(values[full:])] if full < len(values) else [])]
        else:
            chunks = values
        wide = interval * step
        k = 0
        fed = self.meter.journal.fed_until
        while k < len(chunks) and fed is not None and start + wide * k < fed:
            a = start + wide * k
            b = min(a + wide, start + interval * len(values))
            if b > fed and chunks[k]:
                # mains came back inside this step: only the part after it was drawn
                wh = Fraction(chunks[k], 1000) * Fraction((b - fed) // _MICRO, (b - a) // _MICRO)
                self._feed_one(fed, b, wh)
            k += 1
        whole = len(values) // step
        if k < whole:
            got = self.meter.feed_intervals(start + wide * k, wide, chunks[k:whole])
            self.delivered_uwh += got
            k = whole
        if k < len(chunks) and chunks[k]:
            a = start + wide * k
            self._feed_one(a, start + interval * len(values), Fraction(chunks[k], 1000))

    def _feed_one(self, a: datetime, b: datetime, wh: Fraction) -> None:
        if wh:
            got = self.meter.feed_interval(a, b, cast(Any, wh))  # exact; any Energy type
            self.delivered_uwh += round(got * _UWH)

    def measured_units(self) -> int:
        """Units the energy let through the relay makes (the sim's own ground truth)."""
        return self.delivered_uwh // (self.meter.config.unit_wh * _UWH)

    def next_call_at(self) -> datetime:
        """The meter's watchdog."""
        return self.meter.next_call_at()

    def make_uplink(self, now: datetime) -> bytes:
        """The meter's sealed uplink."""
        self.last_now = now
        return self.meter.make_uplink(now)

    def accept_downlink(self, data: bytes, now: datetime) -> None:
        """Raises `DownlinkRejected` (a `PeerError`) for anything not authentic and fresh."""
        self.meter.accept_downlink(data, now)

    def call_failed(self, now: datetime) -> None:
        """Back off."""
        self.meter.call_failed(now)

    def power(self, on: bool, now: datetime) -> None:
        """The voltage watchdog sees mains go or come back."""
        if on:
            self.meter.mains_returned(now)
        else:
            self.meter.mains_lost(now)

    def tamper(self, act: TamperAct, now: datetime) -> None:
        """Drive the meter's sensors as the physical attack would."""
        m = self.meter
        if act is TamperAct.HOUSING_OPENED:
            m.housing_opened(now)
        elif act is TamperAct.LOOP_BROKEN:
            loop = SealLoop()
            loop.intact = False
            m.check_seal_loop(now, loop)
        elif act is TamperAct.BYPASS:
            hold = m.config.bypass.duration + timedelta(seconds=1)
            m.observe_currents(now, 20.0, 4.0)
            m.observe_currents(now + hold, 20.0, 4.0)
        elif act is TamperAct.REMOVED:
            m.mains_lost(now)
            m.housing_opened(now + timedelta(minutes=1))

    def counted_units(self) -> int:
        """The tear-safe counter."""
        return self.meter.counted_units

    def unstored_units(self, stored_seqs: frozenset[int]) -> int:
        """Queued registrations the head-end lacks, plus the open (unregistered) segment."""
        unit = self.meter.config.unit_wh
        queued = sum(
            sum(r.usage for r in reg.registers)
            for reg in self.meter.queued_registrations()
            if reg.seq not in stored_seqs
        )
        return queued // unit + self.meter.open_units

    def blocked(self) -> bool:
        """Whether the relay is open."""
        return self.meter.relay is not RelayState.SUPPLYING

    def usage_by_band(self) -> dict[str, int]:
        """Usage per register (OBIS code), in units."""
        unit = self.meter.config.unit_wh
        return {obis: usage // unit for obis, (usage, _) in self.meter.register_totals().items()}


@dataclass
class _Seen:
    rejected: bool
    at: datetime


class RealHeadEnd:
    """A `sealmeter.headend.HeadEnd` on a database, as the simulator drives it."""

    def __init__(
        self, url: str, keys: BoxKeys, policy: Policy, schema: str | None, unit_wh: int = 1
    ) -> None:
        """Open the head-end at `url`; registrations count `unit_wh` Wh per unit."""
        self.unit_wh = unit_wh
        self.url = url
        self.keys = keys
        self.policy = policy
        self.schema = schema
        self._dying = threading.local()  # armed by `die_before_commit`, in its thread only
        self.he = self._open()
        self.seen: dict[bytes, _Seen] = {}
        self.alerts_seen = 0
        self.restarts = 0
        self.others: list[HeadEnd] = []
        self._lock = threading.Lock()

    def handle(self, data: bytes, now: datetime) -> bytes:
        """Ingest one uplink; remember whether it was rejected."""
        return self._note(data, now, self.he.handle_uplink(data, now))

    def handle_batch(self, batch: Sequence[bytes], now: datetime) -> list[bytes]:
        """Ingest several uplinks in one transaction (`HeadEnd.handle_uplinks`)."""
        answers = self.he.handle_uplinks(batch, now)
        for data, answer in zip(batch, answers, strict=True):
            self._note(data, now, answer)
        return answers

    def spawn(self) -> Callable[[bytes, datetime], bytes]:
        """A second head-end object on the same database, as another worker process has."""
        other = self._open()
        self.others.append(other)

        def handle(data: bytes, now: datetime) -> bytes:
            return self._note(data, now, other.handle_uplink(data, now))

        return handle

    def _note(self, data: bytes, now: datetime, answer: bytes) -> bytes:
        key = hashlib.sha256(data).digest()
        with self._lock:
            self.seen[key] = _Seen(answer == REJECTION_ANSWER, now)
            if len(self.seen) > 4096:
                self.seen.pop(next(iter(self.seen)))
        return answer

    def verdict(self, data: bytes) -> Verdict | None:
        """Rejected or not, and the precise reason from the rejection log."""
        digest = hashlib.sha256(data).digest()
        seen = self.seen.get(digest)
        if seen is None:
            return None
        if not seen.rejected:
            return Verdict(False)
        page = self.he.list_rejections(since=seen.at, until=seen.at + timedelta(seconds=1))
        for rec in page.items:
            if rec.digest == digest.hex():
                return Verdict(True, rec.reason.value)
        return Verdict(True, "rejected")

    def stored(self, meter_id: str | None = None) -> dict[str, dict[int, int]]:
        """Every stored registration's usage in units, by meter and sequence number (of the
        one meter `meter_id` if given)."""
        out: dict[str, dict[int, int]] = {}
        for reg in walk_pages(
            lambda c: self.he.list_registrations(meter_id=meter_id, cursor=c, limit=MAX_PAGE)
        ):
            out.setdefault(reg.meter_id, {})[reg.seq] = reg.usage // self.unit_wh
        return out

    def registrations(self) -> int:
        """Registrations stored."""
        return self.he.health().registrations

    def alerts(self, now: datetime) -> list[tuple[str, str, datetime, datetime]]:
        """Run the fleet watch, then list every alert not returned before (by alert id:
        an alert may be raised long after the instant it is about)."""
        self.he.watch(now)
        out: list[tuple[str, str, datetime, datetime]] = []
        newest = self.alerts_seen
        for alert in walk_pages(lambda c: self.he.list_alerts(cursor=c, limit=MAX_PAGE)):
            if alert.alert_id > self.alerts_seen:
                newest = max(newest, alert.alert_id)
                out.append(
                    (alert.meter_id or "", alert.kind.value, alert.occurred_at, alert.raised_at)
                )
        self.alerts_seen = newest
        return out

    def restart(self) -> None:
        """Drop the head-end object (its caches, its connections) and open a new one."""
        self.he.close()
        self.he = self._open()
        self.restarts += 1

    def _open(self) -> HeadEnd:
        """A head-end on the database whose COMMITs `die_before_commit` can kill."""
        he = HeadEnd.open(self.url, self.keys, schema=self.schema, policy=self.policy)
        event.listen(he.store.engine, "commit", self._on_commit)
        return he

    def _on_commit(self, conn: Connection) -> None:
        """SQLAlchemy's hook, called just before a transaction's COMMIT is sent."""
        if getattr(self._dying, "armed", False):
            self._dying.armed = False
            self._dying.killed = True
            raise HeadEndKilled("the head-end died just before COMMIT")

    def die_before_commit(
        self, handle: Callable[[bytes, datetime], bytes], data: bytes, now: datetime
    ) -> bool:
        """Run `handle(data, now)`; the first COMMIT it reaches dies (see `SimHeadEnd`)."""
        self._dying.armed, self._dying.killed = True, False
        try:
            handle(data, now)
        except HeadEndKilled:
            pass
        finally:
            self._dying.armed = False
        return bool(self._dying.killed)

    def bills(self, start: datetime, end: datetime) -> list[BillLine]:
        """Every customer's bill for the run."""
        lines = []
        for bill in self.he.bills(start, end):
            lines.append(
                BillLine(
                    bill.customer_ref,
                    len(bill.meter_ids),
                    bill.total_usage,
                    float(bill.total),
                    bill.currency,
                    bill.mismatches == 0,
                )
            )
        return lines

    def close(self) -> None:
        """Release the database (of this head-end and of the workers it spawned)."""
        self.he.close()
        for other in self.others:
            other.close()


class RealAttacker:
    """Crafts forged enable codes, downgraded uplinks and cloned meters with real crypto."""

    def __init__(self, headend: RealHeadEnd, suite: Suite, rng: Random) -> None:
        """Attack the fleet of `headend` (whose meters use `suite`)."""
        self.headend = headend
        self.suite = suite
        self.rng = rng
        self.rogue = generate_keys(suite)

    def forged_enable_code(self, meter: SimMeter, now: datetime) -> bytes:
        """An enable code for `meter`, for its pending nonce, sealed with a rogue key."""
        assert isinstance(meter, RealMeter)
        m = meter.meter
        nonce = m.control.pending_nonce or self.rng.randbytes(NONCE_SIZE)
        code = EnableCode(
            m.meter_id,
            m.next_seq - 1,
            nonce,
            now + timedelta(hours=1),
            CreditFrame(timedelta(days=365), Decimal(0)),
        )
        down = Downlink(m.meter_id, now, nonce, code, (), ())
        meter_pub = self.headend.he.meter_public_keys(m.meter_id)
        return seal_downlink(
            down,
            headend=self.rogue,
            meter=PublicKeys.from_bytes(meter_pub),
            seed=self.rng.randbytes(32),
        )

    def downgraded_uplink(self, meter: SimMeter, now: datetime) -> bytes:
        """An uplink claiming `meter`'s identity under another (weaker) suite."""
        assert isinstance(meter, RealMeter)
        weaker = Suite.RSA if self.suite is not Suite.RSA else Suite.NIST_P256
        keys = generate_keys(weaker)
        try:
            box = self.headend.keys.public(weaker)
        except Exception:
            box = generate_keys(weaker).public()
        up = Uplink(
            meter.meter_id, now, self.rng.randbytes(NONCE_SIZE), (), meter.meter.status(now)
        )
        return seal_uplink(up, meter=keys, headend=box, seed=self.rng.randbytes(32))

    def clone(self, meter: SimMeter) -> SimMeter:
        """A second device booted from a copy of `meter`'s EEPROM (secrets and state)."""
        assert isinstance(meter, RealMeter)
        device = cast(Eeprom, meter.meter.device.clone())
        twin = Meter.boot(device, meter.device_key, _entropy(self.rng))
        return RealMeter(twin, meter.device_key, meter.customer, meter.feeder, meter.feed_step)


def _pick(mix: dict[str, float], n: int, rng: Random) -> list[str]:
    names = list(mix)
    return rng.choices(names, weights=[mix[k] for k in names], k=n)


def _profile_kind(name: str) -> str:
    kinds = {k.lower(): k for k in PROFILE_KINDS}
    if name.lower() not in kinds:
        raise SimError(
            f"unknown load profile {name!r}; choose from {', '.join(sorted(PROFILE_KINDS))}"
        )
    return kinds[name.lower()]


def _tariff(name: str) -> RateSchedule:
    if name not in shipped_names():
        raise SimError(f"unknown tariff {name!r}; shipped tariffs: {', '.join(shipped_names())}")
    return load_shipped(name)


def build_world(
    fleet: FleetSpec,
    meters: int,
    days: int,
    *,
    seed: int = 1,
    store_url: str | None = None,
    workdir: Path | None = None,
    suite: Suite = Suite.EC_MODERN,
    feed_step: int = 4,
    progress: Callable[[int, int], None] | None = None,
    first_id: int = 0,
) -> World:
    """Manufacture, provision and load a fleet of real meters against a real head-end.

    `store_url` defaults to a SQLite file in `workdir` (a fresh temporary folder if None);
    for PostgreSQL pass its URL and every run gets its own schema. Meters are named from
    `m{first_id:05d}` on (a shard of a larger fleet starts where the one before ended).
    """
    if meters < 1 or days < 1:
        raise SimError(f"need at least one meter and one day (got {meters} meters, {days} days)")
    rng = Random(seed)
    start = datetime(fleet.start.year, fleet.start.month, fleet.start.day, tzinfo=UTC)
    interval = timedelta(minutes=fleet.interval_minutes)
    if interval != timedelta(minutes=15):
        raise SimError("the metering core's fleet profiles are 15-minute intervals; use 15")
    schema: str | None = None
    if store_url is None:
        folder = workdir or Path(tempfile.mkdtemp(prefix="sealmeter-sim-"))
        folder.mkdir(parents=True, exist_ok=True)
        store_url = f"sqlite:///{folder / 'headend.db'}"
    elif store_url.startswith("postgresql"):
        schema = f"sim_{uuid.uuid4().hex[:12]}"
    keys = BoxKeys.generate((suite,))
    credit = timedelta(days=fleet.credit_frame_days)
    policy = Policy(enable_code_validity=timedelta(hours=1))
    headend = RealHeadEnd(store_url, keys, policy, schema, fleet.unit_wh)
    clock = SimClock(start)
    tariffs = {name: _tariff(name) for name in fleet.tariffs}
    for schedule in tariffs.values():
        headend.he.publish_schedule(schedule.to_bytes().decode("ascii"), clock.now())
    chosen = _pick(fleet.tariffs, meters, rng)
    kinds = [_profile_kind(k) for k in _pick(fleet.profiles, meters, rng)]
    calls_every = timedelta(hours=fleet.call_interval_hours)
    fleet_meters: list[SimMeter] = []
    for i in range(meters):
        meter_id = f"m{first_id + i:05d}"
        device_key = hashlib.sha256(_DEVICE_KEY_LABEL + seed.to_bytes(8) + i.to_bytes(8)).digest()
        config = _config(meter_id, fleet)
        meter = Meter.manufacture(
            Eeprom(128 * 1024), device_key, config, start, entropy=_entropy(Random(rng.random()))
        )
        export = meter.provision(keys.public(suite), start)
        schedule = tariffs[chosen[i]]
        meter.install_schedules((schedule,), start)
        feeder = i % max(1, fleet.feeders)
        headend.he.provision(
            Provisioning(
                meter_id=meter_id,
                customer_ref=f"cust-{i:05d}",
                suite=suite.value,
                public_keys=export.public_keys,
                chain_key=export.chain_key,
                feeder=f"feeder-{feeder}",
                schedule_id=schedule.id,
                credit_frame=credit,
                report_interval=calls_every,
            ),
            start,
        )
        fleet_meters.append(RealMeter(meter, device_key, f"cust-{i:05d}", feeder, feed_step))
        if progress is not None:
            progress(i + 1, meters)
    load = _load_source(kinds, fleet, start, seed)
    attacker = RealAttacker(headend, suite, Random(seed ^ 0xA77AC))
    return World(fleet_meters, headend, attacker, load, start, interval)


def _config(meter_id: str, fleet: FleetSpec) -> MeterConfig:
    return MeterConfig(
        meter_id,
        unit_wh=fleet.unit_wh,
        calls=CallPolicy(period=timedelta(hours=fleet.call_interval_hours)),
        credit=MeterCreditFrame(timedelta(days=fleet.credit_frame_days), None),
    )


def _load_source(
    kinds: list[str], fleet: FleetSpec, start: datetime, seed: int
) -> Callable[[int, date], NDArray[np.int64]]:
    """Per-day fleet energy (mWh) from the metering core's standard-profile fleet path."""
    n = len(kinds)
    year = start.year
    low, high = fleet.annual_kwh
    annual = (low + high) / 2
    rows: dict[int, NDArray[np.float32]] = {}
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        made: list[NDArray[np.float32]] = []
        for _, block in iter_fleet_interval_energy(
            len(idx), annual, kind=kind, year=year, seed=seed, dtype=np.float32
        ):
            made.extend(np.asarray(block, dtype=np.float32))
        for i, row in zip(idx, made, strict=True):
            rows[i] = row
    year_days = rows[0].size // 96 if n else 365
    table = np.stack([rows[i] for i in range(n)])

    def load(day: int, when: date) -> NDArray[np.int64]:
        d = day % year_days
        wh = table[:, d * 96 : (d + 1) * 96]
        return np.rint(wh.astype(np.float64) * 1000).astype(np.int64)

    return load
