"""Messages check their own fields: a bad value never reaches the wire."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sealmeter.protocol import (
    Command,
    CommandKind,
    CreditFrame,
    ProtocolUsageError,
    RegisterUsage,
    ScheduleUpdate,
    Uplink,
)
from tests.protocol import conftest as c


@pytest.mark.parametrize(
    "change",
    [
        {"seq": -1},
        {"seq": 2**64},
        {"meter_id": ""},
        {"meter_id": "x" * 256},
        {"schedule_version": 2**32},
        {"time": datetime(2026, 1, 1)},
        {"time": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))},
        {"auth_code": "text"},
        {"registers": [RegisterUsage("1.8.0", 1, Decimal(1))]},
        {"currency": ""},
        {"kind": 1},
    ],
    ids=lambda d: next(iter(d)),
)
def test_bad_registration_fields_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ProtocolUsageError):
        replace(c.draft(), **change)


@pytest.mark.parametrize(
    "charge", [1.5, Decimal("NaN"), Decimal("Infinity"), Decimal(2**64), Decimal("1E+100")]
)
def test_money_must_be_an_exact_finite_decimal(charge: object) -> None:
    with pytest.raises(ProtocolUsageError):
        RegisterUsage("1.8.0", 1, charge)  # type: ignore[arg-type]


def test_uplink_batch_must_be_of_one_meter() -> None:
    regs, _ = c.sealed_registrations(1)
    with pytest.raises(ProtocolUsageError, match="names meter"):
        Uplink("SM-other", c.T0, c.NONCE, tuple(regs))
    with pytest.raises(ProtocolUsageError, match="another meter"):
        Uplink(c.METER_ID, c.T0, c.NONCE, (), c.status("SM-other"))
    with pytest.raises(ProtocolUsageError):
        Uplink(c.METER_ID, c.T0, b"short", ())


def test_other_messages_check_their_fields() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ProtocolUsageError, match="after valid_from"):
        ScheduleUpdate("s", 1, t, t, b"")
    with pytest.raises(ProtocolUsageError):
        CreditFrame(timedelta(days=-1), Decimal(1))
    with pytest.raises(ProtocolUsageError):
        CreditFrame(timedelta(days=1), Decimal(-1))
    with pytest.raises(ProtocolUsageError):
        Command("block")  # type: ignore[arg-type]
    assert Command(CommandKind.KEY_ROLLOVER, b"k").argument == b"k"


def test_total_charge_adds_the_bands_exactly() -> None:
    reg = c.draft(usage=1000)
    assert reg.total_charge == Decimal("0.31") + Decimal("0.1234")
