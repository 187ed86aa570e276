"""Seeded, deterministic fault plans for the simulated memory.

A `FaultPlan` says what goes wrong and when: a power cut during the k-th primitive operation
(write, program or erase) counted from the moment the plan is armed, how that operation tears,
whether torn bits are left weak, which cell groups behave like the bad blocks of a failing part,
and what happens to a cell group written past its endurance. A `FaultInjector` executes a plan
with its own `random.Random(seed)`, so every fault is reproducible from the plan alone.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from sealmeter.nvm.errors import NvmUsageError

__all__ = ["BadMode", "FaultInjector", "FaultPlan", "TearMode", "WearMode"]


class TearMode(enum.Enum):
    """What an operation interrupted by a power cut leaves behind."""

    NOTHING = "nothing"
    """The operation did not start: no bit changed (an erase that did nothing)."""
    COMPLETE = "complete"
    """The operation finished, then power failed before the caller learned it."""
    RANDOM = "random"
    """An arbitrary random subset of the bits it was changing did change."""
    SUBSET = "subset"
    """Exactly the subset numbered `FaultPlan.tear_subset` (bit i = i-th changing bit)."""


class BadMode(enum.Enum):
    """How a bad cell group of a failing part misbehaves."""

    PROGRAM_ERROR = "program_error"
    """Writes and programs raise `ProgramFailed` and change nothing."""
    ERASE_ERROR = "erase_error"
    """Erases raise `EraseFailed` and change nothing."""
    READ_ERROR = "read_error"
    """Reads raise `ReadFailed`."""
    PROGRAM_NOOP = "program_noop"
    """Writes and programs return normally but change nothing."""
    ERASE_NOOP = "erase_noop"
    """Erases return normally but change nothing."""


class WearMode(enum.Enum):
    """What a write to a cell group past its endurance does."""

    STUCK_BITS = "stuck_bits"
    """The write completes, except one changing bit sticks at its old value for good."""
    FAIL = "fail"
    """The write raises `WornOut` and changes nothing."""
    NONE = "none"
    """Wear is only counted (useful to measure lifetimes)."""


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong on a device, all of it deterministic given `seed`.

    `cut_at` is the 1-based number of the primitive operation (counted from when the plan is
    armed) during which power fails; `None` means no cut. `tear` and `tear_subset` say what the
    interrupted operation leaves. `weak_on_tear` makes each bit the torn operation was changing
    weak with probability one half: it reads back at random until rewritten.
    """

    seed: int = 0
    cut_at: int | None = None
    tear: TearMode = TearMode.RANDOM
    tear_subset: int = 0
    weak_on_tear: bool = False
    bad_groups: Mapping[int, BadMode] = field(default_factory=dict)
    wear: WearMode = WearMode.STUCK_BITS

    def __post_init__(self) -> None:
        """Reject plans that cannot be executed."""
        if self.cut_at is not None and self.cut_at < 1:
            raise NvmUsageError(f"cut_at={self.cut_at} must be >= 1 (1 = the next operation)")
        if self.tear_subset < 0:
            raise NvmUsageError(f"tear_subset={self.tear_subset} must be >= 0")


class FaultInjector:
    """Executes a `FaultPlan`: counts primitives since arming and decides each fault."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        """Arm `plan` (or a fault-free plan)."""
        self.plan = plan if plan is not None else FaultPlan()
        self.rng = random.Random(self.plan.seed)
        self.primitives = 0

    def next_primitive_is_cut(self) -> bool:
        """Count one more primitive; return True when power fails during it."""
        self.primitives += 1
        return self.plan.cut_at is not None and self.primitives == self.plan.cut_at

    def bad_mode(self, group: int) -> BadMode | None:
        """The bad-block behaviour of cell group `group`, if any."""
        return self.plan.bad_groups.get(group)

    def tear_mask(self, changing: int, nbits: int) -> int:
        """Choose which of the `changing` bits (a mask over `nbits` bits) actually changed."""
        mode = self.plan.tear
        if mode is TearMode.NOTHING:
            return 0
        if mode is TearMode.COMPLETE:
            return changing
        positions = [i for i in range(nbits) if changing >> i & 1]
        chosen = 0
        if mode is TearMode.SUBSET:
            for k, pos in enumerate(positions):
                if self.plan.tear_subset >> k & 1:
                    chosen |= 1 << pos
            return chosen
        for pos in positions:
            if self.rng.random() < 0.5:
                chosen |= 1 << pos
        return chosen

    def weak_mask(self, changing: int, nbits: int) -> int:
        """Choose which changing bits a torn operation leaves weak."""
        if not self.plan.weak_on_tear:
            return 0
        weak = 0
        for i in range(nbits):
            if changing >> i & 1 and self.rng.random() < 0.5:
                weak |= 1 << i
        return weak
