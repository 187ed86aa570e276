"""Hand-computed bills for every shipped tariff, including a DST week each (data file)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from sealmeter.tariff import Interval, UsageSeries, bill, load_shipped, shipped_names
from tests.tariff.conftest import blocks, load_json

CASES = load_json("hand_bills.json")["cases"]


def _usage(spec: dict[str, Any]) -> UsageSeries:
    if "blocks" in spec:
        return blocks(spec["blocks"])
    return UsageSeries.from_intervals(
        Interval(datetime.fromisoformat(a), datetime.fromisoformat(b), Decimal(e))
        for a, b, e in spec["rows"]
    )


def test_every_shipped_tariff_has_hand_computed_cases_including_a_dst_week() -> None:
    for name in shipped_names():
        names = [c["name"] for c in CASES if c["tariff"] == name]
        assert len(names) >= 2, name
        assert any("DST" in n for n in names), name


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hand_computed_bill(case: dict[str, Any]) -> None:
    result = bill(load_shipped(case["tariff"]), _usage(case["usage"]))
    got = [(r.obis, r.band, r.energy_wh, r.charge) for r in result.registers]
    want = [
        (r["obis"], r["band"], Fraction(r["energy_wh"]), Decimal(r["charge"]))
        for r in case["registers"]
    ]
    assert got == want
    assert result.standing_charge == Decimal(case["standing_charge"])
    assert result.total == Decimal(case["total"])
    assert str(result.total) == case["total"]  # always to the cent, e.g. "0.00"
    assert result.peak is not None
    assert result.peak.power_w == Fraction(case["peak"]["power_w"])
    assert result.peak.at == datetime.fromisoformat(case["peak"]["at"])
