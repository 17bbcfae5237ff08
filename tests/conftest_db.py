"""Database fixtures (a pytest plugin): real SQLite files and real PostgreSQL databases.

Load with ``pytest_plugins = ["tests.conftest_db"]`` in ``tests/conftest.py``.

PostgreSQL: the server named by ``STOREMOD_TEST_PG_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) must be reachable; each
test session creates uniquely named ``storemod_test_<uuid8>`` databases from it
and drops them at the end. Set ``STOREMOD_TEST_PG_URL=skip`` to skip the
PostgreSQL cases on a machine without PostgreSQL (they fail otherwise, so a
missing server is never mistaken for a pass).

Fixtures:
- ``sqlite_url`` / ``pg_url``: a migrated database shared by the session;
- ``db_url``: both of the above (tests using it run once per database);
- ``store``: an opened ``Store`` on ``db_url``, closed after the test;
- ``empty_db_url``: a brand-new, unmigrated database per test, both engines
  (``fresh_pg_url``: the PostgreSQL one alone);
- ``pg_databases``: the factory behind them (``await pg_databases.create()``).

The session databases are shared: tests must use unique names (``uniq``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from persistence.migrate import upgrade
from persistence.store import Store

DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL_ENV = "STOREMOD_TEST_PG_URL"


def pg_admin_url() -> str | None:
    """The PostgreSQL server used by tests, or None when disabled with "skip"."""
    value = os.environ.get(PG_URL_ENV, DEFAULT_PG_ADMIN_URL)
    return None if value.strip().lower() == "skip" else value


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as a plain DSN for asyncpg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgDatabases:
    """Creates uniquely named databases on the test server and drops them all at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.admin_url), timeout=10)

    async def create(self, prefix: str = "storemod_test") -> str:
        """A new empty database; returns its ``postgresql+asyncpg://`` URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = await self._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        conn = await self._admin()
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self.created.clear()


@pytest.fixture(scope="session")
async def pg_databases() -> AsyncIterator[PgDatabases]:
    """Factory of throwaway PostgreSQL databases (dropped at session end)."""
    admin = pg_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL tests disabled ({PG_URL_ENV}=skip)")
    try:
        conn = await asyncpg.connect(asyncpg_dsn(admin), timeout=10)
    except (OSError, asyncpg.PostgresError) as err:
        pytest.fail(
            f"PostgreSQL at {make_url(admin).render_as_string(hide_password=True)} is not "
            f"reachable ({err}); start it, point {PG_URL_ENV} at one, or set {PG_URL_ENV}=skip",
            pytrace=False,
        )
    await conn.close()
    databases = PgDatabases(admin)
    yield databases
    await databases.drop_all()


@pytest.fixture(scope="session")
async def pg_url(pg_databases: PgDatabases) -> str:
    """A migrated PostgreSQL database shared by the whole test session."""
    url = await pg_databases.create()
    await upgrade(url)
    return url


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file shared by the whole test session."""
    path = tmp_path_factory.mktemp("db") / "storemod.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database URL; tests using it run on SQLite and on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param.replace('postgres', 'pg')}_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """An opened, migrated Store on ``db_url``, closed after the test."""
    opened = await Store.open(db_url)
    yield opened
    await opened.close()


@pytest.fixture
async def fresh_pg_url(pg_databases: PgDatabases) -> str:
    """A brand-new PostgreSQL database with no schema, one per test."""
    return await pg_databases.create()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A brand-new database with no schema, one per test, on each engine."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'storemod.db'}"
    # Resolved only for the PostgreSQL case, so SQLite runs never need a server.
    return str(request.getfixturevalue("fresh_pg_url"))


@pytest.fixture
def uniq() -> str:
    """A short random suffix that keeps names unique in the shared session databases."""
    return uuid.uuid4().hex[:8]
