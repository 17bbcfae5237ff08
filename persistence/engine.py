"""Engine construction for the two supported databases, and error translation.

SQLite (aiosqlite) is the embedded database that a worker and the CLI share as
one file; PostgreSQL (asyncpg) is production. Both get the same schema and the
same ``Store`` code; the differences live here.
"""

import json
import time
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from persistence.errors import StoreConfigError

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"

# How long SQLite waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10.0

# Execution option selecting "BEGIN IMMEDIATE" on SQLite: the write lock is taken
# up front, so read-modify-write operations are atomic and wait (busy timeout)
# instead of failing with SQLITE_BUSY when upgrading a read lock.
WRITE_OPTION = "storemod_write"


def _json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID | PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON column: {value!r}")


def json_dumps(value: Any) -> str:
    """Serialise a JSON column value; Decimal, datetime, enums and paths become strings."""
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def parse_url(url: str) -> URL:
    """Parse and check a database URL, or raise ``StoreConfigError``."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreConfigError(f"invalid database URL {url!r}: {err}") from None
    if parsed.drivername == SQLITE_DRIVER:
        if not parsed.database or parsed.database == ":memory:":
            raise StoreConfigError(
                f"the SQLite URL needs a file path, e.g. {SQLITE_DRIVER}:///var/storemod.db"
            )
        return parsed
    if parsed.drivername == POSTGRES_DRIVER:
        if not parsed.database:
            raise StoreConfigError(
                f"the PostgreSQL URL names no database, e.g. {POSTGRES_DRIVER}://USER@HOST/DB"
            )
        return parsed
    raise StoreConfigError(
        f"unsupported database URL scheme {parsed.drivername!r}: use "
        f"{SQLITE_DRIVER}:///PATH or {POSTGRES_DRIVER}://USER@HOST/DB"
    )


def safe_url(url: URL) -> str:
    """The URL as shown in messages: the password hidden."""
    return url.render_as_string(hide_password=True)


def create_engine(url: str) -> AsyncEngine:
    """An AsyncEngine for a supported URL, configured for concurrent use.

    Creates the parent folder of an SQLite file (``OSError`` if it cannot).
    """
    parsed = parse_url(url)
    if parsed.drivername == SQLITE_DRIVER:
        assert parsed.database is not None
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            json_serializer=json_dumps,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        parsed,
        pool_pre_ping=True,  # a PostgreSQL restart must not leave dead pooled connections
        connect_args={
            "timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS,
            "server_settings": {"application_name": "storemod"},
        },
        json_serializer=json_dumps,
    )


def _set_wal(cursor: Any) -> None:
    """Switch to WAL, waiting for other processes doing the same on a new file.

    Changing the journal mode needs an exclusive lock, and SQLite reports "database
    is locked" at once, without its busy handler, when two processes race to do it
    on a fresh database: so wait here, up to the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as err:  # the async adapter re-raises sqlite3's OperationalError
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: AsyncEngine) -> None:
    busy_ms = int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module (which would BEGIN only
        # before DML and never around reads or DDL); "begin" below emits our own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            # WAL: readers never block the writer, so the CLI and a worker coexist.
            _set_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def write_engine(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) whose transactions take the write lock first."""
    return engine.execution_options(**{WRITE_OPTION: True})


_UNAVAILABLE_MARKERS = (
    "database is locked",
    "unable to open database file",
    "disk i/o error",
    "connection refused",
    "connection was closed",
    "connection is closed",
    "the database system is",  # starting up / shutting down / in recovery mode
    "terminating connection",
    "cannot connect now",
)


# PostgreSQL SQLSTATE classes meaning "the server cannot serve us now", not "bad query":
# 08 connection exception, 28 bad authorization, 3D000 no such database,
# 53 insufficient resources (too many connections, disk full), 57P operator
# intervention (shutdown, cannot connect now), 55000 database not accepting connections.
_UNAVAILABLE_SQLSTATES = ("08", "28", "3D000", "53", "57P", "55000")


def is_unavailable(err: BaseException) -> bool:
    """True when an error means the database is unreachable or busy, not that a query is wrong."""
    if isinstance(err, OSError | TimeoutError):
        return True
    if isinstance(err, DBAPIError):
        if err.connection_invalidated:
            return True
        orig = err.orig
        if isinstance(orig, OSError | TimeoutError):
            return True
        sqlstate = getattr(orig, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        text = str(orig).lower()
        return any(marker in text for marker in _UNAVAILABLE_MARKERS)
    return False


def describe(err: BaseException) -> str:
    """The first line of the underlying driver error, for a one-line message."""
    orig = err.orig if isinstance(err, DBAPIError) and err.orig is not None else err
    text = str(orig).strip() or type(orig).__name__
    return text.splitlines()[0]
