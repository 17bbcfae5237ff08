"""The audit retention purge, run daily by a Temporal Schedule."""

from __future__ import annotations

from temporalio import activity

from logs import get_logger
from models.reports import PURGE_AUDIT, PurgeRequest, PurgeResult
from persistence.store import Store
from settings import Settings

PURGE_ACTOR = "storemod"


class AuditRetentionActivities:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @activity.defn(name=PURGE_AUDIT)
    async def purge_audit(self, req: PurgeRequest) -> PurgeResult:
        """Delete audit events older than the retention setting (never under 180 days)."""
        retention = self._settings.audit_retention
        deleted = await self._store.purge_audit(retention, actor=PURGE_ACTOR, key=req.key)
        get_logger(purge=req.key).info("audit purge", deleted=deleted, days=retention.days)
        return PurgeResult(deleted=deleted, retention_days=retention.days)
