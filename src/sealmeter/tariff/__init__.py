"""Tariffs: versioned time-of-use rate schedules, correct across calendars and DST, billed
exactly.

A pure core shared by the meter and the head-end so both agree to the cent:

- `RateSchedule` (load with `load_schedule`, `schedule_from_dict`, `schedule_from_urdb`;
  canonical `to_bytes()` / `RateSchedule.from_bytes()`; `digest()`).
- `ScheduleBook` / `band_at`: the band, register (OBIS) and price at an instant and the instant
  it next changes; newer versions take over at their `valid_from`, older never replace newer.
- `segment_charge`: the single source of truth for money of one constant-price segment;
  `round_money` is the one rounding rule of bill lines.
- `bill(schedules, UsageSeries) -> Bill`: vectorised bulk billing with registers, standing
  charge, demand charge on the peak, total.
"""

from sealmeter.tariff.billing import Bill, Peak, RegisterLine, bill
from sealmeter.tariff.book import BandAt, ScheduleBook, band_at, in_force
from sealmeter.tariff.errors import (
    MalformedScheduleBytes,
    NoScheduleInForce,
    ScheduleError,
    StaleSchedule,
    TariffError,
    UsageDataError,
)
from sealmeter.tariff.model import (
    Band,
    DayRule,
    DayType,
    RateSchedule,
    Season,
    Slot,
    StandingCharge,
    Tier,
)
from sealmeter.tariff.money import minor_unit_places, round_money, segment_charge
from sealmeter.tariff.schema import (
    load_schedule,
    schedule_from_bytes,
    schedule_from_dict,
    schedule_to_bytes,
    schedule_to_dict,
)
from sealmeter.tariff.shipped import load_shipped, shipped_names
from sealmeter.tariff.urdb import schedule_from_urdb
from sealmeter.tariff.usage import Interval, UsageSeries, parse_usage_csv

__all__ = [
    "Band",
    "BandAt",
    "Bill",
    "DayRule",
    "DayType",
    "Interval",
    "MalformedScheduleBytes",
    "NoScheduleInForce",
    "Peak",
    "RateSchedule",
    "RegisterLine",
    "ScheduleBook",
    "ScheduleError",
    "Season",
    "Slot",
    "StaleSchedule",
    "StandingCharge",
    "TariffError",
    "Tier",
    "UsageDataError",
    "UsageSeries",
    "band_at",
    "bill",
    "in_force",
    "load_schedule",
    "load_shipped",
    "minor_unit_places",
    "parse_usage_csv",
    "round_money",
    "schedule_from_bytes",
    "schedule_from_dict",
    "schedule_from_urdb",
    "schedule_to_bytes",
    "schedule_to_dict",
    "segment_charge",
    "shipped_names",
]
