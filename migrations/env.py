"""Alembic environment for the store.

Two ways in:
- from ``persistence.migrate``: ``config.attributes["connection"]`` holds a
  connection with an open transaction (and the migration lock); use it;
- from the alembic CLI: build an engine from the URL and go through the same
  locked upgrade path.
"""

import asyncio
import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from persistence.engine import create_engine, write_engine
from persistence.tables import UTCDateTime, metadata

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Revisions must not import application types: render them as plain SQLAlchemy.
    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        if type(obj).__name__ == "AutoString":
            return "sa.String()"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        render_item=_render_item,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _cli_url() -> str:
    url = os.environ.get("STOREMOD_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from settings import Settings

    return Settings().db_url


async def _run_from_cli() -> None:
    from sqlalchemy import text

    from persistence.migrate import MIGRATION_LOCK_KEY

    engine = create_engine(_cli_url())
    try:
        async with write_engine(engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_cli_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        asyncio.run(_run_from_cli())
