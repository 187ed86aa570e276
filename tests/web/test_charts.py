"""The dashboard's pure chart builders: nothing lost in bucketing, everything escaped."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.store import AlertKind, AlertRecord, RegisterReading, RegistrationRecord, Severity
from sealmeter.web.dashboard import alert_timeline, band_chart, bucket_usage, nice_step
from tests.web.conftest import T0

BANDS = ["1.8.1", "1.8.2", "peak", "off-peak"]


def _reg(seq: int, minutes: int, usage: dict[str, int]) -> RegistrationRecord:
    return RegistrationRecord(
        meter_id="m",
        seq=seq,
        kind="real_time",
        start=None,
        time=T0 + timedelta(minutes=minutes),
        schedule_id="s",
        schedule_version=1,
        registers=tuple(RegisterReading(k, v, Decimal(0)) for k, v in usage.items()),
        charge=Decimal(0),
        expected_charge=None,
        auth_code=b"",
        received_at=T0,
    )


registrations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60 * 24 * 400),
        st.dictionaries(st.sampled_from(BANDS), st.integers(0, 10**7), min_size=1),
    ),
    max_size=80,
).map(lambda rows: [_reg(i + 1, m, u) for i, (m, u) in enumerate(sorted(rows, key=lambda r: r[0]))])


@settings(max_examples=300, deadline=None)
@given(regs=registrations, buckets=st.integers(min_value=1, max_value=60))
def test_bucketing_keeps_every_unit_of_every_band(
    regs: list[RegistrationRecord], buckets: int
) -> None:
    out, bands = bucket_usage(regs, buckets)
    assert len(out) <= buckets
    for band in BANDS:
        total = sum(g.usage for r in regs for g in r.registers if g.register == band)
        assert sum(b.usage.get(band, 0) for b in out) == total
        assert (band in bands) == any(g.register == band for r in regs for g in r.registers)
    for left, right in itertools.pairwise(out):
        assert left.end == right.start
    for reg in regs:
        assert any(b.start <= reg.time < b.end for b in out)


@settings(max_examples=300, deadline=None)
@given(maximum=st.floats(min_value=1e-3, max_value=1e12), lines=st.integers(1, 10))
def test_grid_steps_are_round_and_cover_the_peak(maximum: float, lines: int) -> None:
    step = nice_step(maximum, lines)
    assert step * lines >= maximum * (1 - 1e-9)
    mantissa = f"{step:e}".split("e")[0].rstrip("0").rstrip(".")
    assert mantissa in ("1", "2", "5")


@settings(max_examples=100, deadline=None)
@given(regs=registrations.filter(bool))
def test_the_chart_has_one_bar_segment_per_nonzero_band_and_bucket(
    regs: list[RegistrationRecord],
) -> None:
    out, bands = bucket_usage(regs)
    svg = band_chart(out, bands)
    segments = sum(1 for b in out for band in bands if b.usage.get(band, 0) > 0)
    assert svg.count("<rect ") == segments
    assert svg.startswith("<svg")


def test_names_and_details_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    out, bands = bucket_usage([_reg(1, 0, {evil: 5})])
    svg = band_chart(out, bands)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    alert = AlertRecord(
        alert_id=1,
        kind=AlertKind.TAMPER,
        severity=Severity.CRITICAL,
        meter_id=evil,
        feeder=None,
        detail=evil,
        occurred_at=T0,
        raised_at=T0,
    )
    timeline = alert_timeline([alert])
    assert "<script>" not in timeline
    assert len(re.findall(r"<circle ", timeline)) == 1


def test_empty_data_gives_a_note_not_a_broken_chart() -> None:
    assert "No registrations" in band_chart([], [])
    assert "No alerts" in alert_timeline([])
