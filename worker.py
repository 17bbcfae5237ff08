"""The storemod worker: runs every workflow and activity on the task queue.

Run as many as you like (``storemod worker``): Temporal spreads the work.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.worker import Worker

from activities.audit_retention import AuditRetentionActivities
from activities.certification import CertificationActivities
from activities.listings import ListingActivities
from activities.monitoring import MonitoringActivities
from activities.notices import NoticeActivities
from activities.publishing import PublishingActivities
from activities.records import RecordActivities
from activities.reports import ReportActivities
from activities.scanning import ScanActivities
from activities.validation import validate_submission
from connection import connect
from logs import configure, get_logger
from persistence.store import Store
from schedules import ensure_schedules
from settings import Settings
from workflows.advisory_feed import AdvisoryFeedWorkflow
from workflows.audit_retention import AuditRetentionWorkflow
from workflows.certification import CertificationWorkflow
from workflows.listing import ListingWorkflow
from workflows.reports import MonthlyReportsWorkflow, MonthlyReportWorkflow
from workflows.rescan import RescanWorkflow
from workflows.submission import SubmissionWorkflow

WORKFLOWS: Sequence[type] = (
    SubmissionWorkflow,
    ListingWorkflow,
    AuditRetentionWorkflow,
    MonthlyReportsWorkflow,
    MonthlyReportWorkflow,
    RescanWorkflow,
    AdvisoryFeedWorkflow,
    CertificationWorkflow,
)


def activities_for(client: Client, store: Store, settings: Settings) -> list[Any]:
    """Every activity, bound to its dependencies."""
    records = RecordActivities(store)
    notices = NoticeActivities(store, settings)
    listings = ListingActivities(store, notices, client, settings)
    monitoring = MonitoringActivities(store, client, settings)
    certification = CertificationActivities(store, client, settings)
    return [
        validate_submission,
        records.record_submission,
        records.record_audit,
        ScanActivities(store).scan_image,
        PublishingActivities(store).publish_listing,
        notices.send_notice,
        notices.mark_notice_sent,
        listings.record_listing_state,
        listings.notify_subscribers,
        listings.announce_revision,
        monitoring.rescan_published,
        monitoring.import_advisory_feed,
        monitoring.match_affected_listings,
        certification.review_image,
        certification.run_plugin_suite,
        certification.grant_badge,
        certification.start_re_review,
        *report_and_retention_activities(store, settings, notices),
    ]


def report_and_retention_activities(
    store: Store, settings: Settings, notices: NoticeActivities
) -> list[Any]:
    """The monthly report and audit retention activities (issue 5)."""
    reports = ReportActivities(store, settings, notices)
    return [
        reports.list_publishers,
        reports.monthly_report_totals,
        reports.send_monthly_report,
        AuditRetentionActivities(store, settings).purge_audit,
    ]


def build_worker(client: Client, store: Store, settings: Settings) -> Worker:
    """A worker for the settings' task queue; the caller runs it."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=activities_for(client, store, settings),
        # Scans read whole images in threads; keep a 2-core box responsive.
        max_concurrent_activities=20,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Connect, run until ``stop`` is set, then shut down gracefully."""
    log = get_logger(task_queue=settings.task_queue)
    client = await connect(settings)
    await ensure_schedules(client, settings)
    store = await Store.open(settings.db_url)
    try:
        async with build_worker(client, store, settings):
            log.info("worker running", temporal=settings.temporal_address)
            await stop.wait()
    finally:
        await store.close()
        log.info("worker stopped")


def main() -> None:
    """Entry point of ``storemod worker``."""
    try:
        settings = Settings()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise SystemExit(f"error: invalid setting {where}: {first['msg']}") from None
    configure(settings.log_format)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(_run())


if __name__ == "__main__":
    main()
