"""Billing and reconciliation: recompute each registration's charge, sum bills per customer.

At ingest, every registration's charge is recomputed per register from its usage and the
schedule version it names (`recompute_registers`); the result is stored beside the meter's own
charge, and any difference raises a `charge_mismatch` alert. A bill sums the stored
registrations of a customer's meters over a period.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sealmeter.headend._schedules import ParsedSchedule
from sealmeter.headend._tariff import register_charge
from sealmeter.protocol.messages import Registration
from sealmeter.store import Bill, BillLine, RegisterReading, Store

__all__ = ["compute_bill", "customer_refs", "recompute_registers"]


def recompute_registers(
    reg: Registration, schedule: ParsedSchedule | None, start: datetime | None
) -> tuple[tuple[RegisterReading, ...], Decimal | None]:
    """Registers of `reg` with the head-end's charge beside the meter's, and the total.

    The total is None when the schedule is unknown (then nothing can be reconciled).
    """
    out: list[RegisterReading] = []
    total: Decimal | None = Decimal(0) if schedule is not None else None
    for r in reg.registers:
        expected = (
            None
            if schedule is None
            else register_charge(schedule, r.obis, r.usage, start, reg.time)
        )
        out.append(RegisterReading(r.obis, r.usage, r.charge, expected))
        if total is not None:
            total = None if expected is None else total + expected
    return tuple(out), total


def customer_refs(store: Store) -> list[str]:
    """Every customer with at least one meter."""
    return store.customer_refs()


def compute_bill(store: Store, customer_ref: str, start: datetime, end: datetime) -> Bill:
    """The bill of `customer_ref` for `[start, end)`: per register and in total."""
    meters = store.meters_of_customer(customer_ref)
    ids = tuple(m.meter_id for m in meters)
    regs = store.registrations_between(ids, start, end) if ids else []
    usage: dict[str, int] = defaultdict(int)
    charge: dict[str, Decimal] = defaultdict(Decimal)
    total = Decimal(0)
    meter_total = Decimal(0)
    mismatches = 0
    for reg in regs:
        for r in reg.registers:
            usage[r.register] += r.usage
            charge[r.register] += r.expected if r.expected is not None else r.charge
        total += reg.expected_charge if reg.expected_charge is not None else reg.charge
        meter_total += reg.charge
        if not reg.reconciled:
            mismatches += 1
    lines = tuple(BillLine(k, usage[k], charge[k]) for k in sorted(usage))
    return Bill(
        customer_ref=customer_ref,
        meter_ids=ids,
        period_start=start,
        period_end=end,
        lines=lines,
        total_usage=sum(usage.values()),
        total=total,
        meter_total=meter_total,
        registrations=len(regs),
        mismatches=mismatches,
        currency="EUR",
    )
