"""Run the alembic migrations in ``migrations/`` from code, without an alembic.ini.

The alembic configuration is built here so migrations work from an installed
package, not only from the repository root. On PostgreSQL the whole upgrade
runs in one transaction behind an advisory lock, so two processes starting at
once (two workers, a worker and the CLI) do not race; on SQLite the upgrade
runs in one ``BEGIN IMMEDIATE`` transaction, which serialises it the same way.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from persistence.engine import create_engine, describe, parse_url, safe_url, write_engine
from persistence.errors import SchemaOutOfDate, StoreUnavailable

# __path__, not __file__: an editable install may map the folder as a namespace package.
MIGRATIONS_DIR = Path(next(iter(migrations.__path__))).resolve()

# Arbitrary constant naming the "schema migration" advisory lock in PostgreSQL.
MIGRATION_LOCK_KEY = 0x53544F52454D4F44  # "STOREMOD"


def alembic_config(url: str | None = None) -> Config:
    """An alembic Config pointing at the packaged migrations (``url`` optional)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal "%" in a password must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    # env.py uses this connection (and its open transaction) instead of making one.
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_engine(engine: AsyncEngine) -> None:
    """Upgrade the database behind ``engine`` to head; a no-op when already there."""
    async with write_engine(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        try:
            await conn.run_sync(_upgrade)
        except CommandError as err:
            # Typically a newer storemod migrated this database past our head.
            raise SchemaOutOfDate(
                f"cannot migrate the database at {safe_url(engine.url)}: {err} "
                f"(this code knows revisions up to {head_revision()})"
            ) from None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (idempotent).

    Raises ``StoreConfigError`` for a bad URL, ``StoreUnavailable`` when the
    database cannot be reached.
    """
    shown = safe_url(parse_url(url))
    try:
        engine = create_engine(url)
    except OSError as err:
        raise StoreUnavailable(f"cannot create the database folder for {shown}: {err}") from None
    try:
        await upgrade_engine(engine)
    except (DBAPIError, OSError, TimeoutError) as err:
        raise StoreUnavailable(f"cannot migrate the database at {shown}: {describe(err)}") from None
    finally:
        await engine.dispose()
