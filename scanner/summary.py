"""Per-tag scan summary: counts per severity class and the listing's colour bar."""

from __future__ import annotations

from collections.abc import Iterable

from models.scan import Finding, ScanColour, ScanSummary, SeverityClass
from scanner.inventory import Inventory

__all__ = ["colour_of", "count_by_class", "summarise"]


def count_by_class(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings fall in each class; every class is present, zero or not."""
    counts = {cls.value: 0 for cls in SeverityClass}
    for finding in findings:
        counts[SeverityClass(finding.severity).value] += 1
    return counts


def colour_of(counts: dict[str, int]) -> ScanColour:
    """Red on any critical, orange on any major, yellow on minor or unscored, else green."""
    if counts.get(SeverityClass.CRITICAL.value):
        return ScanColour.RED
    if counts.get(SeverityClass.MAJOR.value):
        return ScanColour.ORANGE
    if counts.get(SeverityClass.MINOR.value) or counts.get(SeverityClass.UNSCORED.value):
        return ScanColour.YELLOW
    return ScanColour.GREEN


def summarise(tier: str, tag: str, inventory: Inventory, findings: list[Finding]) -> ScanSummary:
    """The summary a workflow keeps for one scanned tag."""
    counts = count_by_class(findings)
    os_name = inventory.os_name or " ".join(p for p in (inventory.os_id, inventory.os_version) if p)
    return ScanSummary(
        tier=tier,
        tag=tag,
        image_ref=inventory.ref,
        digest=inventory.digest,
        os=os_name,
        component_count=len(inventory.components),
        colour=colour_of(counts),
        findings=list(findings),
        counts=counts,
    )
