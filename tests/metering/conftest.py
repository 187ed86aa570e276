"""Fixtures of the metering tests: converters and sample files written to unique temp dirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sealmeter.metering import Adc, AdcChannel, Waveform

DATA = Path(__file__).parent / "data"


def load_cases(name: str) -> list[dict[str, Any]]:
    """The cases of one JSON data file in tests/metering/data."""
    cases: list[dict[str, Any]] = json.loads((DATA / name).read_text())["cases"]
    return cases


@pytest.fixture
def simultaneous_adc() -> Adc:
    """16 bits, +-400 V / +-25 A, both inputs converted at the same instant, 8 kHz."""
    return Adc(AdcChannel(400.0), AdcChannel(25.0), 8000.0)


@pytest.fixture
def multiplexed_adc() -> Adc:
    """As `simultaneous_adc`, but the current is converted half a sample period later."""
    return Adc.multiplexed(AdcChannel(400.0), AdcChannel(25.0, gain_error=0.003), 8000.0)


def write_csv(path: Path, wave: Waveform, rate_hz: float, count: int) -> Path:
    """Write `count` samples of `wave` as a t,u,i CSV file and return its path."""
    s = wave.sample(rate_hz, count)
    t = np.arange(count) / rate_hz
    np.savetxt(path, np.c_[t, s.u, s.i], delimiter=",", header="t,u,i", comments="", fmt="%.17g")
    return path
