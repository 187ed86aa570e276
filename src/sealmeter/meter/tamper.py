"""Tamper defence: housing switch S1 with inspection switch S2, seal loop, bypass detector.

Each detector is a table-driven machine whose detections are *latched*: once seen, a detection
stays visible (display, status message) until an authorised inspection resets it, which needs
the inspector's key on S2 *and* a server-signed inspection-reset command. A detection is
reported once, with the instant it was made (`Detection`).

- **Housing (S1, S2)**: opening the housing without the inspection key latches `HOUSING_OPENED`
  (the seed's LEDs "indicate an unauthorized opening even after the housing has been closed").
- **Seal loop**: a conductor loop over the housing is checked with pulses that can be
  allocated to their time (a fresh pattern each check); a pattern that does not come back
  (loop broken by drilling, or bridged by a replacement that cannot echo it) latches
  `SEAL_LOOP_BROKEN`.
- **Bypass**: supply-side and load-side currents that disagree by more than a threshold for
  longer than a set time latch `BYPASS` (short disagreements, e.g. inrush, are ignored).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sealmeter.meter.errors import MeterConfigError
from sealmeter.meter.fsm import Table

__all__ = [
    "BypassDetector",
    "BypassPolicy",
    "BypassState",
    "Detection",
    "DetectionKind",
    "HousingEvent",
    "HousingState",
    "LoopEvent",
    "LoopState",
    "SealLoop",
    "housing_after",
    "loop_after",
]


class DetectionKind(enum.Enum):
    """The kinds of detection the module reports (names as on the wire)."""

    HOUSING_OPENED = "housing-opened"
    SEAL_LOOP_BROKEN = "seal-loop-broken"
    BYPASS = "bypass"
    SUPPLY_OUTAGE = "supply-outage"
    MODULE_REMOVED = "module-removed"
    BATTERY_EXHAUSTED = "battery-exhausted"
    AUTHORISED_OPENING = "authorised-opening"


@dataclass(frozen=True)
class Detection:
    """One detection: what, when it was made, and (for gaps) when the condition began/ended."""

    kind: DetectionKind
    at: datetime
    since: datetime | None = None
    until: datetime | None = None


class HousingState(enum.Enum):
    """The housing: sealed, opened without authority (latched), or under inspection."""

    SEALED = "sealed"
    TAMPERED = "tampered"
    INSPECTING = "inspecting"
    INSPECTING_AFTER_TAMPER = "inspecting-after-tamper"


class HousingEvent(enum.Enum):
    """S1 opened, S2 turned with the inspector's key, or the server's inspection reset."""

    S1_OPENED = "s1-opened"
    S2_KEY = "s2-key"
    INSPECTION_RESET = "inspection-reset"


HOUSING: Table[HousingState, HousingEvent] = Table(
    "housing switch",
    {
        HousingState.SEALED: {
            HousingEvent.S1_OPENED: HousingState.TAMPERED,
            HousingEvent.S2_KEY: HousingState.INSPECTING,
        },
        HousingState.TAMPERED: {
            HousingEvent.S1_OPENED: HousingState.TAMPERED,
            HousingEvent.S2_KEY: HousingState.INSPECTING_AFTER_TAMPER,
        },
        HousingState.INSPECTING: {
            HousingEvent.S1_OPENED: HousingState.INSPECTING,
            HousingEvent.S2_KEY: HousingState.INSPECTING,
            HousingEvent.INSPECTION_RESET: HousingState.SEALED,
        },
        HousingState.INSPECTING_AFTER_TAMPER: {
            HousingEvent.S1_OPENED: HousingState.INSPECTING_AFTER_TAMPER,
            HousingEvent.S2_KEY: HousingState.INSPECTING_AFTER_TAMPER,
            HousingEvent.INSPECTION_RESET: HousingState.SEALED,
        },
    },
)


def housing_after(state: HousingState, event: HousingEvent) -> HousingState:
    """The housing state after `event`; a reset without the S2 key is an illegal move."""
    return HOUSING.fire(state, event)


class LoopState(enum.Enum):
    """The seal conductor loop: intact, or broken (latched)."""

    INTACT = "intact"
    BROKEN = "broken"


class LoopEvent(enum.Enum):
    """A pulse came back as sent, did not, or an inspection reset the latch."""

    PULSE_OK = "pulse-ok"
    PULSE_LOST = "pulse-lost"
    INSPECTION_RESET = "inspection-reset"


LOOP: Table[LoopState, LoopEvent] = Table(
    "seal loop",
    {
        LoopState.INTACT: {
            LoopEvent.PULSE_OK: LoopState.INTACT,
            LoopEvent.PULSE_LOST: LoopState.BROKEN,
            LoopEvent.INSPECTION_RESET: LoopState.INTACT,
        },
        LoopState.BROKEN: {
            LoopEvent.PULSE_OK: LoopState.BROKEN,
            LoopEvent.PULSE_LOST: LoopState.BROKEN,
            LoopEvent.INSPECTION_RESET: LoopState.INTACT,
        },
    },
)


def loop_after(state: LoopState, event: LoopEvent) -> LoopState:
    """The seal loop state after `event` (a break stays latched until inspection)."""
    return LOOP.fire(state, event)


class BypassState(enum.Enum):
    """Currents agree, disagree since some instant (suspect), or a bypass was detected."""

    NORMAL = "normal"
    SUSPECT = "suspect"
    DETECTED = "detected"


class BypassEvent(enum.Enum):
    """The currents agree, disagree, have disagreed long enough, or inspection reset."""

    AGREE = "agree"
    DISAGREE = "disagree"
    SUSTAINED = "sustained"
    INSPECTION_RESET = "inspection-reset"


BYPASS: Table[BypassState, BypassEvent] = Table(
    "bypass detector",
    {
        BypassState.NORMAL: {
            BypassEvent.AGREE: BypassState.NORMAL,
            BypassEvent.DISAGREE: BypassState.SUSPECT,
            BypassEvent.INSPECTION_RESET: BypassState.NORMAL,
        },
        BypassState.SUSPECT: {
            BypassEvent.AGREE: BypassState.NORMAL,
            BypassEvent.DISAGREE: BypassState.SUSPECT,
            BypassEvent.SUSTAINED: BypassState.DETECTED,
            BypassEvent.INSPECTION_RESET: BypassState.NORMAL,
        },
        BypassState.DETECTED: {
            BypassEvent.AGREE: BypassState.DETECTED,
            BypassEvent.DISAGREE: BypassState.DETECTED,
            BypassEvent.SUSTAINED: BypassState.DETECTED,
            BypassEvent.INSPECTION_RESET: BypassState.NORMAL,
        },
    },
)


@dataclass(frozen=True)
class BypassPolicy:
    """A bypass is a current disagreement above `threshold_a` amperes (or `threshold_ratio` of
    the supply current, whichever is larger) lasting at least `duration`."""

    threshold_a: float = 0.5
    threshold_ratio: float = 0.05
    duration: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        """Reject negative thresholds and a non-positive duration."""
        if self.threshold_a < 0 or self.threshold_ratio < 0:
            raise MeterConfigError("bypass thresholds must not be negative")
        if self.duration <= timedelta(0):
            raise MeterConfigError(f"bypass duration {self.duration} must be positive")

    def disagree(self, supply_a: float, load_a: float) -> bool:
        """Whether two current readings disagree beyond the threshold.

        A reading that is not a finite number (a failing or manipulated sensor) counts as a
        disagreement: fail-safe, it can never clear a suspected bypass, and a sensor that
        keeps giving none ends in a bypass detection an inspector must look at.
        """
        if not (math.isfinite(supply_a) and math.isfinite(load_a)):
            return True
        limit = max(self.threshold_a, self.threshold_ratio * abs(supply_a))
        return abs(supply_a - load_a) > limit


@dataclass(frozen=True)
class BypassDetector:
    """The bypass detector's state, and since when the currents disagree."""

    state: BypassState = BypassState.NORMAL
    since: datetime | None = None

    def observe(
        self, policy: BypassPolicy, now: datetime, supply_a: float, load_a: float
    ) -> tuple[BypassDetector, Detection | None]:
        """Take one pair of current readings at `now`; return the new state and a new detection."""
        if not policy.disagree(supply_a, load_a):
            state = BYPASS.fire(self.state, BypassEvent.AGREE)
            return BypassDetector(state, None if state is BypassState.NORMAL else self.since), None
        if self.state is BypassState.NORMAL:
            return BypassDetector(BYPASS.fire(self.state, BypassEvent.DISAGREE), now), None
        since = self.since if self.since is not None else now
        if self.state is BypassState.SUSPECT and now - since >= policy.duration:
            detected = BypassDetector(BYPASS.fire(self.state, BypassEvent.SUSTAINED), since)
            return detected, Detection(DetectionKind.BYPASS, now, since=since)
        return replace(self, state=BYPASS.fire(self.state, BypassEvent.DISAGREE)), None

    def reset(self) -> BypassDetector:
        """Clear the latch after an authorised inspection."""
        return BypassDetector(BYPASS.fire(self.state, BypassEvent.INSPECTION_RESET), None)


class SealLoop:
    """The seal conductor loop as hardware: it echoes a pulse pattern while it is intact."""

    def __init__(self) -> None:
        """An intact loop."""
        self.intact = True
        self.bridged = False

    def echo(self, pattern: bytes) -> bytes | None:
        """What comes back on P2 when `pattern` is sent on P1."""
        if self.bridged:
            return bytes(len(pattern))
        return pattern if self.intact else None
