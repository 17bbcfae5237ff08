"""`storemod listing …` and `storemod clocks`: the catalog and the SLA clocks after publication."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich.table import Table
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from cli.session import Session, fail, out, parse_expiry, run
from models.identity import Actor, Role
from models.listing import ListingAction, ListingExceptionGrant, ListingStatus
from workflows.listing import ListingWorkflow, listing_workflow_id

listing_app = typer.Typer(help="The catalog: listings, holds, revocations.", no_args_is_help=True)


async def live_status(session: Session, product: str) -> ListingStatus | None:
    """The listing's workflow state, or None when it has none running (revoked, or older)."""
    client = await session.client()
    try:
        status: ListingStatus = await client.get_workflow_handle(
            listing_workflow_id(product)
        ).query(ListingWorkflow.status)
    except RPCError:
        return None
    return status


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


@listing_app.command("show")
def listing_show(product: str = typer.Argument(..., help="Product id.")) -> None:
    """Show a listing as the catalog does: manifest, tiers, per-tag scan colour, hold label."""

    async def body(session: Session) -> None:
        listing = await session.store.get_listing(product)
        if listing is None:
            fail(f"no published listing {product!r}")
        if listing.state == "revoked":
            fail(f"listing {product!r} was revoked and is no longer in the catalog")
        m = listing.manifest
        live = await live_status(session, product)
        out.print(f"[bold]{m['name']}[/bold] ({listing.product}) by {listing.publisher_id}")
        for badge in live.badges if live else []:
            out.print(f"[bold green]Docker Certified {badge.kind.value.title()}[/bold green]")
        if listing.state == "on_hold":
            out.print("[bold red]ON HOLD[/bold red]: a security issue is being fixed")
        out.print(f"state: {listing.state}  revision {listing.revision}  category {m['category']}")
        out.print(m["short_description"])
        out.print(f"tags: {', '.join(m.get('tags', []))}")
        out.print(f"support: {m['support_link']}  license: {m['license_link']}")
        tiers = Table("tier", "price", "description", title="tiers")
        for tier in m["tiers"]:
            price = tier["price"]
            tiers.add_row(
                tier["name"], f"{price['amount']} {price['currency']}", tier["description"]
            )
        out.print(tiers)
        tags = Table("tier", "tag", "scan", "digest", title="tags")
        for t in listing.tags:
            tags.add_row(t.tier, t.tag, t.colour, t.digest[:19])
        out.print(tags)
        out.print("installation:")
        out.print(m["installation"])
        if live is not None and live.open_clocks:
            clocks = Table("CVE", "class", "package", "deadline", "tags", title="open SLA clocks")
            for c in live.open_clocks:
                clocks.add_row(
                    c.cve, c.severity.value, c.package, _when(c.deadline), ", ".join(c.tags)
                )
            out.print(clocks)
        if live is not None and live.revoke_at:
            out.print(f"revoked on {_when(live.revoke_at)} unless fixed")

    run(body)


def _listing_command(update: Any, action: str, verb: str) -> Any:
    def command(
        product: str = typer.Argument(..., help="Product id."),
        reason: str = typer.Option(..., help="Why; shown to the publisher and audited."),
    ) -> None:
        async def body(session: Session) -> None:
            actor = await session.require(Role.MODERATOR, Role.ADMIN)
            status = await _update(
                session, actor, product, action, update, ListingAction(actor, reason)
            )
            out.print(f"{product}: {status.state.value}")

        run(body)

    command.__doc__ = f"{verb} a listing by hand, with a reason (moderators)."
    return command


async def _update(
    session: Session, actor: Actor, product: str, action: str, update: Any, arg: Any
) -> ListingStatus:
    if await session.store.get_listing(product) is None:
        fail(f"no published listing {product!r}")
    client = await session.client()
    handle = client.get_workflow_handle(listing_workflow_id(product))
    try:
        result: ListingStatus = await handle.execute_update(update, arg)
        return result
    except WorkflowUpdateFailedError as err:
        why = str(getattr(err.cause, "message", err.cause))
    except RPCError as err:
        why = f"listing {product} has no running workflow ({err.message}); it may be revoked"
    await session.audit_refusal(actor, action, product, why, subject_type="listing")
    fail(f"refused: {why}")


listing_app.command("hold")(_listing_command(ListingWorkflow.hold, "hold", "Put on hold"))
listing_app.command("restore")(_listing_command(ListingWorkflow.restore, "restore", "Restore"))
listing_app.command("revoke")(_listing_command(ListingWorkflow.revoke, "revoke", "Revoke"))


@listing_app.command("grant-exception")
def listing_grant_exception(
    product: str = typer.Argument(..., help="Product id."),
    cve: str = typer.Argument(..., help="The CVE to accept."),
    justification: str = typer.Option(..., help="Why the CVE is acceptable."),
    expires: str = typer.Option(..., help="Expiry date (YYYY-MM-DD, UTC) or ISO date-time."),
) -> None:
    """Accept one CVE on a published listing until an expiry: its clock closes (moderators)."""

    async def body(session: Session) -> None:
        actor = await session.require(Role.MODERATOR, Role.ADMIN)
        grant = ListingExceptionGrant(actor, cve, justification, parse_expiry(expires))
        status = await _update(
            session, actor, product, "grant_exception", ListingWorkflow.grant_exception, grant
        )
        out.print(f"{product}: exception for {cve} granted ({status.state.value})")

    run(body)


def clocks() -> None:
    """Every open SLA clock across the store, soonest deadline first (moderators)."""

    async def body(session: Session) -> None:
        await session.require(Role.MODERATOR, Role.ADMIN)
        rows = []
        for listing in await session.store.list_listings():
            if listing.state == "revoked":
                continue
            live = await live_status(session, listing.product)
            for c in live.open_clocks if live else []:
                rows.append((c.deadline, listing.product, listing.state, c))
        if not rows:
            out.print("no open SLA clocks")
            return
        table = Table("deadline", "product", "listing", "CVE", "class", "package", "started")
        for deadline, product, state, c in sorted(rows, key=lambda r: (r[0], r[1])):
            table.add_row(
                _when(deadline),
                product,
                state,
                c.cve,
                c.severity.value,
                c.package,
                _when(c.started_at),
            )
        out.print(table)

    run(body)
