"""SQLModel table classes: the schema of the store.

Kept out of ``models/`` on purpose: workflow code imports ``models`` inside
Temporal's sandbox and must not pull in SQLAlchemy. The alembic migration in
``migrations/versions`` creates exactly this schema (a test compares them).
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# Stable constraint names, so a later migration can drop or alter them by name
# on both SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = SQLModel.metadata


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC going in and coming out.

    SQLite has no timezone type and SQLAlchemy drops the offset when it writes
    one, so values are normalised to UTC before storage (which also keeps the
    text form sortable) and tagged UTC on the way back.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use a timezone-aware one")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('publisher', 'moderator', 'admin')", name="role"),
        # A publisher acts for exactly one organisation; other roles for none.
        sa.CheckConstraint(
            "(role = 'publisher') = (publisher_id IS NOT NULL)", name="publisher_membership"
        ),
    )

    name: str = Field(primary_key=True)
    role: str = Field(nullable=False)
    publisher_id: str | None = Field(
        default=None, foreign_key="publishers.id", nullable=True, index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class PublisherRow(SQLModel, table=True):
    __tablename__ = "publishers"

    id: str = Field(primary_key=True)
    legal_name: str = Field(nullable=False)
    website: str = Field(nullable=False)
    phone: str = Field(nullable=False)
    email: str = Field(nullable=False)
    logo: str = Field(nullable=False)
    story: str = Field(sa_type=sa.Text, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class SubmissionRow(SQLModel, table=True):
    __tablename__ = "submissions"
    __table_args__ = (sa.Index("ix_submissions_state_created_at", "state", "created_at"),)

    id: str = Field(primary_key=True)
    product: str = Field(nullable=False, index=True)
    publisher_id: str = Field(foreign_key="publishers.id", nullable=False, index=True)
    state: str = Field(nullable=False)
    revision: int = Field(nullable=False)
    submitted_by: str = Field(nullable=False)
    manifest: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ScanRow(SQLModel, table=True):
    __tablename__ = "scans"
    __table_args__ = (sa.UniqueConstraint("submission_id", "revision", "tier", "tag"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: str = Field(foreign_key="submissions.id", nullable=False, index=True)
    revision: int = Field(nullable=False)
    tier: str = Field(nullable=False)
    tag: str = Field(nullable=False)
    summary: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    report: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AdvisoryRow(SQLModel, table=True):
    __tablename__ = "advisories"

    id: str = Field(primary_key=True)
    modified: datetime = Field(sa_type=UTCDateTime, nullable=False)
    withdrawn: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    record: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    imported_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AdvisoryPackageRow(SQLModel, table=True):
    """Index (ecosystem, package name) -> advisory, rebuilt when an advisory changes."""

    __tablename__ = "advisory_packages"

    # Primary key order makes (ecosystem, name) the lookup prefix.
    ecosystem: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    advisory_id: str = Field(
        primary_key=True, foreign_key="advisories.id", ondelete="CASCADE", index=True
    )


class ListingRow(SQLModel, table=True):
    __tablename__ = "listings"

    product: str = Field(primary_key=True)
    publisher_id: str = Field(foreign_key="publishers.id", nullable=False, index=True)
    submission_id: str = Field(foreign_key="submissions.id", nullable=False)
    revision: int = Field(nullable=False)
    manifest: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    tags: list[dict[str, Any]] = Field(sa_type=sa.JSON, nullable=False)
    state: str = Field(nullable=False)
    published_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AuditRow(SQLModel, table=True):
    """Append-only: triggers created by the migration refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_subject_id_at", "subject_id", "at"),
        sa.CheckConstraint("outcome IN ('applied', 'refused')", name="outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(nullable=False, unique=True)
    actor: str = Field(nullable=False, index=True)
    action: str = Field(nullable=False, index=True)
    subject_type: str = Field(nullable=False)
    subject_id: str = Field(nullable=False)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    reason: str = Field(sa_type=sa.Text, nullable=False)
    details: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    outcome: str = Field(nullable=False)
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class NoticeRow(SQLModel, table=True):
    """Outbox: one row per notice, so an email goes out once even when activities retry."""

    __tablename__ = "notices"

    key: str = Field(primary_key=True)
    recipient: str = Field(nullable=False)
    subject: str = Field(sa_type=sa.Text, nullable=False)
    template: str = Field(nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    attempts: int = Field(default=0, nullable=False)
    last_error: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    # The whole rendered message (RFC 5322), so a retry or a resend sends the same bytes.
    message: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    # Set when the retry window closed (or the relay refused for good): needs a resend.
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class AuditPurgeRow(SQLModel, table=True):
    """One retention purge. While a purge row is unfinished, inside the purge's own
    transaction, the delete trigger lets audit rows older than its cutoff (and older
    than 180 days, whatever the cutoff) be deleted; nothing else can delete them."""

    __tablename__ = "audit_purges"
    __table_args__ = (sa.CheckConstraint("retention_days >= 180", name="retention_floor"),)

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(nullable=False)
    retention_days: int = Field(nullable=False)
    cutoff: datetime = Field(sa_type=UTCDateTime, nullable=False)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    deleted: int = Field(default=0, nullable=False)


class ConsumerEventRow(SQLModel, table=True):
    """A download, purchase, cancellation, refund, tax payment or subscription start/end."""

    __tablename__ = "consumer_events"
    __table_args__ = (
        sa.Index("ix_consumer_events_publisher_id_at", "publisher_id", "at"),
        sa.CheckConstraint("customer_type IN ('free', 'paid')", name="customer_type"),
    )

    event_id: str = Field(primary_key=True)
    kind: str = Field(nullable=False)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    customer: str = Field(nullable=False)
    customer_type: str = Field(nullable=False)
    publisher_id: str = Field(foreign_key="publishers.id", nullable=False)
    product: str = Field(nullable=False, index=True)
    tier: str = Field(nullable=False)
    # Decimal as text: SQLite has no exact decimal type, and floats are never used for money.
    amount: str | None = Field(default=None, nullable=True)
    currency: str | None = Field(default=None, nullable=True)
    notify_opt_in: bool = Field(nullable=False)
    subscription: str = Field(nullable=False)
    ingested_by: str = Field(nullable=False)
    ingested_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class PublishedPackageRow(SQLModel, table=True):
    """Which published image carries which package: the index the advisory feed joins
    against ``advisory_packages`` to find affected listings without rescanning."""

    __tablename__ = "published_packages"
    # Records indexed under a bare ecosystem ("Debian", "PyPI") join on (name, base):
    # without this index the join walks every inventory row of the ecosystem.
    __table_args__ = (
        sa.Index("ix_published_packages_name_ecosystem_base", "name", "ecosystem_base"),
    )

    # Primary key order makes (ecosystem, name) the lookup prefix.
    ecosystem: str = Field(primary_key=True)  # e.g. "Debian:12"
    name: str = Field(primary_key=True)  # binary and source package names
    product: str = Field(
        primary_key=True, foreign_key="listings.product", ondelete="CASCADE", index=True
    )
    tag: str = Field(primary_key=True)
    ecosystem_base: str = Field(index=True)  # "Debian": advisories indexed without a release


class PublishedTagRow(SQLModel, table=True):
    """A published tag and where its inventory lives (the scan report of its revision)."""

    __tablename__ = "published_tags"

    product: str = Field(primary_key=True, foreign_key="listings.product", ondelete="CASCADE")
    tag: str = Field(primary_key=True)
    tier: str
    digest: str
    image_ref: str
    ecosystem: str
    submission_id: str
    revision: int


class CertificationReviewRow(SQLModel, table=True):
    """A best-practices review (or plugin suite run), stored per image digest."""

    __tablename__ = "certification_reviews"

    certification_id: str = Field(primary_key=True)
    subject: str = Field(primary_key=True)  # "TIER/TAG" or "plugin"
    digest: str = Field(index=True)
    review: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    reviewed_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
