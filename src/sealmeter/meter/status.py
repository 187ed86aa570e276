"""The status message and the display: what the module tells the head-end and the customer.

`build_status` assembles the protocol's `Status` (the seed's list: tamper detections with their
times, schedule version and validity, peak load and its time, next communication deadline,
battery, clock). `Display` is the simulated LCD and bi-colour status LED: registers, credit,
relay, tamper flags; `render()` gives its lines as text.

LED: green steady = supplying and sealed; amber = a call failed or is overdue; red blinking =
output blocked; red steady = a tamper detection is latched (it stays until an authorised
inspection resets it, "even after the housing has been closed again").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sealmeter.meter.credit import RelayState
from sealmeter.meter.power import PowerState
from sealmeter.meter.tamper import BypassState, DetectionKind, HousingState, LoopState
from sealmeter.meter.watchdog import CommState
from sealmeter.protocol import BatteryState, ClockState, Status, TamperEvent
from sealmeter.protocol import TamperKind as WireTamper

if TYPE_CHECKING:
    from sealmeter.meter._core import MeterCore
    from sealmeter.meter.module import Meter

__all__ = ["Display", "Led", "build_status", "display"]

_WIRE = {
    DetectionKind.HOUSING_OPENED: WireTamper.HOUSING_OPENED,
    DetectionKind.SEAL_LOOP_BROKEN: WireTamper.SEAL_LOOP_BROKEN,
    DetectionKind.BYPASS: WireTamper.BYPASS,
    DetectionKind.SUPPLY_OUTAGE: WireTamper.SUPPLY_OUTAGE,
    DetectionKind.MODULE_REMOVED: WireTamper.MODULE_REMOVED,
    DetectionKind.AUTHORISED_OPENING: WireTamper.AUTHORISED_OPENING,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _battery(fraction: float) -> tuple[BatteryState, int]:
    millivolts = round(3000 + 600 * fraction)
    if fraction <= 0:
        return BatteryState.FAILED, millivolts
    return (BatteryState.LOW if fraction < 0.2 else BatteryState.OK), millivolts


def build_status(meter: MeterCore, now: datetime) -> Status:
    """The status message at `now`, with the detections not yet acknowledged."""
    control = meter.control
    unreported = control.detections[len(control.detections) - control.unreported :]
    events = tuple(
        TamperEvent(_WIRE[d.kind], d.since if d.since is not None else d.at)
        for d in unreported
        if d.kind in _WIRE
    )
    schedule = meter.schedules.in_force(now)
    battery, millivolts = _battery(control.power.battery_fraction)
    peak = meter.journal
    return Status(
        meter_id=meter.meter_id,
        time=now,
        tamper_events=events,
        schedule_id="" if schedule is None else schedule.id,
        schedule_version=0 if schedule is None else schedule.version,
        schedule_valid_from=_EPOCH if schedule is None else schedule.valid_from,
        schedule_valid_to=None if schedule is None else schedule.valid_to,
        peak_load_w=min(peak.peak_w, 2**32 - 1),
        peak_load_time=peak.peak_at,
        next_contact=control.watchdog.next_call,
        battery=battery,
        battery_mv=millivolts,
        clock=ClockState.SYNCED if control.power.clock_valid else ClockState.LOST,
        firmware=meter.config.firmware,
        blocked=control.relay is not RelayState.SUPPLYING,
    )


class Led(enum.Enum):
    """The bi-colour status LED."""

    GREEN = "green"
    AMBER = "amber"
    RED_BLINKING = "red-blinking"
    RED = "red"


@dataclass(frozen=True)
class Display:
    """What the meter's LCD and LED show."""

    meter_id: str
    time: datetime
    registers: tuple[tuple[str, int, Decimal], ...]
    relay: RelayState
    outstanding: Decimal
    credit_time_left: timedelta | None
    credit_charge_left: Decimal | None
    currency: str
    flags: tuple[str, ...]
    led: Led
    next_call: datetime
    schedule: str
    battery_pct: int
    power: PowerState

    def render(self) -> list[str]:
        """The display as text lines."""
        lines = [f"meter {self.meter_id}   {self.time.isoformat()}"]
        for obis, wh, charge in self.registers:
            lines.append(f"  {obis:<7} {wh / 1000:>12.3f} kWh  {charge:>12.4f} {self.currency}")
        credit = []
        if self.credit_time_left is not None:
            credit.append(f"{self.credit_time_left} left")
        if self.credit_charge_left is not None:
            credit.append(f"{self.credit_charge_left:.2f} {self.currency} left")
        lines.append(
            f"  credit  outstanding {self.outstanding:.2f} {self.currency}; "
            + ("; ".join(credit) or "no limit")
        )
        lines.append(f"  relay   {self.relay.value}   LED {self.led.value}")
        lines.append(f"  tamper  {', '.join(self.flags) or 'none'}")
        lines.append(f"  tariff  {self.schedule or 'none in force'}")
        lines.append(f"  power   {self.power.value}, battery {self.battery_pct} %")
        lines.append(f"  next call {self.next_call.isoformat()}")
        return lines


def display(meter: Meter, now: datetime) -> Display:
    """The display of `meter` at `now`."""
    control = meter.control
    flags = []
    if control.housing in (HousingState.TAMPERED, HousingState.INSPECTING_AFTER_TAMPER):
        flags.append("HOUSING OPENED")
    if control.housing in (HousingState.INSPECTING, HousingState.INSPECTING_AFTER_TAMPER):
        flags.append("INSPECTION")
    if control.loop is LoopState.BROKEN:
        flags.append("SEAL LOOP BROKEN")
    if control.bypass.state is BypassState.DETECTED:
        flags.append("BYPASS")
    if not control.power.clock_valid:
        flags.append("CLOCK LOST")
    latched = any(f in flags for f in ("HOUSING OPENED", "SEAL LOOP BROKEN", "BYPASS"))
    if control.relay is not RelayState.SUPPLYING:
        led = Led.RED_BLINKING
    elif latched:
        led = Led.RED
    elif control.watchdog.state is CommState.BACKOFF or now > control.watchdog.next_call:
        led = Led.AMBER
    else:
        led = Led.GREEN
    outstanding = meter.outstanding_charge()
    time_left, charge_left = control.grant.remaining(now, outstanding)
    schedule = meter.schedules.in_force(now)
    totals = meter.register_totals()
    return Display(
        meter_id=meter.meter_id,
        time=now,
        registers=tuple((o, u, c) for o, (u, c) in sorted(totals.items())),
        relay=control.relay,
        outstanding=outstanding,
        credit_time_left=time_left,
        credit_charge_left=charge_left,
        currency="EUR" if schedule is None else schedule.currency,
        flags=tuple(flags),
        led=led,
        next_call=control.watchdog.next_call,
        schedule="" if schedule is None else f"{schedule.id} v{schedule.version}",
        battery_pct=round(100 * control.power.battery_fraction),
        power=control.power.state,
    )
