"""RescanWorkflow: rescan every published image with today's advisories (scheduled daily)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.effects import RECORD_RETRY

with workflow.unsafe.imports_passed_through():
    from models.activity_io import RESCAN_PUBLISHED, RescanRequest, RescanResult


@workflow.defn
class RescanWorkflow:
    """Started by the ``rescan-published`` Schedule; listings get their findings by signal."""

    @workflow.run
    async def run(self, req: RescanRequest) -> RescanResult:
        result = await workflow.execute_activity(
            RESCAN_PUBLISHED,
            req,
            result_type=RescanResult,
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RECORD_RETRY,
        )
        workflow.logger.info(
            "rescanned %d published tags, %d unreadable", result.tags, len(result.unreadable)
        )
        return result
