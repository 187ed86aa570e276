"""The voltage watchdog: mains, battery, and telling a supply outage from a removed meter.

The seed: on loss of mains the module "simply switches to the emergency supply via battery",
keeps its clock, and stores the time, "so that the separation from the energy supply network
can be subsequently distinguished from a voltage outage". On return the module reports the gap
(`since`, `until`). It classifies the gap itself as far as it can: if the housing switch S1 was
actuated while on battery (the seed: S1 is actuated on "removal of the security module"), the
gap is a `MODULE_REMOVED`; otherwise a `SUPPLY_OUTAGE`, which the head-end can confirm against
the other meters of the same feeder. If the battery runs out during the gap, the clock stopped:
`BATTERY_EXHAUSTED` is reported and the clock stays marked invalid until the head-end's next
authentic downlink.

    MAINS --lost--> BATTERY --returned--> MAINS
                    BATTERY --exhausted--> DEAD --returned--> MAINS
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sealmeter.meter.fsm import Table
from sealmeter.meter.tamper import Detection, DetectionKind

__all__ = ["PowerEvent", "PowerState", "VoltageWatchdog"]


class PowerState(enum.Enum):
    """Where the module takes its power from."""

    MAINS = "mains"
    BATTERY = "battery"
    DEAD = "dead"


class PowerEvent(enum.Enum):
    """What happens to the supply."""

    MAINS_LOST = "mains-lost"
    MAINS_RETURNED = "mains-returned"
    BATTERY_EXHAUSTED = "battery-exhausted"


TABLE: Table[PowerState, PowerEvent] = Table(
    "voltage watchdog",
    {
        PowerState.MAINS: {
            PowerEvent.MAINS_LOST: PowerState.BATTERY,
            PowerEvent.MAINS_RETURNED: PowerState.MAINS,
        },
        PowerState.BATTERY: {
            PowerEvent.MAINS_LOST: PowerState.BATTERY,
            PowerEvent.MAINS_RETURNED: PowerState.MAINS,
            PowerEvent.BATTERY_EXHAUSTED: PowerState.DEAD,
        },
        PowerState.DEAD: {PowerEvent.MAINS_RETURNED: PowerState.MAINS},
    },
)


@dataclass(frozen=True)
class VoltageWatchdog:
    """Supply state, the stored instant mains was lost, the battery left, removal suspicion."""

    state: PowerState = PowerState.MAINS
    lost_at: datetime | None = None
    battery_left: timedelta = timedelta(days=365)
    battery_capacity: timedelta = timedelta(days=365)
    opened_on_battery: bool = False
    clock_valid: bool = True

    @property
    def battery_fraction(self) -> float:
        """Battery charge left, 0..1."""
        return self.battery_left / self.battery_capacity

    def mains_lost(self, now: datetime) -> VoltageWatchdog:
        """Mains dropped at `now`: switch to battery and store the instant."""
        state = TABLE.fire(self.state, PowerEvent.MAINS_LOST)
        if self.state is PowerState.BATTERY:
            return self
        return replace(self, state=state, lost_at=now, opened_on_battery=False)

    def housing_opened(self) -> VoltageWatchdog:
        """S1 was actuated; on battery this marks the gap as a removal."""
        if self.state is PowerState.MAINS:
            return self
        return replace(self, opened_on_battery=True)

    def mains_returned(self, now: datetime) -> tuple[VoltageWatchdog, list[Detection]]:
        """Mains is back at `now`: report the gap (and a battery death inside it)."""
        if self.state is PowerState.MAINS or self.lost_at is None:
            return replace(self, state=TABLE.fire(self.state, PowerEvent.MAINS_RETURNED)), []
        spent = max(now - self.lost_at, timedelta(0))
        found: list[Detection] = []
        state: PowerState = self.state
        clock_valid = self.clock_valid
        if spent > self.battery_left:
            died = self.lost_at + self.battery_left
            state = TABLE.fire(state, PowerEvent.BATTERY_EXHAUSTED)
            found.append(Detection(DetectionKind.BATTERY_EXHAUSTED, died, since=died))
            clock_valid = False
        kind = (
            DetectionKind.MODULE_REMOVED if self.opened_on_battery else DetectionKind.SUPPLY_OUTAGE
        )
        found.insert(0, Detection(kind, now, since=self.lost_at, until=now))
        back = replace(
            self,
            state=TABLE.fire(state, PowerEvent.MAINS_RETURNED),
            lost_at=None,
            battery_left=max(self.battery_left - spent, timedelta(0)),
            opened_on_battery=False,
            clock_valid=clock_valid,
        )
        return back, found

    def clock_set(self) -> VoltageWatchdog:
        """An authentic downlink confirmed the time: the clock is valid again."""
        return self if self.clock_valid else replace(self, clock_valid=True)
