"""scan_image: inventory an image, match it against stored advisories, keep the report."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from temporalio import activity

from logs import get_logger
from models.activity_io import SCAN_IMAGE
from models.scan import ScanColour, ScanRequest, ScanSummary
from persistence.store import Store
from scanner.image import ImageError
from scanner.inventory import Inventory, read_inventory
from scanner.matching import match
from scanner.severity import related_ids
from scanner.summary import summarise

_HEARTBEAT_SECONDS = 10.0


class ScanActivities:
    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn(name=SCAN_IMAGE)
    async def scan_image(self, req: ScanRequest) -> ScanSummary:
        """Scan one tag of one tier. An unreadable image is a finding for the publisher,
        not a worker failure: the summary carries the error and the workflow asks for a fix."""
        log = get_logger(submission=req.submission_id, tier=req.tier, tag=req.tag)
        try:
            inventory = await _with_heartbeat(asyncio.to_thread(read_inventory, req.image_ref))
        except ImageError as err:
            log.warning("image unreadable", image=req.image_ref, error=str(err))
            return ScanSummary(
                tier=req.tier,
                tag=req.tag,
                image_ref=req.image_ref,
                digest="",
                os="",
                component_count=0,
                colour=ScanColour.GREEN,
                error=str(err),
            )
        names = {c.name for c in inventory.components} | {
            c.source_name for c in inventory.components if c.source_name
        }
        advisories = await self._store.advisories_for(inventory.ecosystem, names)
        wanted = set().union(*(related_ids(a) for a in advisories)) if advisories else set()
        related = await self._store.advisories_by_ids(wanted) if wanted else {}
        findings = match(inventory.components, advisories, related)
        summary = summarise(req.tier, req.tag, inventory, findings)
        await self._store.save_scan(
            req.submission_id, req.revision, summary, _report(inventory, summary)
        )
        log.info(
            "scanned",
            image=req.image_ref,
            digest=summary.digest,
            components=summary.component_count,
            colour=summary.colour.value,
            counts=summary.counts,
        )
        return summary


def _report(inventory: Inventory, summary: ScanSummary) -> dict[str, Any]:
    """The full private report: every component per layer, the config, the findings."""
    return {
        "image_ref": inventory.ref,
        "digest": inventory.digest,
        "os": {"id": inventory.os_id, "version": inventory.os_version},
        "ecosystem": inventory.ecosystem,
        "layers": [asdict(layer) for layer in inventory.layers],
        "components": [asdict(c) for c in inventory.components],
        "config": inventory.config,
        "findings": [asdict(f) for f in summary.findings],
    }


async def _with_heartbeat(work: Any) -> Any:
    """Await ``work`` while heartbeating, so a dead worker's scan is retried elsewhere soon."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=_HEARTBEAT_SECONDS)
        if done:
            return task.result()
        activity.heartbeat()
