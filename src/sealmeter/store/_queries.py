"""The store's listings: filters, keyset pagination and the page size limit.

Every list query of `Store` has one shape: rows of one table in the order of its integer key,
optionally narrowed by exact values, extra conditions and a time window `since <= t < until`,
returned `limit` at a time with the last key of a page as the cursor for the next.
`filtered_page` is that shape; `fetch_page` is its pagination step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Engine, Row, Select, Table, select

from sealmeter.store._convert import to_us
from sealmeter.store._records import Page
from sealmeter.store.errors import BadCursor

__all__ = ["MAX_PAGE", "clamp_limit", "fetch_page", "filtered_page"]

MAX_PAGE = 1000
"""The most rows one page holds, whatever the caller asks for."""
T = TypeVar("T")


def clamp_limit(limit: int) -> int:
    """A page size within 1..MAX_PAGE."""
    return max(1, min(int(limit), MAX_PAGE))


def fetch_page(
    engine: Engine,
    stmt: Select[Any],
    key: Any,
    cursor: str | None,
    limit: int,
    conv: Callable[[Row[Any]], T],
    name: str,
) -> Page[T]:
    """One page of `stmt` (ordered by integer column `key`, named `name`) after `cursor`.

    `BadCursor` if `cursor` is not a key this listing handed out.
    """
    limit = clamp_limit(limit)
    if cursor is not None:
        try:
            after = int(cursor)
        except ValueError:
            after = None
        if after is None or not -(2**63) <= after < 2**63:  # keys are signed 64-bit integers
            raise BadCursor(
                f"cursor {cursor!r} is not one this listing handed out; pass next_cursor back"
            )
        stmt = stmt.where(key > after)
    with engine.connect() as conn:
        rows = conn.execute(stmt.limit(limit + 1)).all()
    items = tuple(conv(r) for r in rows[:limit])
    nxt = str(getattr(rows[limit - 1], name)) if len(rows) > limit else None
    return Page(items, nxt)


def filtered_page(
    engine: Engine,
    table: Table,
    key: Column[Any],
    conv: Callable[[Row[Any]], T],
    *,
    equal: Sequence[tuple[ColumnElement[Any], Any]] = (),
    where: Sequence[ColumnElement[bool]] = (),
    window: tuple[ColumnElement[Any], datetime | None, datetime | None] | None = None,
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """Rows of `table` in `key` order as records (`conv`), one page after `cursor`.

    Filters, applied in this order: each `(column, value)` of `equal` whose value is not
    None, each condition of `where`, and `window = (column, since, until)` as
    `since <= column < until` (either bound None: open on that side).
    """
    stmt = select(table).order_by(key)
    for column, value in equal:
        if value is not None:
            stmt = stmt.where(column == value)
    for condition in where:
        stmt = stmt.where(condition)
    if window is not None:
        column, since, until = window
        if since is not None:
            stmt = stmt.where(column >= to_us(since))
        if until is not None:
            stmt = stmt.where(column < to_us(until))
    return fetch_page(engine, stmt, key, cursor, limit, conv, key.name)
