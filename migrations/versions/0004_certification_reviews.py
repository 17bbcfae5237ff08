"""Certification reviews, stored per image digest.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certification_reviews",
        sa.Column("certification_id", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("review", sa.JSON(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("certification_id", "subject", name="pk_certification_reviews"),
    )
    op.create_index(
        "ix_certification_reviews_digest", "certification_reviews", ["digest"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_certification_reviews_digest", table_name="certification_reviews")
    op.drop_table("certification_reviews")
