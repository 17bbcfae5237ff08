"""After publication: scheduled rescans and the advisory feed report to listings.

Both end the same way: the complete current findings of a published tag are
signalled to the product's ListingWorkflow, which opens and closes SLA clocks.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from logs import get_logger
from models.activity_io import (
    IMPORT_ADVISORY_FEED,
    MATCH_AFFECTED_LISTINGS,
    RESCAN_PUBLISHED,
    AffectedRequest,
    AffectedResult,
    FeedRequest,
    FeedResult,
    RescanRequest,
    RescanResult,
)
from models.advisory import Advisory
from models.listing import FindingsReport
from models.records import PublishedTag
from models.scan import Component, Finding
from persistence.published_inventory import PublishedInventory
from persistence.store import Store
from scanner.image import ImageError
from scanner.interface import BuiltinScanner
from scanner.limits import ScanOptions
from scanner.network import checked_transport
from scanner.osv import InvalidAdvisory, read_records
from settings import Settings

_COMPONENT_FIELDS = {f.name for f in fields(Component)}


class MonitoringActivities:
    def __init__(self, store: Store, client: Client, settings: Settings) -> None:
        self._store = store
        self._client = client
        self._settings = settings
        self._inventory = PublishedInventory(store)
        self._scanner = BuiltinScanner(store)

    @activity.defn(name=RESCAN_PUBLISHED)
    async def rescan_published(self, req: RescanRequest) -> RescanResult:
        """Re-read every published image and report its findings with today's advisories."""
        result = RescanResult()
        for tag in await self._inventory.tags(req.product):
            activity.heartbeat(f"{tag.product}:{tag.tag}")
            try:
                scan = await self._scanner.scan(tag.image_ref)
            except ImageError as err:
                # The published tag is gone or broken: the listing keeps its last findings.
                get_logger(product=tag.product).warning(
                    "published image unreadable", image=tag.image_ref, error=str(err)
                )
                result.unreadable.append(tag.image_ref)
                continue
            await self._report(tag, scan.digest, scan.findings, "rescan")
            result.tags += 1
        return result

    @activity.defn(name=IMPORT_ADVISORY_FEED)
    async def import_advisory_feed(self, req: FeedRequest) -> FeedResult:
        """Fetch OSV records from a folder or URL and import them; return what changed."""
        if req.source.startswith(("http://", "https://")):
            with tempfile.TemporaryDirectory() as tmp:
                kind = "zip" if req.source.endswith(".zip") else "json"
                path = Path(tmp) / f"feed.{kind}"
                try:
                    await asyncio.to_thread(self._download, req.source, path)
                except ImageError as err:  # the address checks refused the feed's host
                    raise ApplicationError(
                        f"advisory feed {req.source}: {err}", non_retryable=True
                    ) from err
                return await self._import(path)
        return await self._import(Path(req.source))

    def _download(self, url: str, path: Path) -> None:
        """Stream the feed to ``path`` through the scanner's address-checked transport, so a
        feed URL (or a redirect) cannot point the worker at its own network."""
        options = ScanOptions.from_settings(self._settings)
        with (
            httpx.Client(
                transport=checked_transport(options), timeout=60, follow_redirects=True
            ) as http,
            http.stream("GET", url) as response,
        ):
            response.raise_for_status()
            with path.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)

    async def _import(self, path: Path) -> FeedResult:
        result = FeedResult()
        good: list[Advisory] = []
        for record in read_records(path):
            if isinstance(record, InvalidAdvisory):
                result.skipped.append(f"{record.advisory_id}: {record.reason}")
            else:
                good.append(record)
        known = await self._store.advisories_by_ids([a.id for a in good])
        result.changed = sorted(
            a.id for a in good if a.id not in known or a.modified > known[a.id].modified
        )
        await self._store.import_advisories(good)
        get_logger(feed=str(path)).info(
            "advisory feed imported", changed=len(result.changed), skipped=len(result.skipped)
        )
        return result

    @activity.defn(name=MATCH_AFFECTED_LISTINGS)
    async def match_affected_listings(self, req: AffectedRequest) -> AffectedResult:
        """Re-match the stored inventory of every published tag the advisories touch."""
        result = AffectedResult()
        for tag in await self._inventory.affected_by(req.advisory_ids):
            activity.heartbeat(f"{tag.product}:{tag.tag}")
            report = await self._store.get_scan_report(
                tag.submission_id, tag.revision, tag.tier, tag.tag
            )
            if report is None:
                continue
            components = [_component(c) for c in report.get("components", [])]
            findings = await self._scanner.match(components)
            await self._report(tag, tag.digest, findings, "feed")
            result.tags.append(f"{tag.product}:{tag.tag}")
        return result

    async def _report(
        self, tag: PublishedTag, digest: str, findings: list[Finding], source: str
    ) -> None:
        from workflows.listing import ListingWorkflow, listing_workflow_id

        handle = self._client.get_workflow_handle(listing_workflow_id(tag.product))
        try:
            await handle.signal(
                ListingWorkflow.report_findings,
                FindingsReport(tag=tag.tag, digest=digest, findings=findings, source=source),
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # Revoked listings have ended; nothing is watching them any more.
            get_logger(product=tag.product).info("listing not running", tag=tag.tag)


def _component(data: dict[str, Any]) -> Component:
    return Component(**{k: v for k, v in data.items() if k in _COMPONENT_FIELDS})
