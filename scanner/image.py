"""Open container images from an OCI image layout or a docker-archive tarball.

References use skopeo's transport syntax:

- ``oci:PATH[:TAG]``: an OCI image layout folder; TAG is matched against the
  ``org.opencontainers.image.ref.name`` annotation in ``index.json``.
- ``docker-archive:PATH[:NAME:TAG]`` (or ``:@N``): the tarball written by
  ``docker save`` or ``skopeo copy ... docker-archive:``.
- ``docker://HOST[:PORT]/REPO[:TAG|@sha256:...]``: an image in a registry, pulled
  over the OCI Distribution API (``scanner.registry``).

Limits (``scanner.limits``) bound what a hostile image can cost: manifest size,
layer count, uncompressed bytes and compression ratio, time.

Nothing is extracted to disk and no layer is loaded into memory: layers are
streamed through ``tarfile`` while their sha256 digests are computed, and a
digest that does not match what the manifest (or config) promised is an error.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, cast

from models.scan import Layer
from scanner.limits import Limits, ScanOptions

try:  # zstd layers are optional: a clear error replaces them when the library is missing
    import zstandard
except ImportError:  # pragma: no cover - exercised only without the dependency
    zstandard = None  # type: ignore[assignment]

__all__ = ["Image", "ImageError", "LayerMember", "open_image"]

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = {MT_OCI_INDEX, MT_DOCKER_LIST}
MANIFEST_TYPES = {MT_OCI_MANIFEST, MT_DOCKER_MANIFEST}

LAYER_COMPRESSION: dict[str, str] = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}

_DIGEST_RE = re.compile(r"^sha256:([0-9a-f]{64})$")
# Archive members named after their own sha256: "<hex>.json" / "<hex>.tar" (skopeo,
# docker save) and "blobs/sha256/<hex>" (docker >= 25). The "<id>/layer.tar" of
# older docker save is named after a legacy v1 id, not a digest.
_CONFIG_NAME_RE = re.compile(r"^(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?$")
_LAYER_NAME_RE = re.compile(r"^(?:blobs/sha256/)?([0-9a-f]{64})(?:\.tar)?$")
_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, tarfile.TarError, zlib.error)
if zstandard is not None:
    _READ_ERRORS = (*_READ_ERRORS, zstandard.ZstdError)


class ImageError(Exception):
    """The image cannot be read; the message is one line meant for the publisher."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _LayerSource:
    """Where a layer's bytes are and what they must hash to."""

    index: int
    digest: str  # what the layer is known by: the blob digest, else its diff_id
    blob_digest: str | None  # sha256 the stored bytes must have, when known
    diff_id: str | None  # sha256 of the uncompressed tar, from the config
    compression: str  # none | gzip | zstd
    opener: Callable[[], Any]  # returns a readable, closable binary stream


@dataclass
class Image:
    """An opened image: identity, parsed config and a way to stream its layers."""

    ref: str
    digest: str  # manifest digest; for docker-archive the config digest (the image ID)
    config: dict[str, Any]
    layers: list[Layer]
    _sources: list[_LayerSource] = field(repr=False, default_factory=list)
    limits: Limits = field(default_factory=Limits, repr=False)
    deadline: float | None = field(default=None, repr=False)  # time.monotonic() bound
    expanded_bytes: int = 0  # uncompressed bytes read so far, all layers together
    platform: str | None = None  # "os/arch" chosen from an image index, when there was one
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Release connections (registry images); safe to call twice."""
        while self.closers:
            self.closers.pop()()

    @property
    def runtime_config(self) -> dict[str, Any]:
        value = self.config.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def user(self) -> str:
        """The configured user ("" means root)."""
        return str(self.runtime_config.get("User") or "")

    @property
    def labels(self) -> dict[str, str]:
        labels = self.runtime_config.get("Labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    @property
    def env(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for item in self.runtime_config.get("Env") or []:
            name, _, value = str(item).partition("=")
            result[name] = value
        return result

    @property
    def history(self) -> list[dict[str, Any]]:
        history = self.config.get("history")
        return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []

    def members(self, index: int) -> Iterator[LayerMember]:
        """Stream the tar members of layer ``index`` (0-based) in archive order.

        Each member's ``reader`` is only valid until the next member is requested.
        When the layer has been read to its end, its blob digest (and diff_id when
        known) are checked; a mismatch raises ``ImageError``.
        """
        if not 0 <= index < len(self._sources):
            raise ImageError(f"{self.ref} has no layer {index}")
        source = self._sources[index]
        label = f"layer {index} ({source.digest})"
        try:
            raw = source.opener()
        except OSError as exc:
            raise ImageError(f"cannot open {label}: {exc.strerror or exc}") from exc
        blob_hash = _HashingReader(raw)
        limits = self.limits
        layer_bytes = 0

        def account(count: int) -> None:
            # Checked as bytes come out of the decompressor, so a bomb is stopped
            # after at most one tar record past the limit, never inflated whole.
            nonlocal layer_bytes
            layer_bytes += count
            self.expanded_bytes += count
            if self.expanded_bytes > limits.max_expanded_bytes:
                raise ImageError(
                    f"{self.ref} expands to more than {limits.max_expanded_bytes} bytes "
                    "(scanner_max_expanded_bytes)"
                )
            if layer_bytes > limits.ratio_floor_bytes and layer_bytes > limits.max_ratio * max(
                blob_hash.count, 1
            ):
                raise ImageError(
                    f"{label} is a decompression bomb: {blob_hash.count} bytes expand to "
                    f"more than {layer_bytes} (ratio limit {limits.max_ratio:g})"
                )
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise ImageError(f"scanning {self.ref} took longer than {limits.total_timeout:g} s")

        try:
            stream = _decompressor(blob_hash, source.compression)
            tar_hash = _HashingReader(stream, account)
            try:
                archive = tarfile.open(fileobj=cast(Any, tar_hash), mode="r|")  # noqa: SIM115 - streamed
                for info in archive:
                    reader = archive.extractfile(info) if info.isreg() else None
                    yield LayerMember(info, _MemberReader(reader, label) if reader else None)
                tar_hash.drain()
                blob_hash.drain()
            except _READ_ERRORS as exc:
                raise ImageError(f"{label} is not a readable tar archive: {_reason(exc)}") from exc
        finally:
            raw.close()
        if source.blob_digest and blob_hash.digest() != source.blob_digest:
            raise ImageError(
                f"{label} has the wrong digest: the content hashes to {blob_hash.digest()}"
            )
        if source.diff_id and tar_hash.digest() != source.diff_id:
            raise ImageError(
                f"{label} does not match its diff_id {source.diff_id} "
                f"(uncompressed content hashes to {tar_hash.digest()})"
            )


@dataclass
class LayerMember:
    """One tar entry of a layer; ``reader`` is set for regular files only."""

    info: tarfile.TarInfo
    reader: _MemberReader | None


class _MemberReader:
    """A member's data stream whose decoding errors surface as ``ImageError``."""

    def __init__(self, raw: IO[bytes], label: str) -> None:
        self._raw = raw
        self._label = label

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except _READ_ERRORS as exc:
            raise ImageError(f"{self._label} is corrupt: {_reason(exc)}") from exc


class _HashingReader:
    """Pass-through reader that sha256-hashes everything read through it."""

    def __init__(self, raw: IO[bytes] | Any, account: Callable[[int], None] | None = None) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self._account = account
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        # Never read "everything": a stream may be far larger than memory.
        data: bytes = self._raw.read(size if size >= 0 else 1024 * 1024)
        self._hash.update(data)
        self.count += len(data)
        if self._account is not None:
            self._account(len(data))
        return data

    def drain(self) -> None:
        while self.read(1024 * 1024):
            pass

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _Slice:
    """Read-only view of ``size`` bytes of a file starting at ``offset``."""

    def __init__(self, opener: Callable[[], IO[bytes]], offset: int, size: int) -> None:
        self._file = opener()
        self._file.seek(offset)
        self._left = size

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _decompressor(raw: _HashingReader, compression: str) -> Any:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=cast(Any, raw), mode="rb")
    if compression == "zstd":
        if zstandard is None:  # pragma: no cover
            raise ImageError("zstd-compressed layers need the 'zstandard' package")
        return zstandard.ZstdDecompressor().stream_reader(cast(Any, raw), read_across_frames=True)
    return raw


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def open_image(ref: str, options: ScanOptions | None = None) -> Image:
    """Open the image named by a skopeo-style reference (``oci:``, ``docker-archive:``
    or ``docker://``), within the limits of ``options``."""
    options = options or ScanOptions()
    if not isinstance(ref, str) or not ref.strip():
        raise ImageError("image reference is empty")
    deadline = time.monotonic() + options.limits.total_timeout
    if ref.startswith("oci:"):
        path, _, tag = ref[len("oci:") :].partition(":")
        image = _open_oci(ref, path, tag or None, options)
    elif ref.startswith("docker-archive:"):
        path, _, name = ref[len("docker-archive:") :].partition(":")
        image = _open_docker_archive(ref, path, name or None, options.limits)
    elif ref.startswith("docker://"):
        from scanner.registry import open_registry_image  # the registry needs httpx

        image = open_registry_image(ref, options, deadline)
    else:
        raise ImageError("image reference must start with oci:, docker-archive: or docker://")
    check_layer_count(ref, len(image.layers), options.limits)
    image.limits, image.deadline = options.limits, deadline
    return image


def check_layer_count(ref: str, count: int, limits: Limits) -> None:
    """Refuse images with more layers than the limit, before any layer is read."""
    if count > limits.max_layers:
        raise ImageError(
            f"{ref} has {count} layers, more than the limit of {limits.max_layers} "
            "(scanner_max_layers)"
        )


# --- OCI image layout -------------------------------------------------------


def _open_oci(ref: str, path_text: str, tag: str | None, options: ScanOptions) -> Image:
    if not path_text:
        raise ImageError(f"{ref}: the OCI layout path is missing")
    root = Path(path_text)
    if not root.exists():
        raise ImageError(f"OCI layout not found: {root}")
    if not root.is_dir():
        raise ImageError(f"{root} is not a directory (an OCI layout is a folder)")
    if not (root / "oci-layout").is_file():
        raise ImageError(f"{root} is not an OCI image layout (no oci-layout file)")
    max_json = options.limits.max_manifest_bytes
    index = _load_json_file(root / "index.json", f"{root}/index.json", max_json)
    descriptors = index.get("manifests")
    if not isinstance(descriptors, list) or not descriptors:
        raise ImageError(f"{root}/index.json lists no images")
    descriptors = [d for d in descriptors if isinstance(d, dict)]
    tags = sorted(
        {
            str(d["annotations"][REF_NAME_ANNOTATION])
            for d in descriptors
            if isinstance(d.get("annotations"), dict) and REF_NAME_ANNOTATION in d["annotations"]
        }
    )
    if tag is not None:
        chosen = [
            d
            for d in descriptors
            if isinstance(d.get("annotations"), dict)
            and d["annotations"].get(REF_NAME_ANNOTATION) == tag
        ]
        if not chosen:
            available = ", ".join(tags) if tags else "none"
            raise ImageError(f"tag {tag!r} not found in {root}; available tags: {available}")
        if len(chosen) > 1:
            raise ImageError(f"tag {tag!r} names {len(chosen)} different images in {root}")
        descriptor = chosen[0]
    elif len(descriptors) == 1:
        descriptor = descriptors[0]
    else:
        available = ", ".join(tags) if tags else "none"
        raise ImageError(
            f"{root} holds {len(descriptors)} images; name one as oci:{root}:TAG "
            f"(available tags: {available})"
        )

    def read_blob(desc: dict[str, Any], what: str) -> bytes:
        digest = _descriptor_digest(desc, what)
        blob = _blob_path(root, digest)
        if not blob.is_file():
            raise ImageError(f"{what} blob {digest} is missing from {root}")
        if blob.stat().st_size > max_json:
            raise ImageError(
                f"{what} blob {digest} is too large to be a {what} "
                f"(over {max_json} bytes, scanner_max_manifest_bytes)"
            )
        data = blob.read_bytes()
        _check_digest(data, digest, what)
        return data

    manifest_digest, manifest, platform = _resolve_manifest(descriptor, read_blob, options.platform)
    config_desc = manifest.get("config")
    if not isinstance(config_desc, dict):
        raise ImageError(f"manifest {manifest_digest} has no config descriptor")
    config = _parse_object(read_blob(config_desc, "config"), f"config of {manifest_digest}")
    layer_descs = manifest.get("layers")
    if not isinstance(layer_descs, list):
        raise ImageError(f"manifest {manifest_digest} has no layers list")
    check_layer_count(ref, len(layer_descs), options.limits)
    diff_ids = _diff_ids(config, len(layer_descs), manifest_digest)

    sources: list[_LayerSource] = []
    for i, desc in enumerate(layer_descs):
        if not isinstance(desc, dict):
            raise ImageError(f"manifest {manifest_digest}: layer {i} is not a descriptor")
        digest = _descriptor_digest(desc, f"layer {i}")
        media_type = str(desc.get("mediaType") or "")
        compression = LAYER_COMPRESSION.get(media_type)
        if compression is None:
            raise ImageError(
                f"layer {i} ({digest}) has an unsupported layer media type {media_type!r}"
            )
        blob = _blob_path(root, digest)
        if not blob.is_file():
            raise ImageError(f"layer {i} blob {digest} is missing from {root}")
        opener = partial(blob.open, "rb")
        sources.append(_LayerSource(i, digest, digest, diff_ids[i], compression, opener))
    return Image(ref, manifest_digest, config, _layers(sources, config), sources, platform=platform)


def _resolve_manifest(
    descriptor: dict[str, Any],
    read_blob: Callable[[dict[str, Any], str], bytes],
    platform: str = "linux/amd64",
) -> tuple[str, dict[str, Any], str | None]:
    """Follow index -> (nested index ->) manifest, choosing ``platform`` in indexes."""
    chosen: str | None = None
    for _depth in range(4):
        digest = _descriptor_digest(descriptor, "manifest")
        document = _parse_object(read_blob(descriptor, "manifest"), f"manifest {digest}")
        media_type = descriptor.get("mediaType") or document.get("mediaType")
        if media_type in INDEX_TYPES or (media_type is None and "manifests" in document):
            descriptor = pick_platform(digest, document, platform)
            chosen = platform
            continue
        if media_type not in MANIFEST_TYPES and not (media_type is None and "layers" in document):
            raise ImageError(f"{digest} is not an image manifest (media type {media_type!r})")
        if document.get("schemaVersion") != 2:
            raise ImageError(f"manifest {digest} has unsupported schemaVersion")
        return digest, document, chosen
    raise ImageError("image indexes are nested too deeply")


def platform_name(entry: dict[str, Any]) -> str | None:
    """ "os/arch[/variant]" of an index entry, None when it names no platform."""
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return None
    parts = [str(platform.get("os")), str(platform.get("architecture"))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def pick_platform(
    digest: str, index: dict[str, Any], wanted: str = "linux/amd64"
) -> dict[str, Any]:
    """The index entry for ``wanted`` ("os/arch" matches any variant)."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    if not entries:
        raise ImageError(f"image index {digest} lists no manifests")
    for entry in entries:
        name = platform_name(entry)
        if name is not None and (name == wanted or name.rsplit("/", 1)[0] == wanted):
            return entry
    if len(entries) == 1 and not entries[0].get("platform"):
        return entries[0]
    found = sorted(
        f"{p.get('os')}/{p.get('architecture')}"
        for e in entries
        if isinstance(p := e.get("platform"), dict)
    )
    raise ImageError(
        f"image index {digest} has no {wanted} image (platforms: {', '.join(found) or 'none'})"
    )


def _blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest.split(":", 1)[1]


def _descriptor_digest(desc: dict[str, Any], what: str) -> str:
    digest = desc.get("digest")
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise ImageError(f"{what} descriptor has an invalid or unsupported digest {digest!r}")
    return digest


# --- docker-archive -----------------------------------------------------------


def _open_docker_archive(ref: str, path_text: str, name: str | None, limits: Limits) -> Image:
    if not path_text:
        raise ImageError(f"{ref}: the archive path is missing")
    path = Path(path_text)
    if not path.exists():
        raise ImageError(f"docker archive not found: {path}")
    if not path.is_file():
        raise ImageError(f"{path} is not a file (a docker-archive is a tarball)")
    compressed = _sniff_compression(path) == "gzip"

    def open_outer() -> Any:
        return gzip.open(path, "rb") if compressed else path.open("rb")

    try:
        with tarfile.open(path, "r:*") as archive:
            members = {_clean_member_name(m.name): m for m in archive.getmembers() if m.isreg()}
    except _READ_ERRORS as exc:
        raise ImageError(f"{path} is not a readable tar archive: {_reason(exc)}") from exc

    def member_bytes(member_name: str, what: str) -> bytes:
        info = members.get(_clean_member_name(member_name))
        if info is None:
            raise ImageError(f"{path}: {what} {member_name!r} is missing from the archive")
        if info.size > limits.max_manifest_bytes:
            raise ImageError(
                f"{path}: {what} {member_name!r} is too large "
                f"(over {limits.max_manifest_bytes} bytes, scanner_max_manifest_bytes)"
            )
        reader = _Slice(open_outer, info.offset_data, info.size)
        try:
            return reader.read()
        finally:
            reader.close()

    manifest = _parse_json(member_bytes("manifest.json", "file"), f"{path}: manifest.json")
    if (
        not isinstance(manifest, list)
        or not manifest
        or not all(isinstance(e, dict) for e in manifest)
    ):
        raise ImageError(f"{path}: manifest.json must be a non-empty list of images")
    entry = _pick_archive_entry(path, manifest, name)

    config_name = entry.get("Config")
    if not isinstance(config_name, str):
        raise ImageError(f"{path}: manifest.json entry has no Config")
    config_bytes = member_bytes(config_name, "config")
    named = _CONFIG_NAME_RE.match(_clean_member_name(config_name))
    if named:
        _check_digest(config_bytes, "sha256:" + named.group(1), "config")
    config = _parse_object(config_bytes, f"{path}: config {config_name}")
    image_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()

    layer_names = entry.get("Layers")
    if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
        raise ImageError(f"{path}: manifest.json entry has no Layers list")
    check_layer_count(ref, len(layer_names), limits)
    diff_ids = _diff_ids(config, len(layer_names), image_digest)
    sources: list[_LayerSource] = []
    for i, layer_name in enumerate(layer_names):
        info = members.get(_clean_member_name(layer_name))
        if info is None:
            raise ImageError(f"{path}: layer {i} {layer_name!r} is missing from the archive")
        compression = _sniff_compression_of(_Slice(open_outer, info.offset_data, min(info.size, 8)))
        named = _LAYER_NAME_RE.match(_clean_member_name(layer_name))
        blob_digest = "sha256:" + named.group(1) if named else None
        # Without a self-naming file the diff_id check still covers the content.
        digest = blob_digest or str(diff_ids[i])
        sources.append(
            _LayerSource(
                i,
                digest,
                blob_digest,
                diff_ids[i],
                compression,
                partial(_Slice, open_outer, info.offset_data, info.size),
            )
        )
    return Image(ref, image_digest, config, _layers(sources, config), sources)


def _pick_archive_entry(path: Path, manifest: list[Any], name: str | None) -> dict[str, Any]:
    all_tags = sorted({str(t) for e in manifest for t in (e.get("RepoTags") or [])})
    if name is None:
        if len(manifest) == 1:
            return dict(manifest[0])
        raise ImageError(
            f"{path} holds {len(manifest)} images; name one as docker-archive:{path}:NAME:TAG "
            f"(available: {', '.join(all_tags) or 'none'})"
        )
    if name.startswith("@"):
        try:
            position = int(name[1:])
        except ValueError:
            raise ImageError(f"invalid image index {name!r} in docker-archive reference") from None
        if not 0 <= position < len(manifest):
            raise ImageError(f"{path} has no image @{position} ({len(manifest)} images)")
        return dict(manifest[position])
    wanted = _familiar(name)
    for entry in manifest:
        if any(_familiar(str(t)) == wanted for t in entry.get("RepoTags") or []):
            return dict(entry)
    raise ImageError(
        f"image {name!r} not found in {path}; available: {', '.join(all_tags) or 'none'}"
    )


def _familiar(name: str) -> str:
    """Normalise docker.io/library/x:tag and x:tag to the same string."""
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    for prefix in ("docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/") :]
    return name


def _clean_member_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _sniff_compression(path: Path) -> str:
    with path.open("rb") as handle:
        return _sniff_compression_of(handle)


def _sniff_compression_of(handle: Any) -> str:
    try:
        head = handle.read(4)
    finally:
        close = getattr(handle, "close", None)
        if close:
            close()
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


# --- shared helpers -------------------------------------------------------------


def _diff_ids(config: dict[str, Any], count: int, owner: str) -> list[str | None]:
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise ImageError(f"config of {owner} has no rootfs.diff_ids")
    if len(diff_ids) != count:
        raise ImageError(f"config of {owner} lists {len(diff_ids)} diff_ids for {count} layers")
    result: list[str | None] = []
    for value in diff_ids:
        if not isinstance(value, str) or not _DIGEST_RE.match(value):
            raise ImageError(f"config of {owner} has an invalid diff_id {value!r}")
        result.append(value)
    return result


def _layers(sources: list[_LayerSource], config: dict[str, Any]) -> list[Layer]:
    history = config.get("history")
    created = [
        str(h.get("created_by") or "") or None
        for h in (history if isinstance(history, list) else [])
        if isinstance(h, dict) and not h.get("empty_layer")
    ]
    return [
        Layer(s.index, s.digest, created[s.index] if s.index < len(created) else None)
        for s in sources
    ]


def _check_digest(data: bytes, digest: str, what: str) -> None:
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ImageError(f"{what} {digest} has the wrong digest: the content hashes to {actual}")


def _load_json_file(path: Path, what: str, max_bytes: int) -> dict[str, Any]:
    if not path.is_file():
        raise ImageError(f"{what} is missing")
    if path.stat().st_size > max_bytes:
        raise ImageError(f"{what} is too large (over {max_bytes} bytes)")
    return _parse_object(path.read_bytes(), what)


def _parse_object(data: bytes, what: str) -> dict[str, Any]:
    value = _parse_json(data, what)
    if not isinstance(value, dict):
        raise ImageError(f"{what} is not a JSON object")
    return value


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {_reason(exc)}") from exc
