"""The storemod worker: runs every workflow and activity on the task queue.

Run as many as you like (``storemod worker``): Temporal spreads the work.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.notices import NoticeActivities
from activities.publishing import PublishingActivities
from activities.records import RecordActivities
from activities.scanning import ScanActivities
from activities.validation import validate_submission
from connection import connect
from logs import configure, get_logger
from persistence.store import Store
from settings import Settings
from workflows.submission import SubmissionWorkflow

WORKFLOWS: Sequence[type] = (SubmissionWorkflow,)


def activities_for(store: Store, settings: Settings) -> list[Any]:
    """Every activity, bound to its dependencies."""
    records = RecordActivities(store)
    notices = NoticeActivities(store, settings)
    return [
        validate_submission,
        records.record_submission,
        records.record_audit,
        ScanActivities(store).scan_image,
        PublishingActivities(store).publish_listing,
        notices.send_notice,
        notices.mark_notice_sent,
    ]


def build_worker(client: Client, store: Store, settings: Settings) -> Worker:
    """A worker for the settings' task queue; the caller runs it."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=activities_for(store, settings),
        # Scans read whole images in threads; keep a 2-core box responsive.
        max_concurrent_activities=20,
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Connect, run until ``stop`` is set, then shut down gracefully."""
    log = get_logger(task_queue=settings.task_queue)
    client = await connect(settings)
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
    settings = Settings()
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
