"""Temporal Schedules of the store, created or updated idempotently at start.

Each entry of ``SCHEDULES`` has a fixed schedule id; ``ensure_schedules`` creates
the schedule, or updates it to the current definition when it already exists,
so every worker (and ``storemod dev``) can call it at start. Add a schedule by
appending a ``ScheduledWorkflow`` to ``SCHEDULES``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from models.activity_io import FeedRequest, RescanRequest
from models.reports import MonthlyReportsInput
from settings import Settings
from workflows.advisory_feed import AdvisoryFeedWorkflow
from workflows.audit_retention import AuditRetentionWorkflow
from workflows.reports import MonthlyReportsWorkflow
from workflows.rescan import RescanWorkflow


@dataclass(frozen=True)
class ScheduledWorkflow:
    """One schedule: its fixed id, the workflow it starts, when, and with what argument."""

    schedule_id: str
    workflow: str  # the workflow type name
    workflow_id: str  # Temporal appends the scheduled time to it for each run
    spec: ScheduleSpec | Callable[[Settings], ScheduleSpec]  # fixed, or from the settings
    args: Callable[[Settings], Sequence[Any]] = field(default=lambda _settings: ())
    catchup_window: timedelta = timedelta(days=1)
    execution_timeout: timedelta | None = None
    enabled: Callable[[Settings], bool] = field(default=lambda _settings: True)

    def schedule(self, settings: Settings) -> Schedule:
        spec = self.spec(settings) if callable(self.spec) else self.spec
        return Schedule(
            action=ScheduleActionStartWorkflow(
                self.workflow,
                args=list(self.args(settings)),
                id=self.workflow_id,
                task_queue=settings.task_queue,
                execution_timeout=self.execution_timeout,
            ),
            spec=spec,
            # A run still going when the next one is due (a long outage): skip, don't pile up.
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.SKIP, catchup_window=self.catchup_window
            ),
        )


def _at(hour: int, minute: int, day_of_month: int | None = None) -> ScheduleSpec:
    days = (ScheduleRange(day_of_month),) if day_of_month else (ScheduleRange(1, 31),)
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                hour=(ScheduleRange(hour),),
                minute=(ScheduleRange(minute),),
                day_of_month=days,
            )
        ],
        time_zone_name="UTC",
    )


AUDIT_RETENTION = ScheduledWorkflow(
    schedule_id="storemod-audit-retention",
    workflow=AuditRetentionWorkflow.__name__,
    workflow_id="audit-retention",
    spec=_at(3, 17),
)
MONTHLY_REPORTS = ScheduledWorkflow(
    schedule_id="storemod-monthly-reports",
    workflow=MonthlyReportsWorkflow.__name__,
    workflow_id="monthly-reports",
    spec=_at(2, 0, day_of_month=1),
    args=lambda _settings: (MonthlyReportsInput(),),
    # A report missed for days (Temporal down) is still sent when it comes back.
    catchup_window=timedelta(days=27),
)

RESCAN_PUBLISHED = ScheduledWorkflow(
    schedule_id="storemod-rescan-published",
    workflow=RescanWorkflow.__name__,
    workflow_id="rescan-published",
    spec=lambda settings: ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=settings.rescan_interval)]
    ),
    args=lambda _settings: (RescanRequest(),),
)
ADVISORY_FEED = ScheduledWorkflow(
    schedule_id="storemod-advisory-feed",
    workflow=AdvisoryFeedWorkflow.__name__,
    workflow_id="advisory-feed",
    spec=lambda settings: ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=settings.advisory_feed_interval)]
    ),
    args=lambda settings: (FeedRequest(str(settings.advisory_feed_source)),),
    enabled=lambda settings: bool(settings.advisory_feed_source),
)

SCHEDULES: list[ScheduledWorkflow] = [
    AUDIT_RETENTION,
    MONTHLY_REPORTS,
    RESCAN_PUBLISHED,
    ADVISORY_FEED,
]


async def ensure_schedules(
    client: Client, settings: Settings, schedules: Sequence[ScheduledWorkflow] | None = None
) -> list[str]:
    """Create each schedule, or bring an existing one up to date; return their ids."""
    done = []
    for entry in SCHEDULES if schedules is None else schedules:
        if not entry.enabled(settings):
            # Switched off in the settings: a schedule left from before must not run.
            with contextlib.suppress(RPCError):
                await client.get_schedule_handle(entry.schedule_id).delete()
            continue
        schedule = entry.schedule(settings)
        try:
            await client.create_schedule(entry.schedule_id, schedule)
        except ScheduleAlreadyRunningError:

            def _replace(inp: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                # Keep the operator's pause/note: only the definition is ours.
                return ScheduleUpdate(
                    schedule=dataclasses.replace(new, state=inp.description.schedule.state)
                )

            await client.get_schedule_handle(entry.schedule_id).update(_replace)
        done.append(entry.schedule_id)
    return done
