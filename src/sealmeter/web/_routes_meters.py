"""REST routes for the fleet: meters, their lifecycle, and the fleet summary."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from sealmeter.store import FleetState, MeterRecord, Provisioning
from sealmeter.web._common import Admin, Cursor, Operator, Reader, errors
from sealmeter.web._deps import Doors, Limit, current_doors
from sealmeter.web._fleetview import meters_page
from sealmeter.web._schemas import BlockIn, FleetOut, MeterOut, PageOut, ProvisionIn
from sealmeter.web.errors import BadRequest

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["meters"])

MeterId = Annotated[str, Path(min_length=1, max_length=64, description="The meter's id")]
Ctx = Annotated[Doors, Depends(current_doors)]

_STATES = "|".join(s.value for s in FleetState)


@router.get("/fleet", response_model=FleetOut, responses=errors())
def fleet(ctx: Ctx, _who: Reader) -> FleetOut:
    """How many meters are reporting, silent, blocked, tampered... right now."""
    return FleetOut.of(ctx.headend.fleet(ctx.now()))


@router.get("/meters", response_model=PageOut[MeterOut], responses=errors())
def list_meters(
    ctx: Ctx,
    _who: Reader,
    state: Annotated[
        str | None, Query(pattern=f"^({_STATES})$", description="Only meters in this fleet state")
    ] = None,
    feeder: Annotated[str | None, Query(max_length=64, description="Only this feeder")] = None,
    customer_ref: Annotated[
        str | None, Query(max_length=128, description="Only this customer's meters")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> PageOut[MeterOut]:
    """Provisioned meters with their lifecycle and fleet state, a page at a time."""
    page, states = meters_page(
        ctx.headend,
        ctx.fleet_states,
        ctx.now(),
        fleet_state=None if state is None else FleetState(state),
        feeder=feeder,
        customer_ref=customer_ref,
        cursor=cursor,
        limit=limit,
    )
    return PageOut[MeterOut].of(page, lambda m: MeterOut.of(m, _state(states, m.meter_id)))


def _state(states: Mapping[str, FleetState], meter_id: str) -> str | None:
    found = states.get(meter_id)
    return None if found is None else found.value


def _one(ctx: Doors, record: MeterRecord) -> MeterOut:
    return MeterOut.of(record, _state(ctx.fleet_states([record], ctx.now()), record.meter_id))


@router.post("/meters", response_model=MeterOut, status_code=201, responses=errors(400, 409))
def provision(ctx: Ctx, _who: Operator, body: ProvisionIn) -> MeterOut:
    """Provision a meter with the public keys and chain key from the factory's key exchange."""
    try:
        public_keys = bytes.fromhex(body.public_keys_hex)
        chain_key = bytes.fromhex(body.chain_key_hex)
    except ValueError:  # pragma: no cover - the pattern already admits only hex pairs
        raise BadRequest("public_keys_hex and chain_key_hex must be hexadecimal") from None
    record = ctx.headend.provision(
        Provisioning(
            meter_id=body.meter_id,
            customer_ref=body.customer_ref,
            suite=body.suite,
            public_keys=public_keys,
            chain_key=chain_key,
            feeder=body.feeder,
            schedule_id=body.schedule_id,
            credit_frame=timedelta(seconds=body.credit_frame_s),
            report_interval=timedelta(seconds=body.report_interval_s),
        ),
        ctx.now(),
    )
    return _one(ctx, record)


@router.get("/meters/{meter_id}", response_model=MeterOut, responses=errors(404))
def get_meter(ctx: Ctx, _who: Reader, meter_id: MeterId) -> MeterOut:
    """One meter, with its fleet state now."""
    return _one(ctx, ctx.headend.get_meter(meter_id))


@router.post("/meters/{meter_id}/block", response_model=MeterOut, responses=errors(404, 409))
def block(ctx: Ctx, _who: Operator, meter_id: MeterId, body: BlockIn) -> MeterOut:
    """Block a meter: it gets no more enable codes and is told to block itself."""
    return _one(ctx, ctx.headend.block(meter_id, body.reason, ctx.now()))


@router.post("/meters/{meter_id}/unblock", response_model=MeterOut, responses=errors(404, 409))
def unblock(ctx: Ctx, _who: Operator, meter_id: MeterId) -> MeterOut:
    """Lift an operator's block on a meter."""
    return _one(ctx, ctx.headend.unblock(meter_id, ctx.now()))


@router.post("/meters/{meter_id}/decommission", response_model=MeterOut, responses=errors(404, 409))
def decommission(ctx: Ctx, _who: Admin, meter_id: MeterId) -> MeterOut:
    """Take a meter out of service for good (admin only): every later uplink is refused."""
    return _one(ctx, ctx.headend.decommission(meter_id, ctx.now()))
