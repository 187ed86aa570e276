"""A meter's usage so far in its billing month, per register: where tiered prices stand.

Block (tiered) prices depend on what the register used earlier in the billing month. The
meter keeps that in its chain record (`month`, `month_usage`); the head-end rebuilds the same
numbers from the registrations it stores, in sequence order, with the meter's rule:

- a registration's segment starts at the previous registration's time and belongs to the
  billing month it *started* in, in the local time of the schedule it names (the schedule in
  force at the start of its segment), UTC without a schedule;
- the usage before it is the sum of the same register's usage over the earlier
  registrations of that month (across schedule versions), and nothing at a month change.

The start of a meter's very first registration (seq 1), and of the first one of a replay
window, is not on the wire; it is taken as just before the registration's own time, which is
exact whenever a segment does not span a month boundary (segments are cut at the
registration period's ends, local midnights for daily periods).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["REPLAY_SPAN", "MonthUsage", "billing_month"]

REPLAY_SPAN = timedelta(days=40)
"""How far back from a meter's last registration the head-end replays to rebuild its month."""

_TICK = timedelta(microseconds=1)


def billing_month(start: datetime, zone: ZoneInfo | None) -> str:
    """The billing month ("YYYY-MM") of a segment starting at `start`, local to `zone`."""
    return start.astimezone(zone or UTC).strftime("%Y-%m")


@dataclass(slots=True)
class MonthUsage:
    """Per register usage of a meter in the month of its last registration `seq`."""

    seq: int = 0
    time: datetime | None = None  # time of registration `seq`: the next segment's start
    month: str = ""
    usage: dict[str, int] = field(default_factory=dict)

    def before(self, seq: int, time: datetime, zone: ZoneInfo | None) -> tuple[str, dict[str, int]]:
        """The month of registration `seq` (at `time`) and each register's usage before it."""
        start = self.time if (self.time is not None and seq == self.seq + 1) else time - _TICK
        month = billing_month(start, zone)
        if self.month and month == self.month and seq == self.seq + 1:
            return month, self.usage
        return month, {}

    def add(
        self,
        seq: int,
        time: datetime,
        month: str,
        before: dict[str, int],
        used: Iterable[tuple[str, int]],
    ) -> MonthUsage:
        """The state after registration `seq` used `used` ((register, usage) pairs)."""
        usage = dict(before)
        for obis, amount in used:
            usage[obis] = usage.get(obis, 0) + amount
        return MonthUsage(seq, time, month, usage)
