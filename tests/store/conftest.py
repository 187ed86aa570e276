"""Fixtures for the store tests: the same suite runs on SQLite and on PostgreSQL.

On PostgreSQL every test gets its own schema (unique name, dropped afterwards), so xdist
workers and colleagues sharing the server never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sealmeter.store import Store, drop_schema, open_engine


@dataclass(frozen=True)
class Database:
    """Where a test's database lives: URL plus (PostgreSQL) schema."""

    url: str
    schema: str | None

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return "postgresql" if self.url.startswith("postgresql") else "sqlite"

    def open(self) -> Store:
        """A new Store on this database (each call: a new engine, as a new process would)."""
        return Store.open(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database on each store: a SQLite file in tmp, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'headend.db'}", None)
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield Database(url, schema)
    engine = open_engine(url)
    try:
        drop_schema(engine, schema)
    finally:
        engine.dispose()


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    """A migrated Store on the test's database."""
    st = database.open()
    yield st
    st.close()
