"""Inventory of an image: its OS, its layers and the OS packages it contains.

Packages come from the dpkg database (``var/lib/dpkg/status`` and the
distroless ``var/lib/dpkg/status.d/*`` files), the apk database
(``lib/apk/db/installed``), Python distributions (``*.dist-info/METADATA``,
``*.egg-info``) and npm packages (``node_modules/**/package.json``). Each
package names the layer in which its name+version entry appeared in the package
database, following the layers in order (a package upgraded in a later layer
belongs to that later layer).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packageurl import PackageURL

from models.scan import Component, Layer
from scanner.filesystem import (
    APK_INSTALLED,
    DPKG_STATUS,
    DPKG_STATUS_DIR,
    OS_RELEASE_PATHS,
    State,
    apply_layers,
    files_under,
    is_npm_manifest,
    is_python_metadata,
    resolve,
)
from scanner.image import open_image
from scanner.limits import ScanOptions

__all__ = [
    "Inventory",
    "PackageEntry",
    "osv_ecosystem",
    "parse_apk_installed",
    "parse_dpkg_status",
    "parse_os_release",
    "read_inventory",
]

DEB_LIKE = {"debian", "ubuntu"}
LANGUAGE_ECOSYSTEMS = {"pypi": "PyPI", "npm": "npm"}  # purl type -> OSV ecosystem
_INSTALLED_WANTS = {"install", "hold"}  # a held package is installed all the same


@dataclass
class Inventory:
    """What the scanner found in an image."""

    ref: str
    digest: str
    os_id: str  # "debian", "alpine", ... or "unknown"
    os_version: str  # VERSION_ID, "" when absent
    ecosystem: str  # OSV ecosystem, "Debian:12", "Alpine:v3.19"; "" when unknown
    layers: list[Layer]
    components: list[Component]
    config: dict[str, Any] = field(default_factory=dict)
    os_name: str = ""  # PRETTY_NAME, e.g. "Debian GNU/Linux 12 (bookworm)"
    platform: str | None = None  # chosen from an image index, when there was one


@dataclass(frozen=True)
class PackageEntry:
    """One installed package as recorded in a package database."""

    kind: str  # "deb", "apk", "pypi" or "npm"
    name: str
    version: str
    source_name: str | None = None
    location: str | None = None  # the metadata file of a language package


def read_inventory(ref: str, options: ScanOptions | None = None) -> Inventory:
    """Open the image at ``ref`` and list its OS packages with their layers.

    Raises ``ImageError`` when the image cannot be read.
    """
    image = open_image(ref, options)
    try:
        snapshots = apply_layers(image)
    finally:
        image.close()
    final: State = snapshots[-1] if snapshots else {}
    os_release = _os_release(final)
    os_id = os_release.get("ID", "").lower() or "unknown"
    os_version = os_release.get("VERSION_ID", "")
    ecosystem = osv_ecosystem(os_id, os_version)

    introduced: dict[PackageEntry, int] = {}
    previous_files: tuple[tuple[str, int], ...] | None = None
    for index, state in enumerate(snapshots):
        files = _database_files(state)
        if files == previous_files:
            continue  # this layer did not touch any package database
        previous_files = files
        current = _installed(state)
        introduced = {entry: introduced.get(entry, index) for entry in current}

    components = [
        _component(entry, os_id, os_version, ecosystem, image.layers[layer])
        for entry, layer in introduced.items()
    ]
    # The same distribution installed twice (two virtualenvs) is one component per place;
    # identical (name, version, purl) rows are merged, keeping the earliest layer.
    unique: dict[tuple[str, str, str], Component] = {}
    for component in sorted(components, key=lambda c: c.layer_index):
        unique.setdefault((component.name, component.version, component.purl), component)
    components = list(unique.values())
    components.sort(key=lambda c: (c.name, c.version, c.purl))
    return Inventory(
        ref=ref,
        digest=image.digest,
        os_id=os_id,
        os_version=os_version,
        ecosystem=ecosystem,
        layers=list(image.layers),
        components=components,
        config=image.config,
        os_name=os_release.get("PRETTY_NAME", ""),
        platform=image.platform,
    )


def osv_ecosystem(os_id: str, version_id: str) -> str:
    """The OSV ecosystem name of an OS release ("Debian:12", "Alpine:v3.19", ...)."""
    if os_id == "debian":
        major = version_id.split(".")[0]
        return f"Debian:{major}" if major.isdigit() else "Debian"
    if os_id == "ubuntu":
        return f"Ubuntu:{version_id}" if version_id else "Ubuntu"
    if os_id == "alpine":
        match = re.match(r"^(\d+)\.(\d+)", version_id)
        return f"Alpine:v{match.group(1)}.{match.group(2)}" if match else "Alpine"
    return ""


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=VALUE pairs of an os-release file, with shell quoting removed."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value)
            value = " ".join(words)
        except ValueError:
            value = value.strip("\"'")
        result[key.strip()] = value
    return result


def parse_dpkg_status(text: str, *, status_required: bool = True) -> list[PackageEntry]:
    """Installed packages of a dpkg status file (deb822 stanzas).

    Only stanzas whose ``Status`` says the package is installed are kept. The
    distroless ``status.d`` files carry no ``Status`` field: pass
    ``status_required=False`` for them.
    """
    entries = []
    for fields in _deb822_stanzas(text):
        name = fields.get("package", "")
        version = fields.get("version", "")
        if not name or not version:
            continue
        status = fields.get("status")
        if status is None:
            if status_required:
                continue
        else:
            want, _, rest = status.partition(" ")
            if want not in _INSTALLED_WANTS or rest.split() != ["ok", "installed"]:
                continue
        source = fields.get("source", "").split()
        source_name = source[0] if source and source[0] != name else None
        entries.append(PackageEntry("deb", name, version, source_name))
    return entries


def parse_apk_installed(text: str) -> list[PackageEntry]:
    """Installed packages of an apk ``installed`` database (P: name, V: version, o: origin)."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and len(key) == 1 and key not in fields:
                fields[key] = value.strip()
        name, version = fields.get("P", ""), fields.get("V", "")
        if not name or not version:
            continue
        origin = fields.get("o") or None
        entries.append(PackageEntry("apk", name, version, origin if origin != name else None))
    return entries


def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
        else:
            key, sep, value = line.partition(":")
            if sep:
                last = key.strip().lower()
                fields[last] = value.strip()
    if fields:
        yield fields


def _os_release(state: State) -> dict[str, str]:
    for path in OS_RELEASE_PATHS:
        entry = resolve(state, path)
        if entry is not None and entry.data is not None:
            return parse_os_release(entry.data.decode("utf-8", "replace"))
    return {}


def _database_files(state: State) -> tuple[tuple[str, int], ...]:
    paths = [DPKG_STATUS, APK_INSTALLED, *(e.path for e in files_under(state, DPKG_STATUS_DIR))]
    paths += sorted(p for p in state if is_python_metadata(p) or is_npm_manifest(p))
    return tuple(
        (path, entry.layer_index) for path in paths if (entry := state.get(path)) is not None
    )


def parse_python_metadata(text: str) -> PackageEntry | None:
    """Name and version of a Python distribution from its METADATA / PKG-INFO headers."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not line[0].isspace() and key.lower() not in fields:
            fields[key.lower()] = value.strip()
    name, version = fields.get("name", ""), fields.get("version", "")
    if not name or not version:
        return None
    return PackageEntry("pypi", normalise_python_name(name), version)


def normalise_python_name(name: str) -> str:
    """PEP 503 normalisation, as PyPI and OSV name packages."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_npm_manifest(text: str) -> PackageEntry | None:
    """Name and version of an installed npm package from its package.json."""
    try:
        manifest = json.loads(text)
    except ValueError:
        return None
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    return PackageEntry("npm", name, version)


def _installed(state: State) -> list[PackageEntry]:
    entries: list[PackageEntry] = []
    status = resolve(state, DPKG_STATUS)
    if status is not None and status.data is not None:
        entries += parse_dpkg_status(status.data.decode("utf-8", "replace"))
    for entry in files_under(state, DPKG_STATUS_DIR):
        if entry.path.endswith(".md5sums") or entry.data is None:
            continue  # distroless ships file checksums next to the stanzas
        entries += parse_dpkg_status(entry.data.decode("utf-8", "replace"), status_required=False)
    apk = resolve(state, APK_INSTALLED)
    if apk is not None and apk.data is not None:
        entries += parse_apk_installed(apk.data.decode("utf-8", "replace"))
    for path in sorted(state):
        language = is_python_metadata(path), is_npm_manifest(path)
        if not any(language):
            continue
        kept = resolve(state, path)
        if kept is None or kept.data is None:
            continue
        text = kept.data.decode("utf-8", "replace")
        found = parse_python_metadata(text) if language[0] else parse_npm_manifest(text)
        if found is not None:
            entries.append(PackageEntry(found.kind, found.name, found.version, location="/" + path))
    return list(dict.fromkeys(entries))  # keep order, drop multi-arch duplicates


def _component(
    entry: PackageEntry, os_id: str, os_version: str, ecosystem: str, layer: Layer
) -> Component:
    if entry.kind in LANGUAGE_ECOSYSTEMS:
        scope, _, bare = entry.name.rpartition("/")
        purl = PackageURL(
            type=entry.kind, namespace=scope or None, name=bare, version=entry.version
        ).to_string()
        return Component(
            name=entry.name,
            version=entry.version,
            ecosystem=LANGUAGE_ECOSYSTEMS[entry.kind],
            purl=purl,
            layer_index=layer.index,
            layer_digest=layer.digest,
            location=entry.location,
        )
    namespace = "alpine"
    if entry.kind == "deb":
        namespace = os_id if os_id in DEB_LIKE else "debian"
    qualifiers = {"distro": f"{os_id}-{os_version}"} if os_id != "unknown" and os_version else {}
    purl = PackageURL(
        type=entry.kind,
        namespace=namespace,
        name=entry.name,
        version=entry.version,
        qualifiers=qualifiers,
    ).to_string()
    return Component(
        name=entry.name,
        version=entry.version,
        ecosystem=ecosystem,
        purl=purl,
        layer_index=layer.index,
        layer_digest=layer.digest,
        source_name=entry.source_name,
    )
