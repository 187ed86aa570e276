"""The credit frame and the relay machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.meter import CreditFrame, CreditGrant, RelayEvent, RelayState
from sealmeter.meter.credit import relay_after
from sealmeter.meter.errors import MeterConfigError

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_time_limit_is_exceeded_exactly_at_expiry() -> None:
    grant = CreditGrant(T0, CreditFrame(duration=timedelta(days=7)))
    expiry = T0 + timedelta(days=7)
    assert grant.expires_at == expiry
    assert not grant.exceeded(expiry - timedelta(microseconds=1), Decimal(0))
    assert grant.exceeded(expiry, Decimal(0))


def test_charge_limit_is_exceeded_only_above_the_limit() -> None:
    grant = CreditGrant(T0, CreditFrame(duration=None, charge_limit=Decimal("50.00")))
    assert grant.expires_at is None
    assert not grant.exceeded(T0 + timedelta(days=999), Decimal("50.00"))
    assert grant.exceeded(T0, Decimal("50.01"))
    assert grant.remaining(T0, Decimal("20")) == (None, Decimal("30.00"))


def test_frame_needs_a_limit() -> None:
    with pytest.raises(MeterConfigError, match="duration, a charge limit"):
        CreditFrame(duration=None, charge_limit=None)
    with pytest.raises(MeterConfigError):
        CreditFrame(duration=timedelta(0))
    with pytest.raises(MeterConfigError):
        CreditFrame(charge_limit=Decimal(0))


def test_enable_code_lifts_a_credit_block_but_not_a_command_block() -> None:
    blocked = relay_after(RelayState.SUPPLYING, RelayEvent.CREDIT_EXCEEDED)
    assert blocked is RelayState.BLOCKED_CREDIT
    assert relay_after(blocked, RelayEvent.ENABLE_CODE) is RelayState.SUPPLYING
    commanded = relay_after(RelayState.SUPPLYING, RelayEvent.BLOCK_COMMAND)
    assert relay_after(commanded, RelayEvent.ENABLE_CODE) is RelayState.BLOCKED_COMMAND
    assert relay_after(commanded, RelayEvent.UNBLOCK_COMMAND) is RelayState.SUPPLYING


@given(st.lists(st.sampled_from(list(RelayEvent)), max_size=30))
def test_relay_supplies_iff_last_deciding_event_allows_it(events: list[RelayEvent]) -> None:
    state = RelayState.SUPPLYING
    commanded = False
    credit_blocked = False
    for event in events:
        state = relay_after(state, event)
        if event is RelayEvent.BLOCK_COMMAND:
            commanded = True
        elif event is RelayEvent.UNBLOCK_COMMAND:
            commanded, credit_blocked = False, False
        elif event is RelayEvent.CREDIT_EXCEEDED and not commanded:
            credit_blocked = True
        elif event is RelayEvent.ENABLE_CODE and not commanded:
            credit_blocked = False
    assert (state is RelayState.SUPPLYING) == (not commanded and not credit_blocked)
    assert (state is RelayState.BLOCKED_COMMAND) == commanded
