"""The published inventory: which published tag carries which package.

Written when a revision is published; read by the advisory feed, which joins
new advisories' (ecosystem, package) index against it to find the affected
listings with one indexed query instead of rescanning every image.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import and_, delete, or_
from sqlmodel import col, select

from models.records import PublishedTag
from persistence.store import Store
from persistence.tables import AdvisoryPackageRow, PublishedPackageRow, PublishedTagRow


def _tag(row: PublishedTagRow) -> PublishedTag:
    return PublishedTag(
        product=row.product,
        tag=row.tag,
        tier=row.tier,
        digest=row.digest,
        image_ref=row.image_ref,
        ecosystem=row.ecosystem,
        submission_id=row.submission_id,
        revision=row.revision,
    )


class PublishedInventory:
    """Queries over the published inventory, on the store's database."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def replace(
        self, product: str, tags: Iterable[tuple[PublishedTag, Collection[str]]]
    ) -> None:
        """Make ``tags`` (each with its package names) the product's whole published inventory."""
        async with self._store._session(write=True) as s:
            await s.exec(
                delete(PublishedPackageRow).where(col(PublishedPackageRow.product) == product)
            )
            await s.exec(delete(PublishedTagRow).where(col(PublishedTagRow.product) == product))
            for tag, names in tags:
                s.add(PublishedTagRow(**vars(tag)))
                base = tag.ecosystem.split(":", 1)[0]
                for name in sorted(set(names)):
                    s.add(
                        PublishedPackageRow(
                            ecosystem=tag.ecosystem,
                            name=name,
                            product=product,
                            tag=tag.tag,
                            ecosystem_base=base,
                        )
                    )

    async def tags(self, product: str | None = None) -> list[PublishedTag]:
        """Published tags, of one product or all, in product and tag order."""
        query = select(PublishedTagRow).order_by(
            col(PublishedTagRow.product), col(PublishedTagRow.tag)
        )
        if product is not None:
            query = query.where(col(PublishedTagRow.product) == product)
        async with self._store._session() as s:
            return [_tag(row) for row in (await s.exec(query)).all()]

    async def affected_by(self, advisory_ids: Collection[str]) -> list[PublishedTag]:
        """The published tags carrying a package that one of the advisories names."""
        if not advisory_ids:
            return []
        adv, pub = AdvisoryPackageRow, PublishedPackageRow
        hits = (
            select(pub.product, pub.tag)
            .join(
                adv,
                and_(
                    col(adv.name) == col(pub.name),
                    # Records name a release ("Debian:12") or the whole ecosystem ("Debian").
                    or_(
                        col(adv.ecosystem) == col(pub.ecosystem),
                        col(adv.ecosystem) == col(pub.ecosystem_base),
                    ),
                ),
            )
            .where(col(adv.advisory_id).in_(sorted(advisory_ids)))
            .distinct()
        )
        async with self._store._session() as s:
            pairs = set((await s.exec(hits)).all())
            if not pairs:
                return []
            products = sorted({p for p, _ in pairs})
            query = (
                select(PublishedTagRow)
                .where(col(PublishedTagRow.product).in_(products))
                .order_by(col(PublishedTagRow.product), col(PublishedTagRow.tag))
            )
            rows = (await s.exec(query)).all()
        return [_tag(r) for r in rows if (r.product, r.tag) in pairs]
