"""Index published packages by (name, ecosystem base) for advisories without a release.

The feed's join matches an advisory's package either on (ecosystem, name), served
by the primary key, or on (ecosystem base, name); measured by bench/feed.py, the
second walked every inventory row of the ecosystem without this index.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_published_packages_name_ecosystem_base",
        "published_packages",
        ["name", "ecosystem_base"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_published_packages_name_ecosystem_base", table_name="published_packages")
