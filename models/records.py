"""Rows of the store as plain data, independent of the database layer.

Workflows import these, so they must not pull in SQLAlchemy.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class SubmissionRecord:
    id: str
    product: str
    publisher_id: str
    state: str
    revision: int
    submitted_by: str
    manifest: dict[str, Any]
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class TagScan:
    """Per published tag: its digest and scan colour, as the catalog shows it."""

    tier: str
    tag: str
    digest: str
    colour: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ListingRecord:
    product: str
    publisher_id: str
    submission_id: str
    revision: int
    manifest: dict[str, Any]
    tags: list[TagScan]
    state: str = "published"
    published_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class AuditEvent:
    """One append-only audit row: who did what, when, on what, and why."""

    key: str  # idempotency key: the same event recorded twice is one row
    actor: str
    action: str
    subject_type: str  # "submission", "listing", "publisher", "user", "advisory"
    subject_id: str
    at: datetime
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    outcome: str = "applied"  # "applied" or "refused"


@dataclass
class NoticeRecord:
    """An outbox row: a notice keyed by its event and recipient."""

    key: str
    recipient: str
    subject: str
    template: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    failed_at: datetime | None = None  # retry window over or relay refused: resend by hand


@dataclass
class PublishedTag:
    """A tag the catalog publishes, and the scan report that holds its inventory."""

    product: str
    tag: str
    tier: str
    digest: str
    image_ref: str
    ecosystem: str
    submission_id: str
    revision: int
