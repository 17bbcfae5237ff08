"""A volume plugin that fails the suite in known ways, and only those.

``KNOWN_FAILURES`` lists the case ids it must fail; everything else it does
like the reference plugin. Each override below says which case it breaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.plugins.reference_volume import Answer, ReferenceVolumePlugin

KNOWN_FAILURES = frozenset(
    {
        "activate.content-type",
        "volume.capabilities",
        "volume.path",
        "volume.malformed-json",
        "volume.create.missing-name",
        "volume.get.unknown",
        "network.capabilities",
    }
)


class BrokenVolumePlugin(ReferenceVolumePlugin):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.ever_created: set[str] = set()

    def activate(self) -> Answer:
        # activate.content-type: plain text instead of Docker plugin JSON.
        status, _content_type, body = super().activate()
        return status, "text/plain; charset=utf-8", body

    def capabilities(self, request: dict[str, Any]) -> Answer:
        # volume.capabilities: a scope the engine does not know.
        return self.reply({"Capabilities": {"Scope": "everywhere"}})

    def path(self, request: dict[str, Any]) -> Answer:
        # volume.path: a relative path, not where Mount put the volume.
        return self.reply({"Mountpoint": f"volumes/{request.get('Name')}", "Err": ""})

    def invalid_json(self, method: str, exc: Exception) -> Answer:
        # volume.malformed-json: a bare 500 with no Err for the engine to show.
        if method.startswith("VolumeDriver."):
            return 500, "text/plain", b"Internal Server Error"
        return super().invalid_json(method, exc)

    def create(self, request: dict[str, Any]) -> Answer:
        # volume.create.missing-name: accepts a volume without a name.
        name = request.get("Name")
        name = name if isinstance(name, str) else ""
        self.volumes.setdefault(name, set())
        self.ever_created.add(name)
        return self.reply({"Err": ""})

    def get(self, request: dict[str, Any]) -> Answer:
        # volume.get.unknown: invents any volume it never heard of (but knows
        # that a volume it removed is gone).
        name = str(request.get("Name"))
        if name in self.ever_created:
            return super().get(request)
        volume = {"Name": name, "Mountpoint": self.mountpoint(name)}
        return self.reply({"Volume": volume, "Err": ""})

    def network_capabilities(self, request: dict[str, Any]) -> Answer:
        # network.capabilities: no Scope at all.
        return self.reply({})
