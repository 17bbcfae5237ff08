"""Outbox message and failure columns, the audit retention purge, consumer events.

The audit trail stays append-only: UPDATE and TRUNCATE are refused as before,
and DELETE only succeeds for a row that is older than 180 days (the floor,
checked by the database clock) and older than the cutoff of a retention purge
running in the same transaction (an unfinished ``audit_purges`` row).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLOOR_DAYS = 180
DELETE_MESSAGE = (
    "audit events are append-only: only the retention purge deletes them, "
    f"and only when older than {FLOOR_DAYS} days"
)

SQLITE_UP = [
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    f"""
    CREATE TRIGGER audit_events_no_delete
    BEFORE DELETE ON audit_events
    WHEN NOT (
        OLD.at < datetime('now', '-{FLOOR_DAYS} days')
        AND EXISTS (
            SELECT 1 FROM audit_purges WHERE finished_at IS NULL AND OLD.at < audit_purges.cutoff
        )
    )
    BEGIN
        SELECT RAISE(ABORT, '{DELETE_MESSAGE}');
    END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    """
    CREATE TRIGGER audit_events_no_delete
    BEFORE DELETE ON audit_events
    BEGIN
        SELECT RAISE(ABORT, 'audit events are append-only');
    END
    """,
]
POSTGRES_UP = [
    "DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events",
    """
    CREATE TRIGGER audit_events_no_update
    BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
    f"""
    CREATE FUNCTION audit_events_purge_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.at < now() - interval '{FLOOR_DAYS} days' AND EXISTS (
            SELECT 1 FROM audit_purges WHERE finished_at IS NULL AND OLD.at < audit_purges.cutoff
        ) THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION '{DELETE_MESSAGE}' USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_events_purge_only
    BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_purge_only()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_events_purge_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_events_purge_only()",
    "DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events",
    """
    CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
]


def _run(sqlite: list[str], postgres: list[str]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = sqlite
    elif dialect == "postgresql":
        statements = postgres
    else:
        raise NotImplementedError(f"no audit triggers for {dialect}")
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "audit_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.CheckConstraint("retention_days >= 180", name=op.f("ck_audit_purges_retention_floor")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_purges")),
    )
    op.create_table(
        "consumer_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer", sa.String(), nullable=False),
        sa.Column("customer_type", sa.String(), nullable=False),
        sa.Column("publisher_id", sa.String(), nullable=False),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("amount", sa.String(), nullable=True),
        sa.Column("currency", sa.String(), nullable=True),
        sa.Column("notify_opt_in", sa.Boolean(), nullable=False),
        sa.Column("subscription", sa.String(), nullable=False),
        sa.Column("ingested_by", sa.String(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "customer_type IN ('free', 'paid')", name=op.f("ck_consumer_events_customer_type")
        ),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["publishers.id"],
            name=op.f("fk_consumer_events_publisher_id_publishers"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_consumer_events")),
    )
    op.create_index(
        op.f("ix_consumer_events_product"), "consumer_events", ["product"], unique=False
    )
    op.create_index(
        "ix_consumer_events_publisher_id_at",
        "consumer_events",
        ["publisher_id", "at"],
        unique=False,
    )
    _run(SQLITE_UP, POSTGRES_UP)


def downgrade() -> None:
    _run(SQLITE_DOWN, POSTGRES_DOWN)
    op.drop_index("ix_consumer_events_publisher_id_at", table_name="consumer_events")
    op.drop_index(op.f("ix_consumer_events_product"), table_name="consumer_events")
    op.drop_table("consumer_events")
    op.drop_table("audit_purges")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("message")
