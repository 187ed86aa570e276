"""Billing and reconciliation: recompute each registration's charge, sum bills per customer.

At ingest, every registration's charge is recomputed per register from its usage and the
schedule version it names (`registration_row`); the result is stored beside the meter's own
charge, and any difference raises a `charge_mismatch` alert. A bill sums the stored
registrations of a customer's meters over a period.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from sealmeter.headend._schedules import ParsedSchedule, parse_stored_schedule
from sealmeter.headend._tariff import register_charge
from sealmeter.headend.errors import HeadEndError
from sealmeter.protocol.messages import Registration, RegistrationKind
from sealmeter.store import Bill, BillLine, Store
from sealmeter.store._convert import to_us
from sealmeter.tariff import NoScheduleInForce, RateSchedule, UsageSeries, round_money
from sealmeter.tariff import bill as tariff_bill

__all__ = ["compute_bill", "customer_refs", "plain_rows", "registration_row"]


def registration_row(
    meter_id: str,
    reg: Registration,
    schedule: ParsedSchedule | None,
    received_us: int,
    before: dict[str, int] | None = None,
) -> tuple[tuple[Any, ...], Decimal, Decimal | None]:
    """A registration in stored form (`REGISTRATION_COLUMNS`), its charge and recomputed charge.

    The hot path of ingest: one pass over the registers builds the JSON, the sums and the
    recomputation, without intermediate records. `before` is each register's usage earlier
    in the billing month, for tiered bands (`sealmeter.headend._tiers`).
    """
    if schedule is None:  # nothing to recompute: the common case without a published schedule
        usage = 0
        charge = _ZERO
        parts: list[str] = []
        for r in reg.registers:
            usage += r.usage
            charge += r.charge
            parts.append(f'[{_quoted(r.obis)},{r.usage},"{r.charge}",null]')
        return _row(meter_id, reg, parts, usage, charge, None, received_us), charge, None
    parts = []
    usage = 0
    charge = Decimal(0)
    expected: Decimal | None = Decimal(0)
    for r in reg.registers:
        usage += r.usage
        charge += r.charge
        if expected is None:
            parts.append(f'[{_quoted(r.obis)},{r.usage},"{r.charge}",null]')
            continue
        due = register_charge(schedule, r.obis, r.usage, before.get(r.obis, 0) if before else 0)
        if due is None:
            expected = None
            parts.append(f'[{_quoted(r.obis)},{r.usage},"{r.charge}",null]')
        else:
            expected += due
            parts.append(f'[{_quoted(r.obis)},{r.usage},"{r.charge}","{due}"]')
    if expected is None:  # one register unpriced: none reconciled
        parts = [p.rsplit(",", 1)[0] + ",null]" for p in parts]
    return _row(meter_id, reg, parts, usage, charge, expected, received_us), charge, expected


def _row(
    meter_id: str,
    reg: Registration,
    parts: list[str],
    usage: int,
    charge: Decimal,
    expected: Decimal | None,
    received_us: int,
) -> tuple[Any, ...]:
    """The registrations-table row (REGISTRATION_COLUMNS order) of `reg`, registers as JSON
    `parts`."""
    return (
        meter_id,
        reg.seq,
        reg.kind._name_.lower(),
        None,
        to_us(reg.time),
        reg.schedule_id,
        reg.schedule_version,
        "[" + ",".join(parts) + "]",
        usage,
        str(charge),
        None if expected is None else str(expected),
        reg.auth_code,
        received_us,
    )


_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def plain_rows(
    meter_id: str, regs: Sequence[Registration], received_us: int, out: list[tuple[Any, ...]]
) -> None:
    """Append the plain rows (`PLAIN_COLUMNS`) of `regs`, which name no schedule.

    The hot path's inner loop when meters bill without a schedule (nothing to recompute):
    widened by `widen_plain`, the rows are exactly those `registration_row` gives (a
    property test proves it). They leave out the columns that are constant for such a
    registration (no schedule, no segment start, no recomputed charge), which the store
    fills in its statement, and are built with fewer calls per registration: the
    registers' JSON by one %-format (no list of parts for the usual two registers), the
    kind's stored name from a table, the instant in microseconds as one integer division.
    Raises `HeadEndError` for a registration that names a schedule.
    """
    quoted = _QUOTED
    epoch = _EPOCH
    one_us = _ONE_US
    kinds = _KIND_NAMES
    zero = _ZERO
    one, two = _ONE_REGISTER, _TWO_REGISTERS
    append = out.append
    for reg in regs:
        if reg.schedule_id:
            raise HeadEndError(
                f"registration {reg.seq} names schedule {reg.schedule_id!r}: build its row "
                "with registration_row, which recomputes its charge"
            )
        registers = reg.registers
        if len(registers) == 2:
            a, b = registers
            ua = a.usage
            ub = b.usage
            ca = a.charge
            cb = b.charge
            text = two % (
                quoted.get(a.obis) or _quoted(a.obis),
                ua,
                ca,
                quoted.get(b.obis) or _quoted(b.obis),
                ub,
                cb,
            )
            usage = ua + ub
            charge = zero + ca + cb  # from zero, as the general builder sums (same exponent)
        else:
            usage = 0
            charge = zero
            parts = []
            for r in registers:
                u = r.usage
                c = r.charge
                usage += u
                charge += c
                parts.append(one % (quoted.get(r.obis) or _quoted(r.obis), u, c))
            text = "[" + ",".join(parts) + "]"
        t = reg.time
        append(
            (
                meter_id,
                reg.seq,
                kinds[reg.kind._value_],  # by value: an Enum member hashes in Python
                ((t if t.tzinfo is UTC else t.astimezone(UTC)) - epoch) // one_us,
                reg.schedule_version,
                text,
                usage,
                str(charge),
                reg.auth_code,
                received_us,
            )
        )


_ONE_US = timedelta(microseconds=1)
_KIND_NAMES = {kind._value_: kind._name_.lower() for kind in RegistrationKind}
_ONE_REGISTER = '[%s,%s,"%s",null]'  # quoted name, usage, charge (str() of each)
_TWO_REGISTERS = "[" + _ONE_REGISTER + "," + _ONE_REGISTER + "]"


_QUOTED: dict[str, str] = {}


def _quoted(name: str) -> str:
    """`name` as a JSON string (register names repeat: cached)."""
    text = _QUOTED.get(name)
    if text is None:
        text = json.dumps(name)
        if len(_QUOTED) < 4096:
            _QUOTED[name] = text
    return text


def customer_refs(store: Store) -> list[str]:
    """Every customer with at least one meter."""
    return store.customer_refs()


def compute_bill(store: Store, customer_ref: str, start: datetime, end: datetime) -> Bill:
    """The bill of `customer_ref` for the period from `start` to `end`: registers, standing, total.

    Registrations are stamped when their segment closes, so the period takes those stamped in
    `(start, end]` (a registration at exactly `end` holds usage from before `end`).

    Each register line is the sum of the exact recomputed charges, rounded once with the
    tariff core's rule (`round_money`); the standing charge comes from the tariff core's own
    billing of the meters' schedules over the period; the total is their sum.
    """
    meters = store.meters_of_customer(customer_ref)
    ids = tuple(m.meter_id for m in meters)
    regs = store.registrations_between(ids, start, end) if ids else []
    usage: dict[str, int] = defaultdict(int)
    charge: dict[str, Decimal] = defaultdict(Decimal)
    meter_charge = Decimal(0)
    mismatches = 0
    for reg in regs:
        for r in reg.registers:
            usage[r.register] += r.usage
            charge[r.register] += r.expected if r.expected is not None else r.charge
        meter_charge += reg.charge
        if not reg.reconciled:
            mismatches += 1
    currency = "EUR"
    standing = Decimal(0)
    for m in meters:
        schedules = (
            [
                parse_stored_schedule(s.document).schedule
                for s in store.list_schedules(m.schedule_id)
            ]
            if m.schedule_id
            else []
        )
        if schedules:
            currency = schedules[0].currency
            standing += _standing(schedules, start, end)
    lines = tuple(BillLine(k, usage[k], round_money(charge[k], currency)) for k in sorted(usage))
    return Bill(
        customer_ref=customer_ref,
        meter_ids=ids,
        period_start=start,
        period_end=end,
        lines=lines,
        total_usage=sum(usage.values()),
        standing_charge=standing,
        total=sum((line.charge for line in lines), Decimal(0)) + standing,
        meter_total=round_money(meter_charge, currency),
        registrations=len(regs),
        mismatches=mismatches,
        currency=currency,
    )


def _standing(schedules: list[RateSchedule], start: datetime, end: datetime) -> Decimal:
    """The tariff core's prorated standing charge over `[start, end)` (no usage)."""
    a, b = int(start.timestamp()), int(end.timestamp())
    series = UsageSeries(np.array([a]), np.array([max(b, a + 1)]), np.array([0]))
    try:
        return tariff_bill(schedules, series).standing_charge
    except NoScheduleInForce:
        return Decimal(0)  # the period lies outside every version's validity
