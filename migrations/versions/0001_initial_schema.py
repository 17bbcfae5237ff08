"""Initial schema: every table, index and the append-only audit triggers.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 15:40:42.228462
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The audit trail is append-only at the database level, whatever client writes to it.
AUDIT_MESSAGE = "audit events are append-only"

SQLITE_AUDIT_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_events_no_{verb.lower()}
    BEFORE {verb} ON audit_events
    BEGIN
        SELECT RAISE(ABORT, '{AUDIT_MESSAGE}');
    END
    """
    for verb in ("UPDATE", "DELETE")
]

POSTGRES_AUDIT_TRIGGERS = [
    f"""
    CREATE FUNCTION audit_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{AUDIT_MESSAGE}' USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
    """,
    """
    CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
    """,
]


def _create_audit_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = SQLITE_AUDIT_TRIGGERS
    elif dialect == "postgresql":
        statements = POSTGRES_AUDIT_TRIGGERS
    else:
        raise NotImplementedError(f"no append-only audit triggers for {dialect}")
    for statement in statements:
        op.execute(statement)


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")


# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn", sa.DateTime(timezone=True), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisories")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("subject_type", sa.String(), nullable=False),
        sa.Column("subject_id", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('applied', 'refused')", name=op.f("ck_audit_events_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("key", name=op.f("uq_audit_events_key")),
    )
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"], unique=False)
    op.create_index(op.f("ix_audit_events_actor"), "audit_events", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index(
        "ix_audit_events_subject_id_at", "audit_events", ["subject_id", "at"], unique=False
    )
    op.create_table(
        "notices",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("template", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_notices")),
    )
    op.create_index(op.f("ix_notices_created_at"), "notices", ["created_at"], unique=False)
    op.create_table(
        "publishers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("legal_name", sa.String(), nullable=False),
        sa.Column("website", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("logo", sa.String(), nullable=False),
        sa.Column("story", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishers")),
    )
    op.create_table(
        "advisory_packages",
        sa.Column("ecosystem", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("advisory_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisories.id"],
            name=op.f("fk_advisory_packages_advisory_id_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "ecosystem", "name", "advisory_id", name=op.f("pk_advisory_packages")
        ),
    )
    op.create_index(
        op.f("ix_advisory_packages_advisory_id"), "advisory_packages", ["advisory_id"], unique=False
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("publisher_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("submitted_by", sa.String(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["publisher_id"], ["publishers.id"], name=op.f("fk_submissions_publisher_id_publishers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
    )
    op.create_index(op.f("ix_submissions_product"), "submissions", ["product"], unique=False)
    op.create_index(
        op.f("ix_submissions_publisher_id"), "submissions", ["publisher_id"], unique=False
    )
    op.create_index(
        "ix_submissions_state_created_at", "submissions", ["state", "created_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("publisher_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(role = 'publisher') = (publisher_id IS NOT NULL)",
            name=op.f("ck_users_publisher_membership"),
        ),
        sa.CheckConstraint(
            "role IN ('publisher', 'moderator', 'admin')", name=op.f("ck_users_role")
        ),
        sa.ForeignKeyConstraint(
            ["publisher_id"], ["publishers.id"], name=op.f("fk_users_publisher_id_publishers")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_publisher_id"), "users", ["publisher_id"], unique=False)
    op.create_table(
        "listings",
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("publisher_id", sa.String(), nullable=False),
        sa.Column("submission_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["publisher_id"], ["publishers.id"], name=op.f("fk_listings_publisher_id_publishers")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_listings_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("product", name=op.f("pk_listings")),
    )
    op.create_index(op.f("ix_listings_publisher_id"), "listings", ["publisher_id"], unique=False)
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("tag", sa.String(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_scans_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
        sa.UniqueConstraint(
            "submission_id",
            "revision",
            "tier",
            "tag",
            name=op.f("uq_scans_submission_id_revision_tier_tag"),
        ),
    )
    op.create_index(op.f("ix_scans_submission_id"), "scans", ["submission_id"], unique=False)
    _create_audit_triggers()


def downgrade() -> None:
    _drop_audit_triggers()
    op.drop_index(op.f("ix_scans_submission_id"), table_name="scans")
    op.drop_table("scans")
    op.drop_index(op.f("ix_listings_publisher_id"), table_name="listings")
    op.drop_table("listings")
    op.drop_index(op.f("ix_users_publisher_id"), table_name="users")
    op.drop_table("users")
    op.drop_index("ix_submissions_state_created_at", table_name="submissions")
    op.drop_index(op.f("ix_submissions_publisher_id"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_product"), table_name="submissions")
    op.drop_table("submissions")
    op.drop_index(op.f("ix_advisory_packages_advisory_id"), table_name="advisory_packages")
    op.drop_table("advisory_packages")
    op.drop_table("publishers")
    op.drop_index(op.f("ix_notices_created_at"), table_name="notices")
    op.drop_table("notices")
    op.drop_index("ix_audit_events_subject_id_at", table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_actor"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_action"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("advisories")
