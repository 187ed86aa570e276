"""Shared test fixtures: real local services, found or required.

A test that needs a service asks for its fixture. On a developer's laptop without the service
the test skips with the reason; under `CI=true` it fails instead, so CI proves the real path.
"""

from __future__ import annotations

import os
import socket

import pytest

from tests._support import unavailable


def _reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or under CI=true fail) the calling test when `name` is not listening."""
    if _reachable(host, port):
        return
    unavailable(f"{name} is not reachable at {host}:{port}; start it to run this test")


def reachable_postgres_url() -> str:
    """SQLAlchemy URL of the local PostgreSQL test database; skip (CI: fail) if it is down."""
    url = os.environ.get(
        "SEALMETER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return url


@pytest.fixture
def postgres_url() -> str:
    """SQLAlchemy URL of the local PostgreSQL test database (trust auth, database `test`)."""
    return reachable_postgres_url()


@pytest.fixture
def mqtt_broker() -> tuple[str, int]:
    """Host and port of the local Mosquitto broker."""
    host = os.environ.get("SEALMETER_TEST_MQTT_HOST", "127.0.0.1")
    port = int(os.environ.get("SEALMETER_TEST_MQTT_PORT", "1883"))
    require_service("Mosquitto MQTT broker", host, port)
    return host, port
