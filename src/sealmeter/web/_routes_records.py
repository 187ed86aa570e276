"""REST routes for what the fleet produced: registrations, alerts, rejections, enable codes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from sealmeter.store import AlertKind
from sealmeter.web._common import Cursor, Operator, Reader, Since, Until, errors
from sealmeter.web._deps import Doors, Limit, current_doors
from sealmeter.web._schemas import (
    AlertOut,
    EnableCodeOut,
    PageOut,
    RegistrationOut,
    RejectionOut,
)
from sealmeter.web.errors import BadRequest

__all__ = ["router"]

router = APIRouter(prefix="/v1")

Ctx = Annotated[Doors, Depends(current_doors)]
MeterFilter = Annotated[
    str | None, Query(min_length=1, max_length=64, description="Only this meter")
]
_KINDS = "|".join(k.value for k in AlertKind)


def _window(since: object, until: object) -> None:
    if since is not None and until is not None and since >= until:  # type: ignore[operator]
        raise BadRequest(f"'since' ({since}) must be before 'until' ({until}); swap or widen them")


@router.get(
    "/registrations",
    response_model=PageOut[RegistrationOut],
    responses=errors(400),
    tags=["registrations"],
)
def list_registrations(
    ctx: Ctx,
    _who: Reader,
    meter: MeterFilter = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> PageOut[RegistrationOut]:
    """Stored registrations (oldest first), filtered by meter and by the meter's time."""
    _window(since, until)
    page = ctx.headend.list_registrations(
        meter_id=meter, since=since, until=until, cursor=cursor, limit=limit
    )
    return PageOut[RegistrationOut].of(page, RegistrationOut.of)


@router.get("/alerts", response_model=PageOut[AlertOut], responses=errors(400), tags=["alerts"])
def list_alerts(
    ctx: Ctx,
    _who: Reader,
    meter: MeterFilter = None,
    kind: Annotated[
        str | None, Query(pattern=f"^({_KINDS})$", description="Only alerts of this kind")
    ] = None,
    open_only: Annotated[bool, Query(description="Only alerts not yet acknowledged")] = False,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> PageOut[AlertOut]:
    """Alerts (oldest first): silence, tamper, outages, charge mismatches, rejected data..."""
    _window(since, until)
    page = ctx.headend.list_alerts(
        meter_id=meter,
        kind=None if kind is None else AlertKind(kind),
        open_only=open_only,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return PageOut[AlertOut].of(page, AlertOut.of)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertOut,
    responses=errors(404),
    tags=["alerts"],
)
def acknowledge_alert(
    ctx: Ctx,
    _who: Operator,
    alert_id: Annotated[int, Path(ge=1, le=2**62, description="The alert's id")],
) -> AlertOut:
    """Mark an alert as seen by an operator (idempotent)."""
    return AlertOut.of(ctx.headend.acknowledge_alert(alert_id, ctx.now()))


@router.get(
    "/rejections",
    response_model=PageOut[RejectionOut],
    responses=errors(400),
    tags=["registrations"],
)
def list_rejections(
    ctx: Ctx,
    _who: Reader,
    meter: MeterFilter = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> PageOut[RejectionOut]:
    """Refused uplinks with the precise reason (the sender only got an opaque answer)."""
    _window(since, until)
    page = ctx.headend.list_rejections(
        meter_id=meter, since=since, until=until, cursor=cursor, limit=limit
    )
    return PageOut[RejectionOut].of(page, RejectionOut.of)


@router.get(
    "/enable-codes",
    response_model=PageOut[EnableCodeOut],
    responses=errors(400),
    tags=["enable codes"],
)
def list_enable_codes(
    ctx: Ctx,
    _who: Reader,
    meter: MeterFilter = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> PageOut[EnableCodeOut]:
    """The log of every enable code issued (meter, acknowledged sequence, nonce, expiry)."""
    _window(since, until)
    page = ctx.headend.list_enable_codes(
        meter_id=meter, since=since, until=until, cursor=cursor, limit=limit
    )
    return PageOut[EnableCodeOut].of(page, EnableCodeOut.of)
