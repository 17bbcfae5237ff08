"""publish_listing: create or update the product's public listing."""

from __future__ import annotations

from temporalio import activity

from logs import get_logger
from models.activity_io import PUBLISH_LISTING, PublishRequest, PublishResult
from models.records import ListingRecord, TagScan
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
        get_logger(submission=req.submission_id, product=listing.product).info(
            "listing published" if created else "listing updated", revision=req.revision
        )
        return PublishResult(created=created)
