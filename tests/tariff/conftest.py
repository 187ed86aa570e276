"""Fixtures and helpers of the tariff tests: a small valid schedule dict, usage builders."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sealmeter.tariff import UsageSeries

DATA = Path(__file__).parent / "data"

BASE_SCHEDULE: dict[str, Any] = {
    "id": "test-two-band",
    "version": 1,
    "valid_from": "2023-01-01T00:00:00Z",
    "timezone": "Europe/Berlin",
    "currency": "EUR",
    "standing_charge": {"amount": "0.5", "per": "day"},
    "bands": [
        {"name": "day", "obis": "1.8.1", "price": "0.30"},
        {"name": "night", "obis": "1.8.2", "price": "0.20"},
    ],
    "seasons": [
        {"name": "summer", "from": "04-01", "to": "09-30"},
        {"name": "winter", "from": "10-01", "to": "03-31"},
    ],
    "rules": [
        {
            "days": ["workday", "saturday"],
            "slots": [
                {"from": "00:00", "to": "06:00", "band": "night"},
                {"from": "06:00", "to": "22:00", "band": "day"},
                {"from": "22:00", "to": "24:00", "band": "night"},
            ],
        },
        {
            "days": ["sunday", "holiday"],
            "slots": [{"from": "00:00", "to": "24:00", "band": "night"}],
        },
    ],
}


def base_schedule() -> dict[str, Any]:
    """A fresh deep copy of the small valid schedule dict."""
    return copy.deepcopy(BASE_SCHEDULE)


def load_json(name: str) -> Any:
    """Load a JSON data file of these tests."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def seconds(text: str) -> int:
    """UTC epoch seconds of an ISO 8601 instant with offset."""
    return int(datetime.fromisoformat(text).timestamp())


def blocks(spec: list[dict[str, Any]]) -> UsageSeries:
    """Usage of constant-energy steps: [{from, to, step_s, energy_wh_per_step}, ...]."""
    starts: list[np.ndarray] = []
    energies: list[np.ndarray] = []
    steps: list[int] = []
    for block in spec:
        first, last, step = seconds(block["from"]), seconds(block["to"]), block["step_s"]
        s = np.arange(first, last, step, dtype=np.int64)
        starts.append(s)
        energies.append(np.full(len(s), int(block["energy_wh_per_step"]) * 1000, dtype=np.int64))
        steps.extend([step] * len(s))
    start = np.concatenate(starts)
    return UsageSeries(start, start + np.array(steps, dtype=np.int64), np.concatenate(energies))


@pytest.fixture
def schedule_dict() -> dict[str, Any]:
    """A fresh copy of the small valid schedule dict."""
    return base_schedule()
