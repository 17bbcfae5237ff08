"""``storemod events ingest FILE``: consumer activity from JSON lines or CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.session import Session, fail, out, run
from models.identity import Role
from reports.events import BadRow, EventFileError, read_events

events_app = typer.Typer(help="Consumer activity: downloads, purchases, ...", no_args_is_help=True)


@events_app.command("ingest")
def events_ingest(
    path: Path = typer.Argument(..., help="A .jsonl (JSON lines) or .csv file of events."),
) -> None:
    """Record consumer events (admins). Bad rows are reported by line and skipped;
    the good ones are stored in one transaction; a re-ingested event adds nothing."""

    async def body(session: Session) -> None:
        admin = await session.require(Role.ADMIN)
        try:
            good, bad = read_events(path)
        except EventFileError as err:
            fail(str(err))
        known = await session.store.product_publishers(e.product for _, e in good)
        kept = []
        for line, ev in good:
            if ev.product in known:
                kept.append(ev)
            else:
                bad.append(BadRow(line, f"unknown product {ev.product!r}"))
        inserted = await session.store.record_consumer_events(kept, ingested_by=admin.name)
        for row in sorted(bad, key=lambda r: r.line):
            print(f"{path}:{row.line}: {row.reason}", file=sys.stderr)
        out.print(
            f"{inserted} new event(s) recorded, {len(kept) - inserted} already recorded, "
            f"{len(bad)} bad row(s) skipped"
        )
        if bad:
            raise typer.Exit(1)

    run(body)
