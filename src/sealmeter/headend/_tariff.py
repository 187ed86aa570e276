"""The head-end's seam to the tariff core: the same charge function the meter uses."""

from __future__ import annotations

from decimal import Decimal

from sealmeter.headend._schedules import ParsedSchedule
from sealmeter.tariff import TariffError, segment_charge

__all__ = ["register_charge"]


def register_charge(schedule: ParsedSchedule, obis: str, usage_wh: int) -> Decimal | None:
    """The exact charge of `usage_wh` on register `obis` (None: the schedule has no such register).

    Tiered bands are charged from their first tier (`used_before_wh=0`): the meter and the
    head-end agree on that for one registration's segment.
    """
    try:
        return segment_charge(schedule.schedule, obis, usage_wh, 0)
    except TariffError:
        return None
