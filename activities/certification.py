"""Certification activities: the best-practices review, the plugin API suite, the badge."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from certification.best_practices import ReviewPolicy, review_image
from certification.plugin_suite import CASES, PluginEndpointError, run_plugin_suite
from logs import get_logger
from models.activity_io import GRANT_BADGE, REVIEW_IMAGE, RUN_PLUGIN_SUITE, START_RE_REVIEW
from models.certification import (
    BadgeGrant,
    CertificationInput,
    CheckOutcome,
    ImageToReview,
    PluginSuiteRequest,
    ReReviewRequest,
    ReviewRequest,
    ReviewResult,
)
from models.records import PublishedTag
from persistence.certification_reviews import CertificationReviews
from persistence.published_inventory import PublishedInventory
from persistence.store import Store
from scanner.image import ImageError
from scanner.limits import address_allowed
from settings import Settings


def images_to_review(
    manifest: dict[str, Any], published: list[PublishedTag]
) -> list[ImageToReview]:
    """Every published tag's image, with all the tags of its tier (for the unique-tag check)."""
    tier_tags = {t["name"]: list(t["source"]["tags"]) for t in manifest.get("tiers", [])}
    return [
        ImageToReview(t.tier, t.tag, t.image_ref, t.digest, tier_tags.get(t.tier, [t.tag]))
        for t in published
    ]


class CertificationActivities:
    def __init__(self, store: Store, client: Client, settings: Settings) -> None:
        self._store = store
        self._reviews = CertificationReviews(store)
        self._client = client
        self._settings = settings

    def policy(self, tags: list[str]) -> ReviewPolicy:
        s = self._settings
        return ReviewPolicy(
            max_layers=s.certification_max_layers,
            approved_os=tuple(
                (os_id, version)
                for os_id, _, version in (e.partition(":") for e in s.certification_approved_os)
            ),
            tags=tuple(tags),
        )

    @activity.defn(name=REVIEW_IMAGE)
    async def review_image(self, req: ReviewRequest) -> ReviewResult:
        """Run every best-practices check on one published tag's image; keep the result."""
        image = req.image
        subject = f"{image.tier}/{image.tag}"
        log = get_logger(certification=req.certification_id, subject=subject)
        try:
            review = await asyncio.to_thread(
                review_image, image.image_ref, policy=self.policy(image.tags)
            )
        except ImageError as err:
            log.warning("image unreadable for review", error=str(err))
            return ReviewResult(
                digest=image.digest,
                checks=[
                    CheckOutcome(
                        id="image-readable",
                        title="The image can be read",
                        passed=False,
                        reason=str(err),
                        subject=subject,
                        waivable=False,
                    )
                ],
            )
        await self._reviews.save(req.certification_id, subject, review.digest, review.to_dict())
        log.info("reviewed", failed=review.failed)
        return ReviewResult(
            digest=review.digest,
            checks=[
                CheckOutcome(
                    id=r.id,
                    title=r.title,
                    passed=r.passed,
                    reason=r.reason,
                    fix_url=r.fix_url,
                    subject=subject,
                    details=list(r.details),
                )
                for r in review.results
            ],
        )

    @activity.defn(name=RUN_PLUGIN_SUITE)
    async def run_plugin_suite(self, req: PluginSuiteRequest) -> ReviewResult:
        """Docker's plugin protocol against the plugin's endpoint, malformed requests too."""
        refused = await self._endpoint_refusal(req.endpoint)
        try:
            if refused:
                raise PluginEndpointError(refused)
            result = await run_plugin_suite(req.endpoint)
        except PluginEndpointError as err:
            return ReviewResult(
                digest="",
                checks=[
                    CheckOutcome(
                        id="plugin-endpoint",
                        title="The plugin endpoint can be used",
                        passed=False,
                        reason=err.message,
                        subject="plugin",
                        waivable=False,
                    )
                ],
            )
        checks = [
            CheckOutcome(
                id=f"plugin-{case.id}",
                title=CASES.get(case.id, case.id),
                passed=case.passed,
                reason=case.detail,
                subject="plugin",
                waivable=False,  # a plugin that breaks the protocol breaks customers' engines
            )
            for case in result.cases
        ]
        await self._reviews.save(
            req.certification_id,
            "plugin",
            req.endpoint,
            result.to_dict(),
        )
        return ReviewResult(digest="", checks=checks)

    async def _endpoint_refusal(self, endpoint: str) -> str | None:
        """Publishers name the endpoint: it must not point the worker at its own network."""
        allowed = tuple(self._settings.scanner_allowed_networks)
        parsed = urlsplit(endpoint)
        if parsed.scheme == "unix":
            if address_allowed("127.0.0.1", allowed):
                return None
            return "unix socket endpoints reach the worker itself and are not allowed here"
        host = parsed.hostname
        if not host:
            return None  # the suite reports the malformed endpoint itself
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parsed.port or 80)
        except OSError as err:
            return f"cannot resolve {host}: {err}"
        for info in infos:
            address = str(info[4][0])
            if not address_allowed(address, allowed):
                return (
                    f"{host} resolves to {address}, a private or local address; "
                    "allow its network with STOREMOD_SCANNER_ALLOWED_NETWORKS"
                )
        return None

    @activity.defn(name=START_RE_REVIEW)
    async def start_re_review(self, req: ReReviewRequest) -> str:
        """Start the review of a new revision of a certified product (idempotent by id)."""
        from workflows.certification import CertificationWorkflow, certification_id_for

        listing = await self._store.get_listing(req.product)
        profile = await self._store.get_publisher(listing.publisher_id) if listing else None
        if listing is None or profile is None:
            raise ApplicationError(f"no listing {req.product}", non_retryable=True)
        kind = req.badge.kind
        cert_id = certification_id_for(req.product, kind.value, req.submission_id, req.revision)
        inp = CertificationInput(
            certification_id=cert_id,
            product=req.product,
            product_name=str(listing.manifest.get("name", req.product)),
            publisher_id=listing.publisher_id,
            publisher_name=profile.legal_name,
            publisher_email=profile.email,
            publisher_members=await self._store.publisher_members(listing.publisher_id),
            submission_id=req.submission_id,
            revision=req.revision,
            kind=kind,
            images=images_to_review(
                listing.manifest, await PublishedInventory(self._store).tags(req.product)
            ),
            open_findings=req.open_findings,
            requested_by="storemod",
            plugin_endpoint=req.badge.plugin_endpoint,
            carry_over=req.badge,
        )
        # A retry of this activity finds the review already under way.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self._client.start_workflow(
                CertificationWorkflow.run,
                inp,
                id=cert_id,
                task_queue=self._settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        get_logger(product=req.product).info("re-review started", certification=cert_id)
        return cert_id

    @activity.defn(name=GRANT_BADGE)
    async def grant_badge(self, grant: BadgeGrant) -> None:
        """Give the badge to the product's listing; wait (by retrying) until it is published."""
        from workflows.listing import ListingWorkflow, listing_workflow_id

        handle = self._client.get_workflow_handle(listing_workflow_id(grant.product))
        try:
            await handle.signal(ListingWorkflow.grant_badge, grant.badge)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ApplicationError(
                    f"listing {grant.product} is not published yet", type="NotPublished"
                ) from err
            raise
