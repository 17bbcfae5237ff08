"""A small, correct Docker volume (and network) plugin: the suite must pass it whole.

Volumes are real directories under ``root``; Mount creates the directory and
counts mount ids, Unmount releases them, Remove refuses a volume in use. Run it
by hand with ``python -m tests.plugins.reference_volume --port 9000``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certification.plugin_suite import CONTENT_TYPE
from tests.plugins.server import PluginServer

Answer = tuple[int, str, bytes]


class ReferenceVolumePlugin:
    """VolumeDriver and NetworkDriver, by the book (docs.docker.com/engine/extend/)."""

    implements: tuple[str, ...] = ("VolumeDriver", "NetworkDriver")

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.volumes: dict[str, set[str]] = {}  # name -> ids of the callers that mounted it
        self.lock = threading.Lock()
        self.routes: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "VolumeDriver.Create": self.create,
            "VolumeDriver.Remove": self.remove,
            "VolumeDriver.Mount": self.mount,
            "VolumeDriver.Path": self.path,
            "VolumeDriver.Unmount": self.unmount,
            "VolumeDriver.Get": self.get,
            "VolumeDriver.List": self.list,
            "VolumeDriver.Capabilities": self.capabilities,
            "NetworkDriver.GetCapabilities": self.network_capabilities,
            "NetworkDriver.CreateNetwork": self.create_network,
        }

    # --- plumbing -------------------------------------------------------------

    def reply(self, data: dict[str, Any], status: int = 200) -> Answer:
        return status, CONTENT_TYPE, json.dumps(data).encode()

    def error(self, message: str, status: int = 400) -> Answer:
        return self.reply({"Err": message}, status)

    def handle(self, path: str, body: bytes) -> Answer:
        method = path.lstrip("/")
        if method == "Plugin.Activate":
            return self.activate()
        route = self.routes.get(method)
        if route is None:
            return self.error(f"{method} is not implemented", 404)
        try:
            request = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, ValueError) as exc:
            return self.invalid_json(method, exc)
        if not isinstance(request, dict):
            return self.error("the request must be a JSON object")
        with self.lock:
            return route(request)

    def invalid_json(self, method: str, exc: Exception) -> Answer:
        return self.error(f"the request is not valid JSON: {exc}")

    def activate(self) -> Answer:
        return self.reply({"Implements": list(self.implements)})

    def name_of(self, request: dict[str, Any]) -> str | None:
        name = request.get("Name")
        return name if isinstance(name, str) and name and "/" not in name else None

    def mountpoint(self, name: str) -> str:
        return str(self.root / name)

    # --- VolumeDriver -----------------------------------------------------------

    def create(self, request: dict[str, Any]) -> Answer:
        name = self.name_of(request)
        if name is None:
            return self.error("Name is required (a volume name without '/')")
        self.volumes.setdefault(name, set())
        return self.reply({"Err": ""})

    def remove(self, request: dict[str, Any]) -> Answer:
        name = self.name_of(request)
        if name is None or name not in self.volumes:
            return self.error(f"no such volume: {request.get('Name')!r}")
        if self.volumes[name]:
            return self.error(f"volume {name} is in use")
        del self.volumes[name]
        shutil.rmtree(self.mountpoint(name), ignore_errors=True)
        return self.reply({"Err": ""})

    def mount(self, request: dict[str, Any]) -> Answer:
        name = self.name_of(request)
        caller = request.get("ID")
        if name is None or name not in self.volumes:
            return self.error(f"no such volume: {request.get('Name')!r}")
        if not isinstance(caller, str) or not caller:
            return self.error("ID is required")
        Path(self.mountpoint(name)).mkdir(parents=True, exist_ok=True)
        self.volumes[name].add(caller)
        return self.reply({"Mountpoint": self.mountpoint(name), "Err": ""})

    def path(self, request: dict[str, Any]) -> Answer:
        name = self.name_of(request)
        if name is None or name not in self.volumes:
            return self.error(f"no such volume: {request.get('Name')!r}")
        mounted = Path(self.mountpoint(name)).is_dir()
        return self.reply({"Mountpoint": self.mountpoint(name) if mounted else "", "Err": ""})

    def unmount(self, request: dict[str, Any]) -> Answer:
        name = self.name_of(request)
        if name is None or name not in self.volumes:
            return self.error(f"no such volume: {request.get('Name')!r}")
        self.volumes[name].discard(str(request.get("ID")))
        return self.reply({"Err": ""})

    def get(self, request: dict[str, Any]) -> Answer:
        name = self.name_of(request)
        if name is None or name not in self.volumes:
            return self.error(f"no such volume: {request.get('Name')!r}")
        volume = {"Name": name, "Mountpoint": self.mountpoint(name), "Status": {}}
        return self.reply({"Volume": volume, "Err": ""})

    def list(self, request: dict[str, Any]) -> Answer:
        volumes = [{"Name": n, "Mountpoint": self.mountpoint(n)} for n in sorted(self.volumes)]
        return self.reply({"Volumes": volumes, "Err": ""})

    def capabilities(self, request: dict[str, Any]) -> Answer:
        return self.reply({"Capabilities": {"Scope": "local"}})

    # --- NetworkDriver ----------------------------------------------------------

    def network_capabilities(self, request: dict[str, Any]) -> Answer:
        return self.reply({"Scope": "local", "ConnectivityScope": "local"})

    def create_network(self, request: dict[str, Any]) -> Answer:
        if not isinstance(request.get("NetworkID"), str):
            return self.error("NetworkID is required")
        return self.reply({})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000, help="loopback port (default 9000)")
    parser.add_argument("--root", type=Path, help="where volumes live (default: a temp dir)")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="reference-volume-"))
    with PluginServer(ReferenceVolumePlugin(root), port=args.port) as server:
        print(f"reference volume plugin on {server.url}, volumes in {root}; Ctrl-C stops it")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
