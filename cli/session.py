"""What every command shares: settings, the store, Temporal, who acts, clean errors.

Command modules use ``run(body)`` with an async ``body(session)``; a user's
mistake is ``fail("...")``, which the entry point prints as one line.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from rich.console import Console
from temporalio.client import Client

from connection import connect
from models.identity import Actor, Role
from models.records import AuditEvent
from persistence.store import Store, StoreUnavailable
from settings import Settings

# The acting user named by the global --as option (set by the CLI callback).
_state: dict[str, Any] = {"as": None}


def set_acting_user(name: str | None) -> None:
    _state["as"] = name


def acting_user_name() -> str | None:
    return _state["as"]


# Off a terminal (pipes, tests) rich would wrap at 80 columns and cut CVE ids.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


class UserError(Exception):
    """A mistake of the user's: printed as one line, exit code 2."""


# ------------------------------------------------------------------ plumbing


def fail(message: str) -> NoReturn:
    raise UserError(message)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(f"invalid setting {where}: {first['msg']}")


class Session:
    """What one CLI invocation talks to: settings, the database, Temporal (lazily)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            try:
                self._client = await connect(self.settings)
            except RuntimeError as err:
                fail(
                    f"cannot reach Temporal at {self.settings.temporal_address} ({err}); "
                    "is `storemod dev` (or your cluster) running?"
                )
        return self._client

    async def actor(self) -> Actor:
        """The acting user named by --as / STOREMOD_AS."""
        name = acting_user_name()
        if not name:
            fail("say who acts: --as USER (or STOREMOD_AS=USER)")
        user = await self.store.get_user(name)
        if user is None:
            fail(f"unknown user {name!r}; an admin adds users with `storemod user add`")
        return user

    async def require(self, *roles: Role) -> Actor:
        actor = await self.actor()
        if actor.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            fail(f"{actor.name} is a {actor.role.value}; this needs a {allowed}")
        return actor

    async def audit_refusal(
        self, actor: Actor, action: str, subject: str, why: str, subject_type: str = "submission"
    ) -> None:
        """A refused action is audited as refused, not applied."""
        await self.store.append_audit(
            AuditEvent(
                key=f"refused/{uuid.uuid4()}",
                actor=actor.name,
                action=action,
                subject_type=subject_type,
                subject_id=subject,
                at=datetime.now(UTC),
                reason=why,
                outcome="refused",
            )
        )


async def open_session() -> Session:
    settings = load_settings()
    try:
        store = await Store.open(settings.db_url)
    except StoreUnavailable as err:
        fail(str(err))
    return Session(settings, store)


def run(body: Callable[[Session], Awaitable[None]]) -> None:
    """Open a session, run ``body``, close the session."""

    async def _main() -> None:
        session = await open_session()
        try:
            await body(session)
        finally:
            await session.store.close()

    asyncio.run(_main())


def report_problems(path: Path, problems: list[Any]) -> NoReturn:
    lines = "\n".join(f"  {p.field}: {p.message}" for p in problems)
    fail(f"{path} has {len(problems)} problem(s); nothing was changed:\n{lines}")


def parse_expiry(raw: str) -> datetime:
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(23, 59), tzinfo=UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"--expires {raw!r} is not a date (YYYY-MM-DD) or ISO date-time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
