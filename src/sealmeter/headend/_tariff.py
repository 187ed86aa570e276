"""The head-end's seam to the tariff core: the same charge function the meter uses."""

from __future__ import annotations

from decimal import Decimal

from sealmeter.headend._schedules import ParsedSchedule
from sealmeter.tariff import TariffError, segment_charge

__all__ = ["register_charge"]


def register_charge(
    schedule: ParsedSchedule, obis: str, usage_wh: int, used_before_wh: int = 0
) -> Decimal | None:
    """The exact charge of `usage_wh` on register `obis` (None: the schedule has no such register).

    `used_before_wh` is the register's usage earlier in the billing month: where a tiered
    band's blocks stand (see `sealmeter.headend._tiers`); flat bands ignore it.
    """
    try:
        return segment_charge(schedule.schedule, obis, usage_wh, used_before_wh)
    except TariffError:
        return None
