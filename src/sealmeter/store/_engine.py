"""Opening a database for the head-end: SQLite in WAL mode by default, PostgreSQL to scale out.

`open_engine(url, schema=...)` returns a SQLAlchemy `Engine` set up for the hot path:
SQLite gets WAL journaling, `synchronous=NORMAL`, a busy timeout and `BEGIN IMMEDIATE`
transactions (so concurrent writers queue instead of deadlocking on a lock upgrade);
PostgreSQL gets a `search_path` to an optional schema, created on first use, so tests and
tenants can be isolated from each other.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from sealmeter.store.errors import StoreConfigError, StoreUnavailable, StoreUsageError

__all__ = [
    "CHECKPOINT_BYTES",
    "DEFAULT_URL",
    "SYNC_ENV",
    "WRITE_OPTION",
    "Checkpointer",
    "drop_schema",
    "open_engine",
]

DEFAULT_URL = "sqlite:///sealmeter.db"
WRITE_OPTION = "sealmeter_write"
"""Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE)."""
SYNC_ENV = "SEALMETER_SQLITE_SYNCHRONOUS"
"""Environment variable choosing SQLite's `PRAGMA synchronous` (NORMAL, FULL or EXTRA)."""
FALLBACK_CHECKPOINT_PAGES = 16_000
"""WAL pages after which a committing connection checkpoints by itself (64 MB at 4 KiB)."""
CHECKPOINT_BYTES = 4 * 1024 * 1024
"""WAL size from which the background checkpointer copies the WAL into the database."""
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def open_engine(url: str = DEFAULT_URL, *, schema: str | None = None) -> Engine:
    """Create an engine for `url` (``sqlite:///file.db``, ``sqlite://`` or ``postgresql+psycopg://...``).

    `schema` (PostgreSQL only) puts every table in that schema, creating it if needed.
    Raises `StoreConfigError` for a URL we cannot use and `StoreUnavailable` when the
    database cannot be reached.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreConfigError(
            f"cannot parse database URL {url!r}: {exc}; use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise StoreConfigError("a schema can only be given for PostgreSQL; drop --schema")
        return _sqlite_engine(url, in_memory=parsed.database in (None, "", ":memory:"))
    if backend == "postgresql":
        if parsed.drivername != "postgresql+psycopg":
            raise StoreConfigError(
                f"PostgreSQL URL {parsed.render_as_string(hide_password=True)} must use the "
                "psycopg 3 driver: write postgresql+psycopg://..."
            )
        return _postgres_engine(url, schema)
    raise StoreConfigError(
        f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}; "
        "use SQLite (sqlite:///FILE) or PostgreSQL (postgresql+psycopg://...)"
    )


def _sqlite_synchronous() -> str:
    """`PRAGMA synchronous` for SQLite: NORMAL by default, FULL or EXTRA on request.

    In WAL mode NORMAL loses no committed transaction when the process crashes; only an OS
    crash or power loss may undo the last transactions committed before it (the database
    stays consistent). FULL syncs the WAL at every commit, so even that cannot happen.
    """
    value = os.environ.get(SYNC_ENV, "NORMAL").strip().upper()
    if value not in ("NORMAL", "FULL", "EXTRA"):
        raise StoreConfigError(
            f"{SYNC_ENV}={value!r} is not a SQLite synchronous level; use NORMAL, FULL or EXTRA"
        )
    return value


def _sqlite_engine(url: str, *, in_memory: bool) -> Engine:
    synchronous = _sqlite_synchronous()
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database for every thread
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see below)
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
            # checkpoints run in the store's background checkpointer (see `Checkpointer`);
            # a commit checkpoints by itself only if that falls far behind
            cur.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_CHECKPOINT_PAGES}")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # writers take the write lock up front; readers never block anyone (WAL)
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: str, schema: str | None) -> Engine:
    import psycopg  # PostgreSQL only: SQLite users never load the driver

    connect_args: dict[str, Any] = {"connect_timeout": 10}
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise StoreConfigError(
                f"schema name {schema!r} is not a plain lower-case identifier; use letters, "
                "digits and underscores"
            )
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        # a value PostgreSQL cannot take (text with a NUL, longer than its column, a number
        # out of range) is the caller's input, not the database failing: say so, typed
        if isinstance(context.original_exception, psycopg.DataError):
            raise StoreUsageError(
                f"a value cannot be stored or compared as given "
                f"({str(context.original_exception).splitlines()[0]}): text must have no NUL "
                "character and fit its column, numbers their range; fix the input"
            ) from None

    if schema is not None:
        try:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except OperationalError as exc:
            engine.dispose()
            raise StoreUnavailable(
                f"cannot reach PostgreSQL at {make_url(url).render_as_string(hide_password=True)}: "
                f"{exc.orig}; start the server or fix the URL"
            ) from None
    return engine


def drop_schema(engine: Engine, schema: str) -> None:
    """Drop a PostgreSQL schema and everything in it (tests use this to clean up)."""
    if not _SCHEMA_NAME.match(schema):
        raise StoreConfigError(f"schema name {schema!r} is not a plain identifier")
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


class Checkpointer:
    """Copies a SQLite database's write-ahead log into the database file, off the hot path.

    SQLite's default is that the commit which finds the WAL past 1000 pages runs the
    checkpoint itself, inside the ingest call. Here a daemon thread with its own connection
    does it: `poke()` after each commit looks at the WAL's size (one `stat`) and wakes the
    thread when it is past `CHECKPOINT_BYTES`. A PASSIVE checkpoint never blocks writers or
    readers, and sqlite3 releases the GIL while it runs. Durability does not depend on it:
    a committed transaction is in the WAL, which SQLite replays after a crash; the
    checkpoint only moves it. If this thread falls behind, the connections' own
    `wal_autocheckpoint` (`FALLBACK_CHECKPOINT_PAGES`) takes over.
    """

    def __init__(self, path: str) -> None:
        """Watch the database file at `path` (its WAL is `path + "-wal"`)."""
        self._path = path
        self._wal = path + "-wal"
        self._wake = threading.Event()
        self._stop = False
        self.checkpoints = 0
        self._thread = threading.Thread(
            target=self._run, name="sealmeter-sqlite-checkpointer", daemon=True
        )
        self._thread.start()

    def poke(self) -> None:
        """Wake the checkpointer if the WAL has grown past `CHECKPOINT_BYTES`."""
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size > CHECKPOINT_BYTES:
            self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
            conn.isolation_level = None
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error:
                    pass  # busy or gone: the next poke retries, the fallback still holds
        except sqlite3.Error:
            return  # cannot open: the connections' own autocheckpoint does the work
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=60)
