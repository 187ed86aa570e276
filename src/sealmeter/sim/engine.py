"""The simulation engine: a fleet on a simulated clock, an event heap, faults, attacks, ledger.

Every meter call, power or network outage, tamper act, attack and head-end crash is an event
on one heap ordered by simulated time; the engine pops them in order, moves the clock there
and acts. Consumption comes a day at a time from the `LoadSource` (a NumPy array per day) and
is fed to each meter up to the instant it calls. Nothing here knows how meters or the
head-end work inside: they are reached through the protocols of `sealmeter.sim.world`.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from random import Random

import numpy as np
from numpy.typing import NDArray

from sealmeter.clock import SimClock
from sealmeter.errors import EnvironmentFault, PeerError, SealmeterError
from sealmeter.protocol import peek_header
from sealmeter.sim.carriers import open_carriers
from sealmeter.sim.errors import SimError
from sealmeter.sim.ledger import Incident, Ledger
from sealmeter.sim.scenario import AttackKind, CrashPoint, Scenario, TamperAct
from sealmeter.sim.world import SimMeter, World
from sealmeter.transport import (
    Carrier,
    FaultInjector,
    FaultKind,
    FaultyCarrier,
    InjectedFault,
    TransportDropped,
    TransportError,
)

__all__ = ["Progress", "SimOptions", "run_simulation"]

Progress = Callable[[int, int, Ledger], None]
"""Called after each simulated day with (days done, days in total, the ledger so far)."""

_UPLINK_TAMPER = (FaultKind.CORRUPT_UPLINK, FaultKind.MODIFY_UPLINK, FaultKind.REPLAY_UPLINK)
_DOWNLINK_TAMPER = (
    FaultKind.CORRUPT_DOWNLINK,
    FaultKind.MODIFY_DOWNLINK,
    FaultKind.REPLAY_DOWNLINK,
    FaultKind.REDIRECT_DOWNLINK,
    FaultKind.REDIRECT_UPLINK,
)


_TAMPER_ALERTS = ("tamper", "suspected_removal")
_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class SimOptions:
    """What to simulate: scenario, fleet size and length, transport, store label, seed."""

    scenario: Scenario
    meters: int
    days: int
    transport: str = "inproc"
    store: str = "sqlite"
    seed: int = 1
    mqtt: tuple[str, int] = ("127.0.0.1", 1883)
    faults: bool = True
    workers: int = 2
    """Head-end workers sharing the MQTT subscription (each its own head-end object)."""
    batch: timedelta | None = None
    """In process only, with no link faults and no crashes: carry the uplinks of each
    window of this length (aligned to the start) to the head-end together, in one
    `handle_uplinks` call at the window's end, as a head-end system collecting a round of
    calls does; each meter gets its answer then. None: every call is answered at once."""


class _Gate:
    """A carrier that is down (raises `TransportDropped`) during a network outage."""

    def __init__(self, inner: Carrier, clock: SimClock) -> None:
        self.inner = inner
        self.clock = clock
        self.down_until: datetime | None = None

    def exchange(self, uplink: bytes) -> bytes:
        if self.down_until is not None and self.clock.now() < self.down_until:
            raise TransportDropped(f"network outage until {self.down_until.isoformat()}")
        return self.inner.exchange(uplink)


class _CrashSwitch:
    """A head-end worker's handler, which can be armed to die at its next uplink and restart.

    Every worker's switch shares one list of armed crashes: whichever worker takes the next
    uplink dies with it. `before_commit`: the head-end verifies the uplink and writes all it
    changes in its transaction, then dies just before the COMMIT (the database must throw
    all of it away, and the switch checks that it did); `after_commit`: it dies after the
    COMMIT, before the answer leaves. Either way the meter's call fails and it calls again.
    """

    def __init__(
        self,
        handle: Callable[[bytes, datetime], bytes],
        world: World,
        clock: SimClock,
        ledger: Ledger,
        armed: list[CrashPoint],
        alone: bool,
    ) -> None:
        self.handle = handle
        self.world = world
        self.clock = clock
        self.ledger = ledger
        self.armed = armed
        self.handled = 0
        self.alone = alone  # the only head-end worker

    def __call__(self, uplink: bytes) -> bytes:
        now = self.clock.now()
        self.handled += 1
        if self.armed:
            point = self.armed.pop(0)
            self.crash(point, uplink, now)
            raise TransportDropped(f"the head-end was killed ({point.value}) and restarted")
        return self.handle(uplink, now)

    def crash(self, point: CrashPoint, uplink: bytes, now: datetime) -> None:
        """Handle `uplink` up to `point`, die there, restart; the incident says what died."""
        try:
            meter_id: str | None = peek_header(uplink).meter_id
        except SealmeterError:
            meter_id = None  # not an envelope: compare the whole store instead
        headend = self.world.headend

        def rows() -> object:  # that meter's stored registrations (all, if not an envelope)
            return headend.stored(meter_id)

        inc = self.ledger.incident(
            "fault",
            f"crash_{point.value}",
            meter_id or "head-end",
            now,
            f"head-end killed {point.value.replace('_', ' ')} of an ingest",
        )
        if point is CrashPoint.AFTER_COMMIT:
            self.handle(uplink, now)
        else:
            # with several workers another may store this meter's uplink (a duplicated
            # message) while this one dies: the rows are compared with one worker only
            before = rows() if self.alone else None
            if not headend.die_before_commit(self.handle, uplink, now):
                inc.detail += " (it committed nothing: killed on its way out)"
            elif self.alone and rows() != before:
                self.ledger.lost(inc, now, "rows of the transaction killed before COMMIT remain")
        headend.restart()
        self.ledger.crashes += 1


class _Engine:
    def __init__(self, world: World, options: SimOptions, ledger: Ledger) -> None:
        self.world = world
        self.opt = options
        self.ledger = ledger
        self.rng = Random(options.seed)
        self.clock = SimClock(world.start)
        self.meters = list(world.meters)
        self.index = {m.meter_id: i for i, m in enumerate(self.meters)}
        self.heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        per_day = timedelta(days=1) // world.interval
        self.per_day = per_day
        self.fed = [0] * len(self.meters)  # intervals fed, counted from the start
        self.powered = [True] * len(self.meters)
        self.removed = [False] * len(self.meters)
        self.day_energy: NDArray[np.int64] = np.zeros((len(self.meters), per_day), np.int64)
        self.day = 0
        self.was_blocked = [False] * len(self.meters)
        self.uplinks: dict[str, deque[bytes]] = {m.meter_id: deque(maxlen=8) for m in self.meters}
        self.downlinks: dict[str, deque[bytes]] = {m.meter_id: deque(maxlen=8) for m in self.meters}
        self.last_ok: dict[str, datetime] = {}
        self.fault_incident: dict[int, Incident] = {}
        self.pending_tamper: dict[str, list[Incident]] = {}
        self.tampered: set[tuple[int, TamperAct]] = set()
        self.call_pending = [False] * len(self.meters)
        self.armed: list[CrashPoint] = []
        workers = options.workers if options.transport == "mqtt" else 1
        self.switches = [
            _CrashSwitch(
                world.headend.handle if k == 0 else world.headend.spawn(),
                world,
                self.clock,
                ledger,
                self.armed,
                alone=workers == 1,
            )
            for k in range(workers)
        ]
        plan = options.scenario.network if options.faults else type(options.scenario.network)()
        self.injector = FaultInjector(plan, Random(options.seed ^ 0xFA17), self.clock)
        self.gates: dict[str, _Gate] = {}
        self.links: dict[str, FaultyCarrier] = {}
        self.batch = options.batch
        self.waiting: list[tuple[int, bytes]] = []  # uplinks of the current batch window
        self.in_flight = [False] * len(self.meters)
        if self.batch is not None:
            self.check_batching()

    def check_batching(self) -> None:
        """Batched calls bypass the carriers: refuse them where a carrier or crash matters."""
        sc = self.opt.scenario
        assert self.batch is not None
        problems = []
        if self.batch <= timedelta(0):
            problems.append(f"the batch window {self.batch} is not positive")
        if self.opt.transport != "inproc":
            problems.append(f"the transport is {self.opt.transport}, not inproc")
        if any(self.injector.plan.probability(kind) for kind in FaultKind):
            problems.append("the scenario injects link faults (use --no-faults)")
        if sc.crashes:
            problems.append("the scenario crashes the head-end")
        if problems:
            raise SimError(
                "batched calls need the in-process carrier, no link faults and no head-end "
                f"crashes: {'; '.join(problems)}; run without batching"
            )

    # ---------------------------------------------------------------- scheduling
    def at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), action))

    def schedule_call(self, i: int) -> None:
        if self.call_pending[i] or self.removed[i] or self.in_flight[i]:
            return
        self.call_pending[i] = True
        when = max(self.meters[i].next_call_at(), self.clock.now())

        def call() -> None:
            self.call_pending[i] = False
            self.call(i)

        self.at(when, call)

    # ---------------------------------------------------------------- consumption
    def feed(self, i: int, upto: int) -> None:
        """Feed meter i its intervals up to global interval index `upto` (within today)."""
        day_base = self.day * self.per_day
        start = max(self.fed[i], day_base)
        upto = min(upto, day_base + self.per_day)
        if upto <= start:
            return
        chunk = self.day_energy[i, start - day_base : upto - day_base]
        if not self.powered[i] or self.removed[i]:
            chunk = np.zeros_like(chunk)
        at = self.world.start + start * self.world.interval
        self.meters[i].feed(at, self.world.interval, chunk)
        self.fed[i] = upto

    def interval_now(self) -> int:
        return (self.clock.now() - self.world.start) // self.world.interval

    # ---------------------------------------------------------------- calls
    def call(self, i: int) -> None:
        meter = self.meters[i]
        if not self.powered[i] or self.removed[i]:
            return  # rescheduled when power returns
        now = self.clock.now()
        self.feed(i, self.interval_now())
        try:
            uplink = meter.make_uplink(now)
        except SealmeterError as exc:
            self.ledger.notes.append(f"{now:%Y-%m-%d %H:%M} {meter.meter_id}: {exc}")
            meter.call_failed(now)
            self.schedule_call(i)
            return
        self.ledger.uplinks += 1
        self.uplinks[meter.meter_id].append(uplink)
        if self.batch is not None:
            self.queue_call(i, uplink, now)
            return
        link = self.links[meter.meter_id]
        try:
            downlink = link.exchange(uplink)
        except TransportError:
            self.ledger.exchanges_failed += 1
            self.attribute(link.last_faults, None, now)
            meter.call_failed(now)
            self.after_call(i)
            return
        try:
            meter.accept_downlink(downlink, now)
        except PeerError as exc:
            self.attribute(link.last_faults, exc, now)
            meter.call_failed(now)
        else:
            self.attribute(link.last_faults, None, now, accepted=True)
            self.downlinks[meter.meter_id].append(downlink)
            self.last_ok[meter.meter_id] = now
        self.after_call(i)

    def queue_call(self, i: int, uplink: bytes, now: datetime) -> None:
        """Batched calls: hold the uplink for the head-end until the window ends."""
        assert self.batch is not None
        gate = self.gates[self.meters[i].meter_id]
        if gate.down_until is not None and now < gate.down_until:
            self.ledger.exchanges_failed += 1
            self.meters[i].call_failed(now)
            self.after_call(i)
            return
        if not self.waiting:
            start = self.world.start
            self.at(start + self.batch * ((now - start) // self.batch + 1), self.answer_calls)
        self.waiting.append((i, uplink))
        self.in_flight[i] = True

    def answer_calls(self) -> None:
        """The end of a batch window: the head-end takes every held uplink in one go."""
        waiting, self.waiting = self.waiting, []
        now = self.clock.now()
        answers = self.world.headend.handle_batch([up for _, up in waiting], now)
        self.switches[0].handled += len(waiting)
        for (i, _), downlink in zip(waiting, answers, strict=True):
            self.in_flight[i] = False
            meter = self.meters[i]
            if not self.powered[i] or self.removed[i]:
                continue  # the answer found the meter dead; it calls again when powered
            try:
                meter.accept_downlink(downlink, now)
            except PeerError:
                meter.call_failed(now)
            else:
                self.downlinks[meter.meter_id].append(downlink)
                self.last_ok[meter.meter_id] = now
            self.after_call(i)

    def after_call(self, i: int) -> None:
        self.note_block(i)
        self.schedule_call(i)

    def note_block(self, i: int) -> None:
        meter = self.meters[i]
        now = self.clock.now()
        blocked = meter.blocked()
        if blocked and not self.was_blocked[i]:
            self.ledger.block(meter.meter_id, now, "no authentic enable code within the frame")
        elif not blocked and self.was_blocked[i]:
            self.ledger.unblock(meter.meter_id, now, "authentic enable code")
        self.was_blocked[i] = blocked

    def incident_for(self, fault: InjectedFault) -> Incident:
        inc = self.fault_incident.get(fault.index)
        if inc is None:
            category = "attack" if fault.kind.is_attack else "fault"
            inc = self.ledger.incident(
                category, fault.kind.value, fault.meter, fault.at, fault.detail
            )
            self.fault_incident[fault.index] = inc
        return inc

    def attribute(
        self,
        faults: tuple[InjectedFault, ...],
        meter_error: PeerError | None,
        now: datetime,
        *,
        accepted: bool = False,
    ) -> None:
        """Say, for each fault that touched this exchange, how it was detected (or not)."""
        for fault in faults:
            inc = self.incident_for(fault)
            if fault.kind in _UPLINK_TAMPER and fault.sent is not None:
                verdict = self.world.headend.verdict(fault.sent)
                if verdict is not None and verdict.rejected:
                    self.ledger.detected(inc, "head-end", verdict.reason or "rejected", now)
                elif verdict is not None and fault.kind is not FaultKind.REPLAY_UPLINK:
                    self.ledger.accepted(inc, now, "the head-end accepted tampered bytes")
            elif fault.kind in _DOWNLINK_TAMPER:
                if meter_error is not None:
                    self.ledger.detected(inc, "meter", type(meter_error).__name__, now)
                elif accepted:
                    self.ledger.accepted(inc, now, "the meter accepted a tampered downlink")

    # ---------------------------------------------------------------- scenario events
    def pick(self, n: int, *, powered: bool = True) -> list[int]:
        pool = [
            i
            for i in range(len(self.meters))
            if not self.removed[i] and (self.powered[i] or not powered)
        ]
        return self.rng.sample(pool, min(n, len(pool)))

    def power(self, indices: list[int], on: bool) -> None:
        now = self.clock.now()
        for i in indices:
            if self.removed[i] or self.powered[i] == on:
                continue
            self.feed(i, self.interval_now())
            self.powered[i] = on
            self.meters[i].power(on, now)
            if on:
                self.schedule_call(i)

    def schedule_scenario(self) -> None:
        sc = self.opt.scenario
        start = self.world.start
        days = self.opt.days
        feeders = sorted({m.feeder for m in self.meters})
        for out in sc.power_outages:
            if out.day >= days:
                continue
            begin = start + timedelta(days=out.day, hours=10)
            chosen = set(self.rng.sample(feeders, min(out.feeders, len(feeders))))
            hit = [i for i, m in enumerate(self.meters) if m.feeder in chosen]
            self.at(begin, partial(self.power_outage, hit, out.hours))
        for net in sc.network_outages:
            if net.day >= days:
                continue
            begin = start + timedelta(days=net.day, hours=6)
            share = net.meters < 1
            count = round(net.meters * len(self.meters)) if share else int(net.meters)
            self.at(begin, partial(self.network_outage, max(count, 1), net.days))
        for t in sc.tamper:
            if t.day < days:
                when = start + timedelta(days=t.day, hours=self.rng.uniform(8, 20))
                self.at(when, partial(self.tamper, t.kind, t.meters))
        for a in sc.attacks:
            if a.day >= days:
                continue
            for _ in range(a.count):
                when = start + timedelta(days=a.day, hours=self.rng.uniform(1, 23))
                self.at(when, partial(self.attack, a.kind))
        for c in sc.crashes:
            if c.day < days:
                when = start + timedelta(days=c.day, hours=self.rng.uniform(0, 20))
                self.at(when, partial(self.arm_crash, c.point))

    def power_outage(self, hit: list[int], hours: float) -> None:
        now = self.clock.now()
        live = [i for i in hit if self.powered[i] and not self.removed[i]]
        for i in live:
            self.ledger.incident(
                "fault", "power_outage", self.meters[i].meter_id, now, f"feeder down {hours} h"
            )
        self.power(live, False)
        self.at(now + timedelta(hours=hours), partial(self.power, live, True))

    def network_outage(self, count: int, days: float) -> None:
        now = self.clock.now()
        until = now + timedelta(days=days)
        for i in self.pick(count, powered=False):
            m = self.meters[i].meter_id
            self.gates[m].down_until = until
            self.ledger.incident("fault", "network_outage", m, now, f"link down {days} days")

    def tamper(self, act: TamperAct, count: int) -> None:
        now = self.clock.now()
        # a sensor that already latched this act cannot report it again: pick fresh meters
        fresh = [i for i in self.pick(len(self.meters)) if (i, act) not in self.tampered]
        for i in fresh[:count]:
            self.tampered.add((i, act))
            meter = self.meters[i]
            inc = self.ledger.incident("tamper", act.value, meter.meter_id, now, "physical attack")
            self.pending_tamper.setdefault(meter.meter_id, []).append(inc)
            self.feed(i, self.interval_now())
            if act is TamperAct.REMOVED:
                # pulled out of its socket, put back two days later
                self.feed(i, self.interval_now())
                self.powered[i] = False
                meter.tamper(act, now)
                self.at(now + timedelta(days=2), partial(self.power, [i], True))
            else:
                meter.tamper(act, now)

    def arm_crash(self, point: CrashPoint) -> None:
        """The head-end dies at the next uplink it takes (the incident is logged then)."""
        self.armed.append(point)

    def attack(self, kind: AttackKind) -> None:
        now = self.clock.now()
        candidates = [i for i in range(len(self.meters)) if self.uplinks[self.meters[i].meter_id]]
        if kind in (AttackKind.REPLAY_DOWNLINK,):
            candidates = [i for i in candidates if self.downlinks[self.meters[i].meter_id]]
        candidates = [i for i in candidates if not self.removed[i] and self.powered[i]]
        if not candidates:
            self.ledger.notes.append(f"{now:%Y-%m-%d}: no target for {kind.value} yet")
            return
        i = self.rng.choice(candidates)
        meter = self.meters[i]
        if kind is AttackKind.CLONED_METER:
            clone = self.world.attacker.clone(meter)
            self.at(now + timedelta(days=1), partial(self.clone_calls, clone, i, now, 0))
            return
        inc = self.ledger.incident("attack", kind.value, meter.meter_id, now, "")
        raw = self.gates[meter.meter_id].inner
        if kind in (AttackKind.REPLAY_UPLINK, AttackKind.MODIFY_UPLINK, AttackKind.SUITE_DOWNGRADE):
            if kind is AttackKind.REPLAY_UPLINK:
                data = self.rng.choice(list(self.uplinks[meter.meter_id]))
                inc.detail = "an earlier uplink sent again"
            elif kind is AttackKind.MODIFY_UPLINK:
                old = bytearray(self.rng.choice(list(self.uplinks[meter.meter_id])))
                at = self.rng.randrange(len(old))
                old[at] ^= 1 << self.rng.randrange(8)
                data = bytes(old)
                inc.detail = f"bit flipped in byte {at} of an uplink"
            else:
                data = self.world.attacker.downgraded_uplink(meter, now)
                inc.detail = "uplink sealed under a weaker suite"
            self.send_attack(inc, raw, data, now)
        elif kind in (AttackKind.REPLAY_DOWNLINK, AttackKind.FORGED_ENABLE_CODE):
            if kind is AttackKind.REPLAY_DOWNLINK:
                data = self.rng.choice(list(self.downlinks[meter.meter_id]))
                inc.detail = "an earlier downlink given to the meter again"
            else:
                data = self.world.attacker.forged_enable_code(meter, now)
                inc.detail = "enable code sealed with a rogue key"
            try:
                meter.accept_downlink(data, now)
            except PeerError as exc:
                self.ledger.detected(inc, "meter", type(exc).__name__, now)
            else:
                self.ledger.accepted(inc, now, "the meter accepted it")
            self.note_block(i)
        elif kind is AttackKind.CLOCK_ROLLBACK:
            back = now - timedelta(days=30)
            inc.detail = "meter clock set back 30 days"
            try:
                data = meter.make_uplink(back)
            except SealmeterError as exc:
                self.ledger.detected(inc, "meter", type(exc).__name__, now)
                return
            self.send_attack(inc, raw, data, now)
            meter.call_failed(now)

    def clone_calls(self, clone: SimMeter, i: int, cloned_at: datetime, tries: int) -> None:
        """The clone reports once the original has reported since the copy was taken.

        A clone that reports *first* is indistinguishable from the original at that moment
        (it holds the same keys and chain); the head-end can only see the conflict when the
        original reports next. This attack is the detectable case: the clone comes second.
        """
        now = self.clock.now()
        real = self.meters[i].meter_id
        if self.last_ok.get(real, cloned_at) <= cloned_at:
            if tries < 30:
                self.at(
                    now + timedelta(days=1),
                    partial(self.clone_calls, clone, i, cloned_at, tries + 1),
                )
            else:
                self.ledger.notes.append(
                    f"clone of {real} not mounted: the original never reported"
                )
            return
        inc = self.ledger.incident(
            "attack",
            AttackKind.CLONED_METER.value,
            real,
            now,
            f"a copy of the meter taken {cloned_at:%Y-%m-%d %H:%M} reports after the original",
        )
        clone.feed(
            now - self.world.interval * 8, self.world.interval, np.full(8, 250_000, np.int64)
        )
        try:
            data = clone.make_uplink(now)
        except SealmeterError as exc:
            self.ledger.detected(inc, "clone", type(exc).__name__, now)
            return
        self.send_attack(inc, self.gates[real].inner, data, now)

    def send_attack(self, inc: Incident, raw: Carrier, data: bytes, now: datetime) -> None:
        """Deliver attack bytes to the head-end; it must reject them or store nothing new."""
        before = self.world.headend.registrations()
        try:
            raw.exchange(data)
        except TransportError as exc:
            self.ledger.detected(inc, "head-end", f"no answer ({type(exc).__name__})", now)
            return
        verdict = self.world.headend.verdict(data)
        if verdict is not None and verdict.rejected:
            self.ledger.detected(inc, "head-end", verdict.reason or "rejected", now)
        elif self.world.headend.registrations() == before:
            # an exact copy of an uplink already stored: answered again, nothing stored
            self.ledger.detected(inc, "head-end", "duplicate answered, nothing stored", now)
        elif inc.kind == AttackKind.REPLAY_UPLINK.value:
            # a genuine uplink the head-end had never received (its first copy was lost):
            # storing its registrations once is right; settle() checks nothing was invented
            inc.reason = "late first delivery of genuine registrations, stored once"
        else:
            self.ledger.accepted(inc, now, "the head-end stored registrations from it")

    # ---------------------------------------------------------------- days
    def end_of_day(self) -> None:
        day_end = (self.day + 1) * self.per_day
        for i in range(len(self.meters)):
            self.feed(i, day_end)
            self.note_block(i)
        for meter_id, kind, occurred, raised in self.world.headend.alerts(self.clock.now()):
            day = max(0, min(self.opt.days - 1, (raised - self.world.start).days))
            self.ledger.alert(kind, day)
            if kind not in _TAMPER_ALERTS:
                continue
            pending = self.pending_tamper.get(meter_id, [])
            # the alert names the instant the meter detected it: match the act it follows
            match = [inc for inc in pending if inc.at - _SLACK <= occurred]
            if match:
                pending.remove(match[0])
                self.ledger.detected(match[0], "head-end", f"alert {kind}", raised)
        self.ledger.units_by_day[self.day] = int(self.day_energy.sum() // 1000)

    def run(self, progress: Progress | None) -> None:
        ids = [m.meter_id for m in self.meters]
        with open_carriers(
            self.opt.transport, self.switches, ids, mqtt=self.opt.mqtt, timeout=3.0
        ) as carriers:
            for m in ids:
                gate = _Gate(carriers[m], self.clock)
                self.gates[m] = gate
                self.links[m] = self.injector.wrap(m, gate)
            for i in range(len(self.meters)):
                self.schedule_call(i)
            self.schedule_scenario()
            for day in range(self.opt.days):
                self.day = day
                day_start = self.world.start + timedelta(days=day)
                self.day_energy = self.world.load(day, day_start.date())
                if self.day_energy.shape != (len(self.meters), self.per_day):
                    raise SimError(
                        f"the load source gave an array of shape {self.day_energy.shape} for "
                        f"day {day}; expected {(len(self.meters), self.per_day)}"
                    )
                day_end = day_start + timedelta(days=1)
                while self.heap and self.heap[0][0] < day_end:
                    when, _, action = heapq.heappop(self.heap)
                    self.clock.set(max(when, self.clock.now()))
                    action()
                self.clock.set(max(day_end, self.clock.now()))
                self.end_of_day()
                if progress is not None:
                    progress(day + 1, self.opt.days, self.ledger)
            if self.waiting:  # a window still open at the end: the head-end answers it now
                self.answer_calls()
            self.ledger.worker_uplinks = [sw.handled for sw in self.switches]
            for link in self.links.values():
                for held in list(link.held):
                    try:
                        link.inner.exchange(held.uplink)
                    except EnvironmentFault:
                        continue
                link.held = []
            self.check_recovery()

    def check_recovery(self) -> None:
        """After the run, with every link, mains and head-end healthy again, each meter must
        get an authentic answer within a few calls; one that cannot is stuck (a liveness
        failure: it would stay unacknowledged, and blocked, for ever)."""
        self.armed.clear()
        now = self.clock.now()
        for i, meter in enumerate(self.meters):
            if not self.powered[i]:
                self.powered[i] = True
                meter.power(True, now)
            gate = self.gates[meter.meter_id]
            gate.down_until = None
            last: str = ""
            for attempt in range(1, 4):
                at = now + timedelta(minutes=10 * attempt)
                try:
                    uplink = meter.make_uplink(at)
                    self.uplinks[meter.meter_id].append(uplink)
                    meter.accept_downlink(gate.exchange(uplink), at)
                except SealmeterError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                break
            else:
                reason = self.last_rejection(meter.meter_id) or last
                self.ledger.stuck[meter.meter_id] = reason
            self.note_block(i)

    def last_rejection(self, meter_id: str) -> str:
        """The head-end's verdict on the meter's last uplink, if it rejected it."""
        uplinks = self.uplinks.get(meter_id)
        if not uplinks:
            return ""
        verdict = self.world.headend.verdict(uplinks[-1])
        return f"head-end: {verdict.reason}" if verdict is not None and verdict.rejected else ""


def run_simulation(world: World, options: SimOptions, progress: Progress | None = None) -> Ledger:
    """Run `world` through `options.scenario` for `options.days` days; return the ledger."""
    if options.meters != len(world.meters):
        raise SimError(f"options say {options.meters} meters, the world has {len(world.meters)}")
    ledger = Ledger(
        scenario=options.scenario.name,
        transport=options.transport,
        store=options.store,
        seed=options.seed,
        meters=options.meters,
        days=options.days,
    )
    began = time.perf_counter()
    engine = _Engine(world, options, ledger)
    engine.run(progress)
    end = world.start + timedelta(days=options.days)
    stored = world.headend.stored()
    for meter in world.meters:
        acct = ledger.meter_units(meter.meter_id)
        mine = stored.get(meter.meter_id, {})
        acct.measured = meter.measured_units()
        acct.counted = meter.counted_units()
        acct.stored = sum(mine.values())
        acct.queued = meter.unstored_units(frozenset(mine))
        for band, units in meter.usage_by_band().items():
            ledger.usage_by_band[band] += units
    ledger.registrations = world.headend.registrations()
    ledger.bills = world.headend.bills(world.start, end)
    for incs in engine.pending_tamper.values():
        for inc in incs:
            ledger.accepted(inc, end, "never reported to the head-end")
    ledger.settle()
    ledger.wall_s = time.perf_counter() - began
    return ledger
