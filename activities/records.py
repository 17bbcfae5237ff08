"""Bookkeeping activities: the submission mirror and the audit trail."""

from __future__ import annotations

from temporalio import activity

from logs import get_logger
from models.activity_io import RECORD_AUDIT, RECORD_SUBMISSION, AuditRequest, SubmissionSnapshot
from models.records import SubmissionRecord
from persistence.store import Store


class RecordActivities:
    """Writes the queryable mirror of workflow state; idempotent on retry."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn(name=RECORD_SUBMISSION)
    async def record_submission(self, snap: SubmissionSnapshot) -> None:
        """Upsert the submission row (queue, status listings) with its current state."""
        await self._store.upsert_submission(
            SubmissionRecord(
                id=snap.submission_id,
                product=snap.product,
                publisher_id=snap.publisher_id,
                state=snap.state,
                revision=snap.revision,
                submitted_by=snap.submitted_by,
                manifest=snap.manifest.model_dump(mode="json"),
            )
        )

    @activity.defn(name=RECORD_AUDIT)
    async def record_audit(self, req: AuditRequest) -> None:
        """Append one audit event; a retry with the same key adds nothing."""
        added = await self._store.append_audit(req.event)
        get_logger(submission=req.event.subject_id).info(
            "audit", action=req.event.action, actor=req.event.actor, added=added
        )
