"""What every part of `Store` stands on: the engine and the write transaction.

`StoreBase._tx` runs a block in one transaction on a write connection and turns the
database's failures into the store's errors (a conflict to retry, or the database gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from sealmeter.store._engine import WRITE_OPTION
from sealmeter.store.errors import ConcurrentUpdate, StoreUnavailable

__all__ = ["StoreBase"]

_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected


class StoreBase:
    """The engine of a `Store` and its transactions; the store's parts are mixins over it."""

    engine: Engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One transaction on a write connection: committed if the block returns, rolled
        back if it raises; database failures become `ConcurrentUpdate` (retry) or
        `StoreUnavailable`."""
        try:
            with (
                self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
                conn.begin(),
            ):
                yield conn
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, IntegrityError):
                raise
            if getattr(exc.orig, "sqlstate", None) in _RETRYABLE:
                raise ConcurrentUpdate(
                    f"the database aborted the transaction to resolve a conflict ({exc.orig}); "
                    "nothing was written; retry"
                ) from None
            raise StoreUnavailable(
                f"database error, transaction rolled back: {exc.orig}; retry, and check the "
                "database if it persists"
            ) from None
