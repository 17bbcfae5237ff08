"""scan_image: ask the configured scanner about an image, keep the report, summarise it."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity

from logs import get_logger
from models.activity_io import SCAN_IMAGE
from models.scan import ScanColour, ScanRequest, ScanSummary
from persistence.store import Store
from scanner.image import ImageError
from scanner.interface import BuiltinScanner, Scanner, ScanResult
from scanner.limits import ScanOptions
from scanner.summary import colour_of, count_by_class

_HEARTBEAT_SECONDS = 10.0


class ScanActivities:
    """``scanner`` defaults to the built-in one, configured from the settings."""

    def __init__(self, store: Store, scanner: Scanner | None = None) -> None:
        self._store = store
        self._scanner = scanner

    def scanner(self) -> Scanner:
        if self._scanner is None:
            from settings import Settings

            self._scanner = BuiltinScanner(self._store, ScanOptions.from_settings(Settings()))
        return self._scanner

    @activity.defn(name=SCAN_IMAGE)
    async def scan_image(self, req: ScanRequest) -> ScanSummary:
        """Scan one tag of one tier. An unreadable image is a finding for the publisher,
        not a worker failure: the summary carries the error and the workflow asks for a fix."""
        log = get_logger(submission=req.submission_id, tier=req.tier, tag=req.tag)
        try:
            result = await _with_heartbeat(self.scanner().scan(req.image_ref))
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
        summary = summary_of(req, result)
        await self._store.save_scan(req.submission_id, req.revision, summary, result.report())
        log.info(
            "scanned",
            image=req.image_ref,
            scanner=result.scanner,
            digest=summary.digest,
            components=summary.component_count,
            colour=summary.colour.value,
            counts=summary.counts,
        )
        return summary


def summary_of(req: ScanRequest, result: ScanResult) -> ScanSummary:
    """What the workflow keeps of a scan result."""
    counts = count_by_class(result.findings)
    return ScanSummary(
        tier=req.tier,
        tag=req.tag,
        image_ref=req.image_ref,
        digest=result.digest,
        os=result.os,
        component_count=len(result.components),
        colour=colour_of(counts),
        findings=list(result.findings),
        counts=counts,
    )


async def _with_heartbeat(work: Any) -> Any:
    """Await ``work`` while heartbeating, so a dead worker's scan is retried elsewhere soon."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=_HEARTBEAT_SECONDS)
        if done:
            return task.result()
        activity.heartbeat()
