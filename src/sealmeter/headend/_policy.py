"""The head-end's tunable rules: enable-code lifetime, fleet-watch windows, outage threshold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

__all__ = ["Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """Rules the head-end applies; the defaults suit a daily-reporting electricity fleet.

    - `enable_code_validity`: how long an issued enable code stays valid on the meter.
    - `credit_limit`: the charge a meter may run up unconfirmed (the credit frame's amount).
    - `silence_grace`: slack past a meter's reporting interval before it counts as silent.
    - `outage_window`: power losses on one feeder within this span of each other are grouped.
    - `outage_min_meters`: a group of at least this many meters is an outage; fewer is a
      suspected removal.
    - `settle`: a power loss is classified only once this long has passed, so slower meters of
      the same feeder have had time to report theirs.
    """

    enable_code_validity: timedelta = timedelta(hours=1)
    credit_limit: Decimal = Decimal("100.00")
    silence_grace: timedelta = timedelta(hours=1)
    outage_window: timedelta = timedelta(minutes=5)
    outage_min_meters: int = 3
    settle: timedelta = timedelta(hours=1)
    batch_retries: int = 8
