"""Apply an image's layers in order, keeping only the files the inventory reads.

Layers are applied the way a container runtime stacks them: ``.wh.NAME`` deletes
NAME (and everything below it) from the lower layers, ``.wh..wh..opq`` empties a
directory of its lower-layer content, and an entry of another type replaces what
was at its path. Only the OS identity and package-database files are kept, each
tagged with the index of the layer that last wrote it. Language packages are kept
too: Python ``*.dist-info/METADATA`` and ``*.egg-info`` (file or ``PKG-INFO`` in a
folder), npm ``node_modules/[@scope/]name/package.json``, reduced to the few
fields the inventory reads so thousands of them stay small in memory.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass

from scanner.image import Image, ImageError

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_DIR = "var/lib/dpkg/status.d"
APK_INSTALLED = "lib/apk/db/installed"
WANTED_FILES = frozenset({*OS_RELEASE_PATHS, DPKG_STATUS, APK_INSTALLED})

# A package database is a few MB at most; anything bigger is not one we can trust.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_SYMLINK_HOPS = 8

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


def _ancestors(path: str) -> set[str]:
    parts = path.split("/")
    return {"/".join(parts[:n]) for n in range(1, len(parts))}


_PYTHON_RE = re.compile(r"(?:^|/)[^/]+\.(?:dist-info/METADATA|egg-info/PKG-INFO|egg-info)$")
_NPM_RE = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/]+/package\.json$")
_NPM_FIELDS = ("name", "version", "license", "private")


@dataclass(frozen=True)
class FileEntry:
    """A kept file: its content, or the target when it is a symlink."""

    path: str
    layer_index: int
    data: bytes | None = None
    link: str | None = None


State = dict[str, FileEntry]


def is_wanted(path: str) -> bool:
    """Whether the inventory needs the file at this (normalised) path."""
    return (
        path in WANTED_FILES
        or posixpath.dirname(path) == DPKG_STATUS_DIR
        or is_python_metadata(path)
        or is_npm_manifest(path)
    )


def is_python_metadata(path: str) -> bool:
    """A Python distribution's metadata: ``*.dist-info/METADATA`` or ``*.egg-info``."""
    return path.endswith(("METADATA", "PKG-INFO", ".egg-info")) and bool(_PYTHON_RE.search(path))


def is_npm_manifest(path: str) -> bool:
    """An installed npm package's ``package.json`` (not one nested in its files)."""
    return path.endswith("/package.json") and bool(_NPM_RE.search(path))


def _reduce(path: str, data: bytes) -> bytes:
    """Keep only what the inventory reads of language metadata."""
    if is_npm_manifest(path):
        try:
            manifest = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            return b"{}"
        if not isinstance(manifest, dict):
            return b"{}"
        return json.dumps({k: manifest[k] for k in _NPM_FIELDS if k in manifest}).encode()
    if is_python_metadata(path):
        # The headers end at the first blank line; the long description follows.
        return data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return data


def normalise_member(name: str, layer_index: int) -> str | None:
    """The root-relative path of a tar member, or None for the root itself.

    Absolute names and names that climb out of the root are refused: a layer
    that contains them is malformed or hostile.
    """
    if name.startswith("/"):
        raise ImageError(f"layer {layer_index}: member {name!r} has an absolute path")
    path = posixpath.normpath(name)
    if path == ".." or path.startswith("../"):
        raise ImageError(f"layer {layer_index}: member {name!r} escapes the image root")
    return None if path == "." else path


def apply_layers(image: Image) -> list[State]:
    """The kept files after each layer: element i is the state once layer i is applied."""
    state: State = {}
    snapshots: list[State] = []
    for layer in image.layers:
        state = _apply_layer(image, layer.index, state)
        snapshots.append(state)
    return snapshots


def _apply_layer(image: Image, index: int, lower: State) -> State:
    removed: list[str] = []  # paths (with their subtrees) hidden from lower layers
    # Directories above a kept file: replacing one of them (by a file or a symlink)
    # hides everything kept below it.
    kept_dirs = {d for key in lower for d in _ancestors(key)}
    emptied: list[str] = []  # opaque directories
    written: State = {}
    for member in image.members(index):
        path = normalise_member(member.info.name, index)
        if path is None:
            continue
        parent, base = posixpath.split(path)
        if base == OPAQUE_MARKER:
            emptied.append(parent)
            continue
        if base.startswith(WHITEOUT_PREFIX):
            removed.append(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
            continue
        info = member.info
        if info.isdir():
            if path in lower:
                removed.append(path)  # a directory now stands where a kept file was
            continue
        if path in kept_dirs:
            removed.append(path)  # a file or symlink replaces a directory we read below
        if not is_wanted(path):
            continue
        if info.isreg():
            if info.size > MAX_FILE_BYTES:
                raise ImageError(f"layer {index}: {path} is too large ({info.size} bytes)")
            data = member.reader.read() if member.reader else b""
            written[path] = FileEntry(path, index, data=_reduce(path, data))
        elif info.issym():
            written[path] = FileEntry(path, index, link=info.linkname)
        elif info.islnk():
            target = normalise_member(info.linkname, index)
            source = written.get(target or "") or lower.get(target or "")
            if source is not None:
                written[path] = FileEntry(path, index, data=source.data, link=source.link)
            else:
                removed.append(path)  # a hard link to content we did not keep
        else:
            removed.append(path)  # a device or fifo is not a readable database
    state = dict(lower)
    for path in removed:
        for key in [k for k in state if k == path or k.startswith(path + "/")]:
            del state[key]
    for directory in emptied:
        prefix = "" if directory == "" else directory + "/"
        for key in [k for k in state if k.startswith(prefix)]:
            del state[key]
    state.update(written)
    return state


def resolve(state: State, path: str) -> FileEntry | None:
    """The regular file at ``path``, following symlinks between kept files."""
    for _hop in range(MAX_SYMLINK_HOPS):
        entry = state.get(path)
        if entry is None:
            return None
        if entry.link is None:
            return entry
        target = entry.link
        base = "/" if target.startswith("/") else "/" + posixpath.dirname(path)
        # Resolving against "/" keeps ".." from climbing above the image root.
        path = posixpath.normpath(posixpath.join(base, target)).lstrip("/")
    return None


def files_under(state: State, directory: str) -> list[FileEntry]:
    """Regular files directly inside ``directory``, sorted by path."""
    result = []
    for path in sorted(state):
        if posixpath.dirname(path) == directory:
            entry = resolve(state, path)
            if entry is not None and entry.data is not None:
                result.append(entry)
    return result
