"""Monthly publisher reports.

``MonthlyReportsWorkflow`` is started by the monthly schedule on the 1st; it
starts one ``MonthlyReportWorkflow`` per publisher with the workflow id
``report-{publisher}-{YYYY-MM}``. Temporal refuses a second workflow with that
id, so running a month twice sends each report once (and the outbox would stop
a second email anyway).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from models.activity_io import NoticeResult
    from models.reports import (
        LIST_PUBLISHERS,
        MONTHLY_REPORT_TOTALS,
        SEND_MONTHLY_REPORT,
        MonthlyReportInput,
        MonthlyReportResult,
        MonthlyReportsInput,
        MonthlyReportsResult,
        ReportTotals,
    )

_RECORD_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
_NOTICE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


def report_workflow_id(publisher_id: str, month: str) -> str:
    """One report workflow per publisher and month, ever."""
    return f"report-{publisher_id}-{month}"


def month_before(moment: datetime) -> str:
    """YYYY-MM of the UTC calendar month before ``moment``'s."""
    moment = moment.astimezone(UTC)
    year, month = (moment.year - 1, 12) if moment.month == 1 else (moment.year, moment.month - 1)
    return f"{year:04d}-{month:02d}"


@workflow.defn
class MonthlyReportWorkflow:
    """One publisher's report for one month: totals, then the email with its CSV."""

    @workflow.run
    async def run(self, inp: MonthlyReportInput) -> MonthlyReportResult:
        totals = await workflow.execute_activity(
            MONTHLY_REPORT_TOTALS,
            inp,
            result_type=ReportTotals,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=_RECORD_RETRY,
        )
        try:
            await workflow.execute_activity(
                SEND_MONTHLY_REPORT,
                totals,
                result_type=NoticeResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_NOTICE_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "NoticeFailed":
                # Visible in `storemod notices --failed`; an operator resends it.
                return MonthlyReportResult(inp.publisher_id, inp.month, "failed", cause.message)
            raise
        return MonthlyReportResult(inp.publisher_id, inp.month, "sent")


@workflow.defn
class MonthlyReportsWorkflow:
    """The schedule's action: one MonthlyReportWorkflow per publisher for the month."""

    @workflow.run
    async def run(self, inp: MonthlyReportsInput) -> MonthlyReportsResult:
        month = inp.month
        if not month:
            scheduled = workflow.info().typed_search_attributes.get(_SCHEDULED_START)
            month = month_before(scheduled or workflow.now())
        publishers = await workflow.execute_activity(
            LIST_PUBLISHERS,
            result_type=list[str],
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=_RECORD_RETRY,
        )
        result = MonthlyReportsResult(month=month)
        children = []
        for publisher in publishers:
            child_id = report_workflow_id(publisher, month)
            try:
                handle = await workflow.start_child_workflow(
                    MonthlyReportWorkflow.run,
                    MonthlyReportInput(publisher, month),
                    id=child_id,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                result.skipped.append(child_id)
                continue
            result.started.append(child_id)
            children.append(handle)
        await asyncio.gather(*children)
        return result
