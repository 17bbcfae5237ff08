"""``storemod audit``: the audit trail as JSON lines, filtered."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta

import typer

from cli.session import Session, fail, run
from models.identity import Role


def parse_when(raw: str, option: str, end_of_day: bool = False) -> datetime:
    """YYYY-MM-DD (midnight UTC; the next midnight with ``end_of_day``) or an ISO
    date-time (UTC when it has no offset)."""
    try:
        if len(raw) == 10:
            day = datetime.combine(date.fromisoformat(raw), time(0), tzinfo=UTC)
            return day + timedelta(days=1) if end_of_day else day
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        fail(f"{option} {raw!r} is not a date (YYYY-MM-DD) or an ISO date-time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit(
    product: str = typer.Option(None, help="Events about this product and its submissions."),
    publisher: str = typer.Option(None, help="Events about this publisher and its products."),
    actor: str = typer.Option(None, help="Events by this user (or customer)."),
    action: str = typer.Option(None, help="Events of this action, e.g. approve."),
    subject: str = typer.Option(None, help="Events about this exact subject id."),
    since: str = typer.Option(None, help="From this date (YYYY-MM-DD, UTC) or ISO date-time."),
    until: str = typer.Option(
        None, help="Up to this date, included (YYYY-MM-DD, UTC), or before an ISO date-time."
    ),
) -> None:
    """Print audit events as JSON lines, oldest first (moderators and admins)."""

    async def body(session: Session) -> None:
        await session.require(Role.MODERATOR, Role.ADMIN)
        start = parse_when(since, "--since") if since else None
        end = parse_when(until, "--until", end_of_day=True) if until else None
        if start and end and end <= start:
            fail("--until must be after --since")
        events = await session.store.query_audit(
            product=product,
            publisher=publisher,
            actor=actor,
            action=action,
            subject_id=subject,
            since=start,
            until=end,
        )
        for ev in events:
            print(json.dumps(asdict(ev), default=str))

    run(body)
