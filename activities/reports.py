"""Monthly report activities: the totals from the store, the email with its CSV."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notices import Attachment, NoticeActivities
from logs import get_logger
from models.activity_io import NoticeResult
from models.reports import (
    LIST_PUBLISHERS,
    MONTHLY_REPORT_TOTALS,
    SEND_MONTHLY_REPORT,
    MonthlyReportInput,
    ReportTotals,
)
from persistence.store import Store
from reports.monthly import MonthlyReport, compute_report, parse_month, report_csv
from settings import Settings


async def build_report(
    store: Store, settings: Settings, publisher_id: str, month: str
) -> MonthlyReport:
    """The report of ``publisher_id`` for ``month`` (YYYY-MM), from the stored events."""
    start, end = parse_month(month)
    events = await store.consumer_events(publisher_id, start, end)
    return compute_report(publisher_id, month, events, settings.store_fee_percent)


def report_key(publisher_id: str, month: str) -> str:
    """The outbox event key of a report: one email per publisher, month and recipient."""
    return f"report/{publisher_id}/{month}"


class ReportActivities:
    def __init__(self, store: Store, settings: Settings, notices: NoticeActivities) -> None:
        self._store = store
        self._settings = settings
        self._notices = notices

    @activity.defn(name=LIST_PUBLISHERS)
    async def list_publishers(self) -> list[str]:
        """Every publisher id (the monthly fan-out)."""
        return await self._store.list_publisher_ids()

    @activity.defn(name=MONTHLY_REPORT_TOTALS)
    async def monthly_report_totals(self, req: MonthlyReportInput) -> ReportTotals:
        """Compute the month's totals for one publisher."""
        profile = await self._store.get_publisher(req.publisher_id)
        if profile is None:
            raise ApplicationError(
                f"publisher {req.publisher_id!r} does not exist", non_retryable=True
            )
        report = await build_report(self._store, self._settings, req.publisher_id, req.month)
        get_logger(publisher=req.publisher_id, month=req.month).info("report computed")
        return ReportTotals(
            publisher_id=req.publisher_id,
            month=req.month,
            publisher_name=profile.legal_name,
            recipient=profile.email,
            report=report.context(),
        )

    @activity.defn(name=SEND_MONTHLY_REPORT)
    async def send_monthly_report(self, totals: ReportTotals) -> NoticeResult:
        """Email the report (HTML and text, CSV attached) once, through the outbox."""
        context: dict[str, object] = {
            "publisher_name": totals.publisher_name,
            "product": "",
            "product_name": "",
            "submission_id": "",
            "revision": 0,
            "actor": "storemod",
            "month": totals.month,
            "report": totals.report,
        }
        csv_name = f"storemod-report-{totals.publisher_id}-{totals.month}.csv"
        return await self._notices.deliver(
            f"{report_key(totals.publisher_id, totals.month)}/{totals.recipient}",
            totals.recipient,
            "monthly_report",
            context,
            attachments=[Attachment(csv_name, report_csv(totals.report))],
            subject_id=f"publisher {totals.publisher_id}",
        )
