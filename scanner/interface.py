"""The one interface the scan activity talks to, and the built-in scanner behind it.

A ``Scanner`` turns an image reference into a ``ScanResult``: the image's identity,
its components (when the scanner reports them) and the findings. The built-in
scanner reads the image itself and matches it against the store's advisories; the
Harbor adapter client (``scanner.harbor``) asks a remote scanner instead.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from models.advisory import Advisory
from models.scan import Component, Finding, Layer
from scanner.image import ImageError
from scanner.inventory import Inventory, read_inventory
from scanner.limits import ScanOptions
from scanner.matching import match
from scanner.severity import related_ids

__all__ = ["AdvisorySource", "BuiltinScanner", "ScanResult", "Scanner", "ScannerError"]


class ScannerError(Exception):
    """A scanner could not be asked (unreachable, refused): not the image's fault."""


@dataclass
class ScanResult:
    """What a scanner reports about one image."""

    ref: str
    digest: str
    os: str  # "Debian GNU/Linux 12 (bookworm)", "" when unknown
    scanner: str  # "storemod 0.1.0", "Trivy 0.50.0", ...
    findings: list[Finding]
    components: list[Component] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # the image config, for review
    os_id: str = ""
    os_version: str = ""
    ecosystem: str = ""
    platform: str | None = None

    def report(self) -> dict[str, Any]:
        """The full private report, as JSON-ready data."""
        return {
            "image_ref": self.ref,
            "digest": self.digest,
            "scanner": self.scanner,
            "platform": self.platform,
            "os": {"id": self.os_id, "version": self.os_version, "name": self.os},
            "ecosystem": self.ecosystem,
            "layers": [asdict(layer) for layer in self.layers],
            "components": [asdict(c) for c in self.components],
            "config": self.config,
            "findings": [asdict(f) for f in self.findings],
        }


class Scanner(Protocol):
    """Anything that can scan an image reference.

    ``ImageError`` means the image itself is unreadable (the publisher must fix
    it); ``ScannerError`` means the scanner could not do its job (retry).
    """

    name: str

    async def scan(self, image_ref: str) -> ScanResult: ...


class AdvisorySource(Protocol):
    """Where the built-in scanner finds advisories (the store implements it)."""

    async def advisories_for(self, ecosystem: str, names: Collection[str]) -> list[Advisory]: ...

    async def advisories_by_ids(self, ids: Iterable[str]) -> dict[str, Advisory]: ...


class BuiltinScanner:
    """Reads the image itself (in a thread) and matches it against stored advisories."""

    name = "storemod"

    def __init__(self, advisories: AdvisorySource, options: ScanOptions | None = None) -> None:
        self._advisories = advisories
        self.options = options or ScanOptions()

    async def scan(self, image_ref: str) -> ScanResult:
        inventory = await asyncio.to_thread(read_inventory, image_ref, self.options)
        findings = await self.match(inventory.components)
        return result_of(inventory, findings, f"{self.name} {_version()}")

    async def match(self, components: list[Component]) -> list[Finding]:
        """Findings for ``components``, one indexed advisory lookup per ecosystem."""
        names: dict[str, set[str]] = defaultdict(set)
        for c in components:
            if c.ecosystem:
                names[c.ecosystem].add(c.name)
                if c.source_name:
                    names[c.ecosystem].add(c.source_name)
        advisories: dict[str, Advisory] = {}
        for ecosystem, wanted in sorted(names.items()):
            for advisory in await self._advisories.advisories_for(ecosystem, wanted):
                advisories[advisory.id] = advisory
        found = list(advisories.values())
        wanted_ids = set().union(*(related_ids(a) for a in found)) if found else set()
        related = await self._advisories.advisories_by_ids(wanted_ids) if wanted_ids else {}
        return match(components, found, related)


def result_of(inventory: Inventory, findings: list[Finding], scanner: str) -> ScanResult:
    os_name = inventory.os_name or " ".join(p for p in (inventory.os_id, inventory.os_version) if p)
    return ScanResult(
        ref=inventory.ref,
        digest=inventory.digest,
        os=os_name,
        scanner=scanner,
        findings=findings,
        components=inventory.components,
        layers=inventory.layers,
        config=inventory.config,
        os_id=inventory.os_id,
        os_version=inventory.os_version,
        ecosystem=inventory.ecosystem,
        platform=inventory.platform,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("storemod")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


# Re-exported for callers that only import the interface module.
__all__ += ["ImageError", "result_of"]
