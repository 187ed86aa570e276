"""Errors of the head-end store, split by whose fault they are."""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, UsageError

__all__ = [
    "AlreadyExists",
    "ConcurrentUpdate",
    "NotFound",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailable",
    "StoreUsageError",
]


class StoreError(EnvironmentFault):
    """The database failed; the transaction was rolled back, nothing was half-written."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the operation; start it or fix the URL."""


class ConcurrentUpdate(StoreError):
    """Another worker advanced the same meter first; reload its state and retry."""


class StoreConfigError(UsageError):
    """The store was configured wrongly (bad URL, bad schema name); fix the setting."""


class NotFound(UsageError):
    """The caller asked for a meter, schedule or alert that does not exist."""


class AlreadyExists(UsageError):
    """The caller tried to create something that is already there (same id)."""


class BadCursor(UsageError):
    """A pagination cursor that no listing handed out; pass `next_cursor` back unchanged."""


class StoreUsageError(UsageError):
    """The caller handed the store something malformed (a row of the wrong shape); fix the
    calling code: nothing was written."""
