"""Write real container images for tests: OCI image layouts and docker-archive tarballs.

A layer is described as ``{path: content}``: bytes write a regular file, None
writes a whiteout for that path (``dir/.wh.name``), ``Symlink(target)`` writes a
symbolic link. An opaque whiteout is the empty regular file
``dir/.wh..wh..opq``. Parent directories get their own tar entries, as in
layers built by docker or buildah.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
EPOCH = 1700000000  # fixed mtimes keep blobs (and digests) reproducible


@dataclass(frozen=True)
class Symlink:
    target: str


LayerSpec = dict[str, bytes | None | Symlink]


def layer_tar(files: LayerSpec) -> bytes:
    """An uncompressed layer tarball holding ``files`` (see the module docstring)."""
    buffer = io.BytesIO()
    seen_dirs: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, content in files.items():
            parent = posixpath.dirname(path)
            for n in range(1, len(parent.split("/")) + 1 if parent else 0):
                directory = "/".join(parent.split("/")[:n])
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    info = tarfile.TarInfo(directory + "/")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
                    archive.addfile(info)
            if content is None:
                name = posixpath.join(parent, ".wh." + posixpath.basename(path))
                info = tarfile.TarInfo(name)
                info.mtime = EPOCH
                archive.addfile(info, io.BytesIO(b""))
            elif isinstance(content, Symlink):
                info = tarfile.TarInfo(path)
                info.type, info.linkname, info.mtime = tarfile.SYMTYPE, content.target, EPOCH
                info.mode = 0o777
                archive.addfile(info)
            else:
                info = tarfile.TarInfo(path)
                info.size, info.mode, info.mtime = len(content), 0o644, EPOCH
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(
    diff_ids: list[str], config: dict[str, Any] | None, history: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """An image config JSON object (the OCI/docker "image configuration")."""
    if history is None:
        history = [
            {"created": "2023-11-14T22:13:20Z", "created_by": f"/bin/sh -c #(nop) layer {i}"}
            for i in range(len(diff_ids))
        ]
    return {
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": config if config is not None else {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }


def write_oci_layout(
    path: Path | str,
    layers: list[LayerSpec],
    tag: str = "1.0",
    config: dict[str, Any] | None = None,
    gzip_layers: bool = True,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """Write (or add a tag to) an OCI image layout at ``path``; returns ``oci:PATH:TAG``.

    ``config`` is the image's runtime config (``User``, ``Env``, ``Labels``...).
    ``history`` replaces the default one-entry-per-layer history.
    """
    root = Path(path)
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    layer_descs, diff_ids = [], []
    for files in layers:
        tar_bytes = layer_tar(files)
        diff_ids.append(sha256(tar_bytes))
        stored = gzip.compress(tar_bytes, mtime=0) if gzip_layers else tar_bytes
        layer_descs.append(
            {
                "mediaType": MT_LAYER_GZIP if gzip_layers else MT_LAYER,
                "digest": put(stored),
                "size": len(stored),
            }
        )
    config_bytes = json.dumps(image_config(diff_ids, config, history)).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": put(config_bytes), "size": len(config_bytes)},
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest).encode()
    manifest_digest = put(manifest_bytes)

    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = root / "index.json"
    index: dict[str, Any] = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
    )
    entries = [
        m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) != tag
    ]
    entries.append(
        {
            "mediaType": MT_MANIFEST,
            "digest": manifest_digest,
            "size": len(manifest_bytes),
            "annotations": {REF_NAME: tag},
        }
    )
    index["manifests"] = entries
    index_path.write_text(json.dumps(index))
    return f"oci:{root}:{tag}"


def write_docker_archive(
    path: Path | str,
    layers: list[LayerSpec],
    repo_tag: str = "acme/db:1.0",
    config: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    legacy_names: bool = True,
) -> str:
    """Write a ``docker save``-style tarball; returns ``docker-archive:PATH:REPO_TAG``.

    With ``legacy_names`` layers are stored as ``<v1 id>/layer.tar`` (with the
    ``VERSION`` and ``json`` files), as ``docker save`` did before docker 25; the v1
    id is not a digest of anything in the archive. Otherwise they are stored as
    ``<diff_id hex>.tar``, as ``skopeo copy ... docker-archive:`` does.
    """
    tars = [layer_tar(files) for files in layers]
    diff_ids = [sha256(t) for t in tars]
    config_bytes = json.dumps(image_config(diff_ids, config, history)).encode()
    config_name = sha256(config_bytes).split(":", 1)[1] + ".json"
    entries: list[tuple[str, bytes]] = [(config_name, config_bytes)]
    layer_names = []
    parent = ""
    for diff_id, data in zip(diff_ids, tars, strict=True):
        if legacy_names:
            v1_id = hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()
            v1_json = json.dumps({"id": v1_id, **({"parent": parent} if parent else {})})
            entries += [(f"{v1_id}/VERSION", b"1.0"), (f"{v1_id}/json", v1_json.encode())]
            name, parent = f"{v1_id}/layer.tar", v1_id
        else:
            name = diff_id.split(":", 1)[1] + ".tar"
        entries.append((name, data))
        layer_names.append(name)
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    entries.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in entries:
            _add(archive, name, data)
    return f"docker-archive:{path}:{repo_tag}"


def oci_blob(ref: str, digest: str) -> Path:
    """Path of a blob inside the OCI layout named by ``ref`` (for tampering in tests)."""
    root = ref[len("oci:") :].split(":", 1)[0]
    return Path(root) / "blobs" / "sha256" / digest.split(":", 1)[1]


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
    archive.addfile(info, io.BytesIO(data))
