"""Published inventory: which published tag carries which package, for the advisory feed.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_packages",
        sa.Column("ecosystem", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("tag", sa.String(), nullable=False),
        sa.Column("ecosystem_base", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product"],
            ["listings.product"],
            name="fk_published_packages_product_listings",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "ecosystem", "name", "product", "tag", name="pk_published_packages"
        ),
    )
    op.create_index(
        "ix_published_packages_ecosystem_base", "published_packages", ["ecosystem_base"]
    )
    op.create_index("ix_published_packages_product", "published_packages", ["product"])
    op.create_table(
        "published_tags",
        sa.Column("product", sa.String(), nullable=False),
        sa.Column("tag", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("image_ref", sa.String(), nullable=False),
        sa.Column("ecosystem", sa.String(), nullable=False),
        sa.Column("submission_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product"],
            ["listings.product"],
            name="fk_published_tags_product_listings",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product", "tag", name="pk_published_tags"),
    )


def downgrade() -> None:
    op.drop_table("published_tags")
    op.drop_index("ix_published_packages_product", table_name="published_packages")
    op.drop_index("ix_published_packages_ecosystem_base", table_name="published_packages")
    op.drop_table("published_packages")
