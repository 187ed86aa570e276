"""REST routes for money: bills (JSON or CSV) and rate schedules with their delivery."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime

from sealmeter.spreadsheet import safe_cell
from sealmeter.web._common import Operator, Reader, errors
from sealmeter.web._deps import Doors, current_doors
from sealmeter.web._schemas import BillOut, ScheduleDeliveryOut, ScheduleIn, ScheduleOut
from sealmeter.web.errors import BadRequest, NotFoundError

__all__ = ["MAX_BILL_PERIOD", "bill_csv", "content_disposition", "router"]

router = APIRouter(prefix="/v1")
Ctx = Annotated[Doors, Depends(current_doors)]
ScheduleId = Annotated[str, Path(min_length=1, max_length=64, description="Schedule id")]


MAX_BILL_PERIOD = timedelta(days=3660)
"""Longest period one bill may cover (ten years): longer ones are refused, not computed."""


def _check_period(start: datetime, end: datetime) -> None:
    if start >= end:
        raise BadRequest(f"the period start ({start}) must be before its end ({end})")
    if end - start > MAX_BILL_PERIOD:
        raise BadRequest(
            f"a bill covers at most {MAX_BILL_PERIOD.days} days; {start} to {end} is "
            f"{(end - start).days} days: ask for shorter periods"
        )


def content_disposition(filename: str) -> str:
    """An attachment header for any file name: an ASCII fallback plus the RFC 6266 UTF-8 form."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def bill_csv(bill: BillOut | list[BillOut]) -> str:
    """Bills as CSV: per bill a row per register, the standing charge, then the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["customer_ref", "period_start", "period_end", "obis", "usage", "charge", "currency"]
    )
    for one in bill if isinstance(bill, list) else [bill]:
        _bill_rows(writer, one)
    return out.getvalue()


def _bill_rows(writer: Any, bill: BillOut) -> None:
    start, end = bill.period_start.isoformat(), bill.period_end.isoformat()
    customer = safe_cell(bill.customer_ref)  # never a formula in a spreadsheet
    for line in bill.lines:
        writer.writerow(
            [customer, start, end, safe_cell(line.obis), line.usage, line.charge, bill.currency]
        )
    writer.writerow([customer, start, end, "STANDING", "", bill.standing_charge, bill.currency])
    writer.writerow([customer, start, end, "TOTAL", bill.total_usage, bill.total, bill.currency])


@router.get(
    "/bills/{customer_ref}",
    response_model=BillOut,
    responses={
        **errors(400, 404),
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
    tags=["bills"],
)
def get_bill(
    ctx: Ctx,
    _who: Reader,
    customer_ref: Annotated[str, Path(min_length=1, max_length=128)],
    start: Annotated[AwareDatetime, Query(description="Period start (inclusive, with zone)")],
    end: Annotated[AwareDatetime, Query(description="Period end (exclusive, with zone)")],
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> BillOut | Response:
    """A customer's bill for [start, end), recomputed from the stored, signed registrations."""
    _check_period(start, end)
    bill = BillOut.of(ctx.headend.bill(customer_ref, start, end))
    if format == "csv":
        name = f"bill-{customer_ref}-{start.date()}-{end.date()}.csv"
        return Response(
            content=bill_csv(bill),
            media_type="text/csv",
            headers={"Content-Disposition": content_disposition(name)},
        )
    return bill


@router.get(
    "/bills",
    response_model=list[BillOut],
    responses={
        **errors(),
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    },
    tags=["bills"],
)
def list_bills(
    ctx: Ctx,
    _who: Reader,
    start: Annotated[AwareDatetime, Query(description="Period start (inclusive, with zone)")],
    end: Annotated[AwareDatetime, Query(description="Period end (exclusive, with zone)")],
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> list[BillOut] | Response:
    """Every customer's bill for [start, end), by customer reference (JSON or one CSV)."""
    _check_period(start, end)
    bills = [BillOut.of(b) for b in ctx.headend.bills(start, end)]
    if format == "csv":
        name = f"bills-{start.date()}-{end.date()}.csv"
        return Response(
            content=bill_csv(bills),
            media_type="text/csv",
            headers={"Content-Disposition": content_disposition(name)},
        )
    return bills


@router.get("/schedules", response_model=list[ScheduleOut], responses=errors(), tags=["schedules"])
def list_schedules(
    ctx: Ctx,
    _who: Reader,
    schedule_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> list[ScheduleOut]:
    """Published rate schedule versions with their validity."""
    return [ScheduleOut.of(s) for s in ctx.headend.list_schedules(schedule_id)]


@router.post(
    "/schedules",
    response_model=ScheduleOut,
    status_code=201,
    responses=errors(400, 409),
    tags=["schedules"],
)
def publish_schedule(ctx: Ctx, _who: Operator, body: ScheduleIn) -> ScheduleOut:
    """Publish a rate schedule version; meters on it receive it with their next enable code."""
    return ScheduleOut.of(ctx.headend.publish_schedule(body.document, ctx.now()))


@router.get(
    "/schedules/{schedule_id}/{version}/deliveries",
    response_model=list[ScheduleDeliveryOut],
    responses=errors(404),
    tags=["schedules"],
)
def schedule_deliveries(
    ctx: Ctx,
    _who: Reader,
    schedule_id: ScheduleId,
    version: Annotated[int, Path(ge=1, le=2**31)],
) -> list[ScheduleDeliveryOut]:
    """Which meters were sent this schedule version, and which confirmed it."""
    known = ctx.headend.list_schedules(schedule_id)
    if not any(s.version == version for s in known):
        raise NotFoundError(
            f"no schedule {schedule_id!r} version {version}; list /v1/schedules for the versions"
        )
    deliveries = ctx.headend.schedule_deliveries(schedule_id=schedule_id)
    return [ScheduleDeliveryOut.of(d) for d in deliveries if d.version == version]
