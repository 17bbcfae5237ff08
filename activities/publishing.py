"""publish_listing: create or update the product's public listing."""

from __future__ import annotations

from temporalio import activity

from logs import get_logger
from models.activity_io import PUBLISH_LISTING, PublishRequest, PublishResult
from models.records import ListingRecord, PublishedTag, TagScan
from persistence.published_inventory import PublishedInventory
from persistence.store import Store


class PublishingActivities:
    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn(name=PUBLISH_LISTING)
    async def publish_listing(self, req: PublishRequest) -> PublishResult:
        """Upsert the listing by product: a resubmission updates it, never duplicates it."""
        listing = ListingRecord(
            product=req.manifest.product,
            publisher_id=req.publisher_id,
            submission_id=req.submission_id,
            revision=req.revision,
            manifest=req.manifest.model_dump(mode="json"),
            tags=[
                TagScan(
                    tier=s.tier,
                    tag=s.tag,
                    digest=s.digest,
                    colour=s.colour.value,
                    counts=dict(s.counts),
                )
                for s in req.scans
            ],
        )
        created = await self._store.publish_listing(listing)
        await self._index_inventory(req)
        get_logger(submission=req.submission_id, product=listing.product).info(
            "listing published" if created else "listing updated", revision=req.revision
        )
        return PublishResult(created=created)

    async def _index_inventory(self, req: PublishRequest) -> None:
        """Record which packages each published tag carries, for the advisory feed."""
        tags = []
        for scan in req.scans:
            report = await self._store.get_scan_report(
                req.submission_id, req.revision, scan.tier, scan.tag
            )
            if report is None:
                continue
            components = report.get("components", [])
            names = {c["name"] for c in components} | {
                c["source_name"] for c in components if c.get("source_name")
            }
            tag = PublishedTag(
                product=req.manifest.product,
                tag=scan.tag,
                tier=scan.tier,
                digest=scan.digest,
                image_ref=scan.image_ref,
                ecosystem=str(report.get("ecosystem") or ""),
                submission_id=req.submission_id,
                revision=req.revision,
            )
            tags.append((tag, names))
        await PublishedInventory(self._store).replace(req.manifest.product, tags)
