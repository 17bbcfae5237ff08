"""``storemod report PUBLISHER --month YYYY-MM``: a monthly report, on demand."""

from __future__ import annotations

import typer

from activities.reports import build_report
from cli.session import Session, fail, run
from models.identity import Role
from notifications.render import render_notice
from reports.monthly import MonthError, parse_month


def report(
    publisher: str = typer.Argument(..., help="Publisher id."),
    month: str = typer.Option(..., help="The month, YYYY-MM (UTC)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the CSV attachment instead."),
) -> None:
    """Show a publisher's monthly report (its members, moderators and admins)."""

    async def body(session: Session) -> None:
        actor = await session.actor()
        if actor.role == Role.PUBLISHER and actor.publisher_id != publisher:
            fail(f"no publisher {publisher!r} visible to {actor.name}")
        try:
            parse_month(month)
        except MonthError as err:
            fail(str(err))
        profile = await session.store.get_publisher(publisher)
        if profile is None:
            fail(f"no publisher {publisher!r}")
        built = await build_report(session.store, session.settings, publisher, month)
        if as_csv:
            print(built.csv(), end="")
            return
        rendered = render_notice(
            "monthly_report",
            {
                "publisher_name": profile.legal_name,
                "product": "",
                "product_name": "",
                "submission_id": "",
                "revision": 0,
                "actor": actor.name,
                "month": month,
                "report": built.context(),
            },
        )
        print(rendered.subject)
        print()
        print(rendered.text, end="")

    run(body)
