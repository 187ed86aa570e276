"""The fleet as the doors show it: every meter's fleet state, and meter listings filtered by it.

The head-end classifies a meter (reporting, silent, expected-blocked, blocked, tampered...);
`fleet_states_of` asks it for the whole fleet at once, and `meters_page` pages through the
meters keeping those that match the filters (fleet state, feeder, customer).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sealmeter.store import FleetState, MeterRecord, Page
from sealmeter.web._port import FleetStates, OperatorApi

__all__ = ["fleet_states_of", "meters_page"]

_WALK = 500


def fleet_states_of(headend: object) -> FleetStates:
    """The fleet-state function of a `sealmeter.headend.HeadEnd` (its own classification)."""
    from sealmeter.headend import HeadEnd, fleet_state

    assert isinstance(headend, HeadEnd)

    def states(now: datetime) -> Mapping[str, FleetState]:
        tampered = headend.store.open_tamper_meters()
        return {
            m.meter_id: fleet_state(m, headend.policy, now, m.meter_id in tampered)
            for m in headend.store.all_meters()
        }

    return states


def meters_page(
    headend: OperatorApi,
    states: Mapping[str, FleetState],
    *,
    fleet_state: FleetState | None = None,
    feeder: str | None = None,
    customer_ref: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[MeterRecord]:
    """Up to `limit` meters in id order after `cursor`, keeping those matching every filter."""
    if fleet_state is None and feeder is None and customer_ref is None:
        return headend.list_meters(cursor=cursor, limit=limit)
    found: list[MeterRecord] = []
    after = cursor
    while True:
        batch = headend.list_meters(cursor=after, limit=_WALK)
        for meter in batch.items:
            if (
                (fleet_state is None or states.get(meter.meter_id) is fleet_state)
                and (feeder is None or meter.feeder == feeder)
                and (customer_ref is None or meter.customer_ref == customer_ref)
            ):
                if len(found) == limit:
                    return Page(tuple(found), found[-1].meter_id)
                found.append(meter)
        if batch.next_cursor is None:
            return Page(tuple(found), None)
        after = batch.next_cursor
