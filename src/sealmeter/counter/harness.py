"""The exhaustive power-cut harness: proves a counter design loses and invents nothing.

For a sequence of `record(n)` calls, the harness runs each call once cleanly (counting the
primitive operations it takes), then, from a snapshot taken before the call, replays it with a
power cut during every one of those primitives in turn, under several tears: the operation did
nothing, it completed, a random subset of its bits changed (with or without weak bits), and,
when it changes at most `exhaustive_bits` bits, every subset. After each cut it powers the part
on, opens the counter again (which runs recovery) and checks:

- the value did not decrease and does not exceed the value before the call plus n;
- every call that returned is counted exactly (the clean run's value after each call);
- reopening gives the same value again, and the counter keeps counting exactly.

With `double_cuts`, each cut inside a call that updates the coded value (three or more
primitives) is followed by a second cut at every primitive of the recovery. Failures are
reported with everything needed to replay them (design, call index, cut, tear, seed).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sealmeter.counter.base import UnitCounter
from sealmeter.counter.designs import Config, Design, format_counter, open_counter
from sealmeter.errors import SealmeterError
from sealmeter.nvm import Eeprom, FaultPlan, NorFlash, PowerCut, TearMode

__all__ = ["TearReport", "random_calls", "run_tear_harness"]

Part = Eeprom | NorFlash


@dataclass
class TearReport:
    """Outcome of a harness run: how many cuts were injected and what broke."""

    cuts: int = 0
    violations: int = 0
    calls: int = 0
    primitives: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: TearReport) -> None:
        """Accumulate another run's figures into this one."""
        self.cuts += other.cuts
        self.violations += other.violations
        self.calls += other.calls
        self.primitives += other.primitives
        self.failures.extend(other.failures[: max(0, 20 - len(self.failures))])


def random_calls(rng: random.Random, count: int, big: int = 40) -> list[int]:
    """A call sequence mixing zero, single units, small bursts and calls bigger than area A."""
    choices = [0, 1, 1, 1, 2, 3, 5, 8, big]
    return [rng.choice(choices) for _ in range(count)]


def _variants(
    changing: int, exhaustive_bits: int, rng: random.Random, weak: bool
) -> list[FaultPlan]:
    seed = rng.getrandbits(32)
    plans = [
        FaultPlan(seed=seed, tear=TearMode.NOTHING),
        FaultPlan(seed=seed, tear=TearMode.COMPLETE),
    ]
    if 0 < changing <= exhaustive_bits:
        plans += [
            FaultPlan(seed=seed, tear=TearMode.SUBSET, tear_subset=s)
            for s in range(1, (1 << changing) - 1)
        ]
    elif changing > exhaustive_bits:
        plans.append(FaultPlan(seed=seed, tear=TearMode.RANDOM))
        plans.append(FaultPlan(seed=seed + 1, tear=TearMode.RANDOM))
    if weak and changing:
        plans.append(FaultPlan(seed=seed + 2, tear=TearMode.RANDOM, weak_on_tear=True))
    return plans


def _with_cut(plan: FaultPlan, cut_at: int) -> FaultPlan:
    return FaultPlan(
        seed=plan.seed,
        cut_at=cut_at,
        tear=plan.tear,
        tear_subset=plan.tear_subset,
        weak_on_tear=plan.weak_on_tear,
    )


def run_tear_harness(
    make_part: Callable[[], Part],
    design: Design,
    calls: Sequence[int],
    *,
    config: Config | None = None,
    region_size: int | None = None,
    seed: int = 0,
    exhaustive_bits: int = 3,
    weak: bool = True,
    double_cuts: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TearReport:
    """Run `calls` on a fresh part, cutting power at every primitive of every call."""
    rng = random.Random(seed)
    part = make_part()
    size = region_size or part.geometry.size
    counter = format_counter(design, part.region("counter", size), config)
    report = TearReport(calls=len(calls))
    label = f"{design.value}/{part.geometry.technology.value}/erased={part.geometry.erased:#04x}"

    def fail(msg: str) -> None:
        report.violations += 1
        if len(report.failures) < 20:
            report.failures.append(f"{label} seed={seed}: {msg}")

    def open_armed(p: Part) -> UnitCounter:
        return open_counter(design, p.region("counter", size), config)

    def reopen(p: Part) -> UnitCounter:
        p.power_on()
        p.inject(FaultPlan(seed=rng.getrandbits(32)))  # fresh randomness for weak reads
        return open_armed(p)

    def check_after(p: Part, before: int, n: int, where: str) -> None:
        try:
            c = reopen(p)
            got = c.value
            if not before <= got <= before + n:
                fail(f"{where}: value {got} outside [{before}, {before + n}]")
                return
            again = reopen(p).value
            if again != got:
                fail(f"{where}: value {got} then {again} on a second open")
                return
            c = reopen(p)
            if c.record(1) != got + 1 or reopen(p).value != got + 1:
                fail(f"{where}: counter does not count exactly after recovery")
        except SealmeterError as exc:
            fail(f"{where}: {type(exc).__name__}: {exc}")

    for i, n in enumerate(calls):
        snapshot = copy.deepcopy((part, counter))
        before = counter.value
        ops0 = part.ops
        try:
            after = counter.record(n)
        except SealmeterError as exc:
            fail(f"call {i} (n={n}) failed without a cut: {exc}")
            return report
        k = part.ops - ops0
        report.primitives += k
        if after != before + n:
            fail(f"call {i} returned {after}, expected {before + n}")
        log = part.op_log[-k:] if k else []
        for j in range(1, k + 1):
            for variant in _variants(log[j - 1].changing_bits, exhaustive_bits, rng, weak):
                p, c = copy.deepcopy(snapshot)
                p.inject(_with_cut(variant, j))
                where = f"call {i} (n={n}) cut at primitive {j}/{k} tear={variant.tear.value}"
                try:
                    c.record(n)
                    fail(f"{where}: no power cut happened")
                    continue
                except PowerCut:
                    pass
                except SealmeterError as exc:
                    fail(f"{where}: {type(exc).__name__} instead of a power cut: {exc}")
                    continue
                report.cuts += 1
                if double_cuts and k >= 3:
                    _second_cuts(p, open_armed, check_after, before, n, where, report, rng)
                check_after(p, before, n, where)
        if progress is not None:
            progress(i + 1, len(calls))
    return report


def _second_cuts(
    part: Part,
    open_armed: Callable[[Part], UnitCounter],
    check_after: Callable[[Part, int, int, str], None],
    before: int,
    n: int,
    where: str,
    report: TearReport,
    rng: random.Random,
) -> None:
    """Cut again at every primitive of the recovery that follows the first cut."""
    probe = copy.deepcopy(part)
    probe.power_on()
    probe.inject(None)
    ops0 = probe.ops
    try:
        open_armed(probe)
    except SealmeterError:
        return  # the single-cut check reports it
    steps = probe.ops - ops0
    for j2 in range(1, steps + 1):
        p = copy.deepcopy(part)
        p.power_on()
        p.inject(FaultPlan(seed=rng.getrandbits(32), cut_at=j2, tear=TearMode.RANDOM))
        try:
            open_armed(p)
            # weak bits read differently this time and recovery took a shorter path
            check_after(p, before, n, f"{where} + no second cut at recovery primitive {j2}")
        except PowerCut:
            report.cuts += 1
            check_after(p, before, n, f"{where} + second cut at recovery primitive {j2}")
        except SealmeterError as exc:
            report.violations += 1
            report.failures.append(f"{where} + second cut {j2}: {type(exc).__name__}: {exc}")
