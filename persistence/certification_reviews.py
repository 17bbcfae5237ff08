"""Certification reviews, stored per image digest and shown to the publisher check by check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from persistence.store import Store
from persistence.tables import CertificationReviewRow


class CertificationReviews:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def save(
        self, certification_id: str, subject: str, digest: str, review: dict[str, Any]
    ) -> None:
        """Record one review; a retried activity replaces its own row, never adds one."""
        async with self._store._session(write=True) as s:
            row = await s.get(CertificationReviewRow, (certification_id, subject))
            if row is None:
                row = CertificationReviewRow(
                    certification_id=certification_id,
                    subject=subject,
                    digest=digest,
                    review=review,
                    reviewed_at=datetime.now(UTC),
                )
            row.digest, row.review = digest, review
            s.add(row)

    async def for_digest(self, digest: str) -> list[dict[str, Any]]:
        """Every review of an image digest, oldest first."""
        query = (
            select(CertificationReviewRow)
            .where(col(CertificationReviewRow.digest) == digest)
            .order_by(col(CertificationReviewRow.reviewed_at))
        )
        async with self._store._session() as s:
            return [dict(row.review) for row in (await s.exec(query)).all()]
