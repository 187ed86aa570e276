"""A meter's lifecycle at the head-end, as a table: state -> event -> next state."""

from __future__ import annotations

import enum

from sealmeter.headend.errors import BadTransition
from sealmeter.store._records import MeterState

__all__ = ["MeterEvent", "next_state"]


class MeterEvent(enum.Enum):
    """What can happen to a meter."""

    FIRST_UPLINK = "activated by its first authentic uplink"
    BLOCK = "blocked"
    UNBLOCK = "unblocked"
    ROLL_KEYS = "given new keys"
    DECOMMISSION = "decommissioned"


_P, _A, _B, _D = (
    MeterState.PROVISIONED,
    MeterState.ACTIVE,
    MeterState.BLOCKED,
    MeterState.DECOMMISSIONED,
)

TRANSITIONS: dict[MeterState, dict[MeterEvent, MeterState]] = {
    _P: {
        MeterEvent.FIRST_UPLINK: _A,
        MeterEvent.BLOCK: _B,
        MeterEvent.ROLL_KEYS: _P,
        MeterEvent.DECOMMISSION: _D,
    },
    _A: {MeterEvent.BLOCK: _B, MeterEvent.ROLL_KEYS: _A, MeterEvent.DECOMMISSION: _D},
    _B: {MeterEvent.UNBLOCK: _A, MeterEvent.ROLL_KEYS: _B, MeterEvent.DECOMMISSION: _D},
    _D: {},
}


def next_state(meter_id: str, state: MeterState, event: MeterEvent) -> MeterState:
    """The state after `event`; `BadTransition` names the state and event when not allowed."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise BadTransition(meter_id, state.value, event.value) from None
