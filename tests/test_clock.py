"""The explicit clock: aware UTC instants, simulated time that moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sealmeter.clock import SimClock, SystemClock, ensure_utc
from sealmeter.errors import SealmeterError, UsageError


def test_ensure_utc_converts_offsets_and_rejects_naive() -> None:
    cet = timezone(timedelta(hours=1))
    assert ensure_utc(datetime(2026, 1, 1, 1, 0, tzinfo=cet)) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="naive"):
        ensure_utc(datetime(2026, 1, 1))


def test_sim_clock_moves_only_forward_unless_set() -> None:
    clock = SimClock(datetime(2026, 3, 29, tzinfo=UTC))
    assert clock.advance(timedelta(hours=2)) == datetime(2026, 3, 29, 2, tzinfo=UTC)
    with pytest.raises(SealmeterError):
        clock.advance(timedelta(seconds=-1))
    assert clock.set(datetime(2025, 1, 1, tzinfo=UTC)) == datetime(2025, 1, 1, tzinfo=UTC)


def test_system_clock_is_aware_utc() -> None:
    assert SystemClock().now().tzinfo is UTC
