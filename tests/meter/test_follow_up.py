"""Follow-up calls: a meter with registrations left behind calls again soon only on progress.

An uplink carries at most `MAX_BATCH` registrations. When an answer acknowledges them (an
enable code), the rest go out a minute later. When the head-end answers without an enable
code (it withholds codes for a charge mismatch, or the meter is blocked), nothing was
acknowledged: calling again a minute later would resend the same batch, with full crypto on
both sides, every minute; the meter keeps its normal schedule instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sealmeter.meter import Meter
from sealmeter.meter.module import FOLLOW_UP, MAX_BATCH

from .conftest import WireHeadEnd, make_meter, schedule

START = datetime(2026, 3, 2, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def _backlog() -> tuple[Meter, WireHeadEnd, datetime]:
    """A meter that fed days without calling, so more than one uplink's worth is queued."""
    meter, headend, _ = make_meter(START, schedules=(schedule(),), seed=3)
    day = [40_000] * 96  # 40 Wh per quarter hour
    now = START
    while len(meter.queued_registrations()) <= MAX_BATCH + 4:
        meter.feed_intervals(now, QUARTER, day)
        now += timedelta(days=1)
    return meter, headend, now


@pytest.mark.parametrize("enable", [True, False])
def test_a_follow_up_call_comes_soon_only_after_an_acknowledging_answer(enable: bool) -> None:
    meter, headend, now = _backlog()
    queued = len(meter.queued_registrations())
    answer = headend.answer(meter.make_uplink(now), enable=enable)
    meter.accept_downlink(answer, now)
    if enable:
        assert len(meter.queued_registrations()) == queued - MAX_BATCH
        assert meter.next_call_at() == now + FOLLOW_UP
    else:
        assert len(meter.queued_registrations()) == queued
        assert meter.next_call_at() > now + timedelta(minutes=30)
