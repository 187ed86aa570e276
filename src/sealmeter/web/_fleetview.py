"""The fleet as the doors show it: meters' fleet states, and listings filtered by them.

The head-end classifies a meter (reporting, silent, expected-blocked, blocked, tampered...);
`fleet_states_of` asks it about the meters on one page, and `meters_page` pages through the
meters keeping those that match the filters (fleet state, feeder, customer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sealmeter.store import FleetState, MeterRecord, Page
from sealmeter.web._port import FleetStates, OperatorApi

if TYPE_CHECKING:
    from sealmeter.headend import HeadEnd

__all__ = ["fleet_states_of", "meters_page"]

_WALK = 500


def fleet_states_of(headend: HeadEnd) -> FleetStates:
    """The fleet-state function of a `HeadEnd`: its own classification, its own policy."""
    from sealmeter.headend import fleet_state

    def states(meters: Sequence[MeterRecord], now: datetime) -> Mapping[str, FleetState]:
        if not meters:
            return {}
        tampered = headend.store.open_tamper_meters()
        return {
            m.meter_id: fleet_state(m, headend.policy, now, m.meter_id in tampered) for m in meters
        }

    return states


def meters_page(
    headend: OperatorApi,
    fleet_states: FleetStates,
    now: datetime,
    *,
    fleet_state: FleetState | None = None,
    feeder: str | None = None,
    customer_ref: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[Page[MeterRecord], Mapping[str, FleetState]]:
    """Up to `limit` meters in id order after `cursor` matching every filter, with their states.

    Without filters this is one page of the head-end's listing; with filters it walks the
    meters in batches, classifying each batch once.
    """
    if fleet_state is None and feeder is None and customer_ref is None:
        page = headend.list_meters(cursor=cursor, limit=limit)
        return page, fleet_states(page.items, now)
    found: list[MeterRecord] = []
    states: dict[str, FleetState] = {}
    after = cursor
    while True:
        batch = headend.list_meters(cursor=after, limit=_WALK)
        wanted = [
            m
            for m in batch.items
            if (feeder is None or m.feeder == feeder)
            and (customer_ref is None or m.customer_ref == customer_ref)
        ]
        classified = fleet_states(wanted, now)
        for meter in wanted:
            if fleet_state is not None and classified.get(meter.meter_id) is not fleet_state:
                continue
            if len(found) == limit:
                return Page(tuple(found), found[-1].meter_id), states
            found.append(meter)
            states[meter.meter_id] = classified[meter.meter_id]
        if batch.next_cursor is None:
            return Page(tuple(found), None), states
        after = batch.next_cursor
