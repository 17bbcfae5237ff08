"""AdvisoryFeedWorkflow: import new OSV records and tell the listings they affect.

Scheduled; the affected published tags are found by an indexed join of the new
records' packages against the published inventory, never by rescanning images.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.effects import RECORD_RETRY

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        IMPORT_ADVISORY_FEED,
        MATCH_AFFECTED_LISTINGS,
        AffectedRequest,
        AffectedResult,
        FeedRequest,
        FeedResult,
    )


@workflow.defn
class AdvisoryFeedWorkflow:
    @workflow.run
    async def run(self, req: FeedRequest) -> AffectedResult:
        feed = await workflow.execute_activity(
            IMPORT_ADVISORY_FEED,
            req,
            result_type=FeedResult,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RECORD_RETRY,
        )
        for skipped in feed.skipped:
            workflow.logger.warning("feed record skipped: %s", skipped)
        if not feed.changed:
            return AffectedResult()
        return await workflow.execute_activity(
            MATCH_AFFECTED_LISTINGS,
            AffectedRequest(feed.changed),
            result_type=AffectedResult,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RECORD_RETRY,
        )
