"""The audit retention purge, started daily by a Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.reports import PURGE_AUDIT, PurgeRequest, PurgeResult


@workflow.defn
class AuditRetentionWorkflow:
    """Delete audit events older than the workers' ``audit_retention`` (>= 180 days)."""

    @workflow.run
    async def run(self) -> PurgeResult:
        # The schedule gives each run its own workflow id: the purge key of this run.
        return await workflow.execute_activity(
            PURGE_AUDIT,
            PurgeRequest(key=f"audit-purge/{workflow.info().workflow_id}"),
            result_type=PurgeResult,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
