"""Fixtures for the head-end tests: box keys, a head-end on each store, meter sides."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from sealmeter.headend import BoxKeys, HeadEnd
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite
from tests.store.conftest import Database, database  # noqa: F401 (fixture re-export)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def box_keys() -> BoxKeys:
    """The head-end's keys for the fast suites (rsa keys are made where a test needs them)."""
    return BoxKeys.generate([Suite.EC_MODERN, Suite.NIST_P256])


@pytest.fixture
def headend(database: Database, box_keys: BoxKeys) -> Iterator[HeadEnd]:  # noqa: F811
    """A head-end over a fresh database (SQLite file or PostgreSQL schema)."""
    he = HeadEnd(database.open(), box_keys)
    yield he
    he.close()


@pytest.fixture
def make_meter(box_keys: BoxKeys) -> Callable[..., MeterSide]:
    """Build seeded meter sides that seal for this head-end."""

    def make(meter_id: str, seed: int = 0, suite: Suite = Suite.EC_MODERN) -> MeterSide:
        # a symmetric-suite meter shares its own secret with the head-end instead
        box = box_keys.public(Suite.EC_MODERN if suite is Suite.SYMMETRIC else suite)
        return MeterSide(meter_id, box, random.Random(seed), suite)

    return make
