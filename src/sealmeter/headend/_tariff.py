"""The head-end's seam to the tariff core: the charge of one register's usage over a segment."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sealmeter.headend._schedules import ParsedSchedule

__all__ = ["register_charge"]


def register_charge(
    schedule: ParsedSchedule, obis: str, usage: int, start: datetime | None, end: datetime
) -> Decimal | None:
    """The charge for `usage` units on register `obis` in `[start, end)`; None if not priced."""
    prices = schedule.schedule.get("prices") if isinstance(schedule.schedule, dict) else None
    if not isinstance(prices, dict) or obis not in prices:
        return None
    price = Decimal(str(prices[obis]))
    return (price * usage).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
