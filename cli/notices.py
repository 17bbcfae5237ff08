"""``storemod notices``: the outbox as operators see it; ``notices resend KEY``."""

from __future__ import annotations

import typer
from rich.table import Table

from activities.notices import NoticeResendError, resend_notice
from cli.session import Session, fail, out, run
from models.identity import Role
from models.records import NoticeRecord

notices_app = typer.Typer(
    help="The email outbox: sent, retrying and failed notices (moderators and admins).",
    invoke_without_command=True,
)


def _state(n: NoticeRecord) -> str:
    if n.sent_at is not None:
        return "sent"
    if n.failed_at is not None:
        return "FAILED"
    return "retrying" if n.last_error else "pending"


@notices_app.callback()
def notices_list(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only notices given up on (to resend)."),
) -> None:
    """List notices, oldest first: state, attempts, last error."""
    if ctx.invoked_subcommand is not None:
        return

    async def body(session: Session) -> None:
        await session.require(Role.MODERATOR, Role.ADMIN)
        store = session.store
        rows = await (store.list_failed_notices() if failed else store.list_notices())
        if not rows:
            out.print("no failed notices" if failed else "no notices")
            return
        table = Table("key", "to", "state", "attempts", "created (UTC)", "last error")
        for n in rows:
            table.add_row(
                n.key,
                n.recipient,
                _state(n),
                str(n.attempts),
                n.created_at.strftime("%Y-%m-%d %H:%M"),
                n.last_error or "",
            )
        out.print(table)
        if failed:
            out.print("resend one with: storemod notices resend KEY")

    run(body)


@notices_app.command("resend")
def notices_resend(key: str = typer.Argument(..., help="The notice key (see --failed).")) -> None:
    """Send a failed notice again, exactly once (admins); audited with who resent it."""

    async def body(session: Session) -> None:
        admin = await session.require(Role.ADMIN)
        try:
            sent = await resend_notice(session.store, session.settings, key, admin.name)
        except NoticeResendError as err:
            fail(str(err))
        out.print(f"resent {sent.key} to {sent.recipient}")

    run(body)
