"""Opening OCI layouts and docker-archives: formats, digests and clear errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from scanner.image import ImageError, open_image
from tests.imagebuild import (
    REF_NAME,
    layer_tar,
    oci_blob,
    sha256,
    write_docker_archive,
    write_oci_layout,
)

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\n'
STATUS = b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
LAYERS: list[dict[str, Any]] = [{"etc/os-release": OS_RELEASE}, {"var/lib/dpkg/status": STATUS}]
skopeo = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(skopeo is None, reason="skopeo is not installed")


def read_all(ref: str) -> dict[str, bytes]:
    """Every regular file of every layer, read through the streaming API."""
    image = open_image(ref)
    files = {}
    for layer in image.layers:
        for member in image.members(layer.index):
            if member.reader is not None:
                files[member.info.name] = member.reader.read()
    return files


def layout_root(ref: str) -> Path:
    return Path(ref[len("oci:") :].split(":", 1)[0])


def rewrite_manifest(ref: str, change: Any) -> None:
    """Edit the tagged manifest (and the config with it) and re-point index.json."""
    root = layout_root(ref)
    index = json.loads((root / "index.json").read_text())
    entry = index["manifests"][0]
    manifest = json.loads(oci_blob(ref, entry["digest"]).read_bytes())
    config = json.loads(oci_blob(ref, manifest["config"]["digest"]).read_bytes())
    change(manifest, config)
    config_bytes = json.dumps(config).encode()
    manifest["config"]["digest"] = sha256(config_bytes)
    manifest["config"]["size"] = len(config_bytes)
    oci_blob(ref, manifest["config"]["digest"]).write_bytes(config_bytes)
    manifest_bytes = json.dumps(manifest).encode()
    entry["digest"], entry["size"] = sha256(manifest_bytes), len(manifest_bytes)
    oci_blob(ref, entry["digest"]).write_bytes(manifest_bytes)
    (root / "index.json").write_text(json.dumps(index))


def test_oci_layout_gives_digest_config_and_layers(tmp_path: Path) -> None:
    history: list[dict[str, Any]] = [
        {"created_by": "ADD rootfs.tar /"},
        {"created_by": 'ENV LANG="C.UTF-8"', "empty_layer": True},
        {"created_by": "RUN apt-get install -y zlib1g"},
    ]
    config = {"User": "1000:1000", "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "Labels": {"a": "b"}}
    ref = write_oci_layout(tmp_path / "img", LAYERS, config=config, history=history)

    image = open_image(ref)

    manifest_digest = json.loads((tmp_path / "img" / "index.json").read_text())["manifests"][0][
        "digest"
    ]
    assert image.digest == manifest_digest
    assert image.digest == sha256(oci_blob(ref, manifest_digest).read_bytes())
    assert image.user == "1000:1000"
    assert image.labels == {"a": "b"}
    assert image.env == {"PATH": "/usr/bin", "LANG": "C.UTF-8"}
    assert [layer.index for layer in image.layers] == [0, 1]
    # The empty_layer history entry belongs to no layer.
    assert [layer.created_by for layer in image.layers] == [
        "ADD rootfs.tar /",
        "RUN apt-get install -y zlib1g",
    ]
    assert all(oci_blob(ref, layer.digest).is_file() for layer in image.layers)
    assert read_all(ref) == {"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": STATUS}


def test_uncompressed_oci_layers_are_read(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS, gzip_layers=False)
    assert read_all(ref)["var/lib/dpkg/status"] == STATUS


def test_layout_with_a_single_image_needs_no_tag(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", LAYERS, tag="2.1")
    assert open_image(f"oci:{tmp_path / 'img'}").layers[1].created_by is not None


def test_unknown_tag_lists_the_available_tags(tmp_path: Path) -> None:
    write_oci_layout(tmp_path / "img", LAYERS, tag="1.0")
    write_oci_layout(tmp_path / "img", LAYERS[:1], tag="2.0")
    with pytest.raises(ImageError, match=r"tag '3\.0' not found .*available tags: 1\.0, 2\.0"):
        open_image(f"oci:{tmp_path / 'img'}:3.0")
    with pytest.raises(ImageError, match="holds 2 images; name one"):
        open_image(f"oci:{tmp_path / 'img'}")
    assert len(open_image(f"oci:{tmp_path / 'img'}:2.0").layers) == 1


@pytest.mark.parametrize("legacy_names", [True, False])
def test_docker_archive_by_name_index_or_alone(tmp_path: Path, legacy_names: bool) -> None:
    ref = write_docker_archive(
        tmp_path / "db.tar", LAYERS, repo_tag="acme/db:1.0", legacy_names=legacy_names
    )
    image = open_image(ref)
    with tarfile.open(tmp_path / "db.tar") as archive:
        manifest = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
    config_name = manifest[0]["Config"]
    # A docker-archive has no registry manifest: the image ID (config digest) names it.
    assert image.digest == "sha256:" + config_name.removesuffix(".json")
    assert [layer.digest for layer in image.layers] == [
        sha256(layer_tar(files)) for files in LAYERS
    ]
    for same in (
        f"docker-archive:{tmp_path / 'db.tar'}",
        f"docker-archive:{tmp_path / 'db.tar'}:docker.io/acme/db:1.0",
        f"docker-archive:{tmp_path / 'db.tar'}:@0",
    ):
        assert open_image(same).digest == image.digest
    assert read_all(ref)["var/lib/dpkg/status"] == STATUS
    with pytest.raises(ImageError, match=r"'acme/db:2\.0' not found .*available: acme/db:1\.0"):
        open_image(f"docker-archive:{tmp_path / 'db.tar'}:acme/db:2.0")


def test_nested_index_picks_linux_amd64(tmp_path: Path) -> None:
    amd64 = write_oci_layout(tmp_path / "img", LAYERS, tag="amd64")
    write_oci_layout(tmp_path / "img", LAYERS[:1], tag="arm64")
    root = tmp_path / "img"
    index = json.loads((root / "index.json").read_text())
    entries = {m["annotations"][REF_NAME]: m for m in index["manifests"]}
    platforms = {"amd64": "amd64", "arm64": "arm64"}
    inner: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": entries[tag]["mediaType"],
                "digest": entries[tag]["digest"],
                "size": entries[tag]["size"],
                "platform": {"os": "linux", "architecture": arch},
            }
            for tag, arch in sorted(platforms.items(), reverse=True)  # arm64 first
        ],
    }
    inner_bytes = json.dumps(inner).encode()
    oci_blob(amd64, sha256(inner_bytes)).write_bytes(inner_bytes)
    outer: dict[str, Any] = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": sha256(inner_bytes),
                "size": len(inner_bytes),
                "annotations": {REF_NAME: "multi"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(outer))

    image = open_image(f"oci:{root}:multi")

    assert image.digest == entries["amd64"]["digest"]
    assert len(image.layers) == 2

    inner["manifests"] = [m for m in inner["manifests"] if m["platform"]["architecture"] != "amd64"]
    inner_bytes = json.dumps(inner).encode()
    oci_blob(amd64, sha256(inner_bytes)).write_bytes(inner_bytes)
    outer["manifests"][0].update(digest=sha256(inner_bytes), size=len(inner_bytes))
    (root / "index.json").write_text(json.dumps(outer))
    with pytest.raises(ImageError, match=r"no linux/amd64 image \(platforms: linux/arm64\)"):
        open_image(f"oci:{root}:multi")


def test_tampered_layer_is_rejected_when_read(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS)
    image = open_image(ref)
    evil = gzip.compress(layer_tar({"var/lib/dpkg/status": b"Package: x\nVersion: 1\n"}))
    oci_blob(ref, image.layers[1].digest).write_bytes(evil)
    with pytest.raises(ImageError, match=r"layer 1 \(sha256:[0-9a-f]{64}\) has the wrong digest"):
        read_all(ref)


def test_tampered_manifest_and_config_are_rejected(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS)
    image = open_image(ref)
    config_digest = json.loads(oci_blob(ref, image.digest).read_bytes())["config"]["digest"]
    oci_blob(ref, config_digest).write_text(json.dumps({"config": {"User": "root"}}))
    with pytest.raises(ImageError, match=r"config sha256:\w+ has the wrong digest"):
        open_image(ref)
    oci_blob(ref, image.digest).write_text("{}")
    with pytest.raises(ImageError, match=r"manifest sha256:\w+ has the wrong digest"):
        open_image(ref)


def test_layer_not_matching_its_diff_id_is_rejected(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS)

    def wrong_diff_id(manifest: dict[str, Any], config: dict[str, Any]) -> None:
        config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64

    rewrite_manifest(ref, wrong_diff_id)
    with pytest.raises(ImageError, match=r"layer 0 .* does not match its diff_id sha256:0{64}"):
        read_all(ref)


def test_unsupported_layer_media_type_is_named(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS)

    def bzip_layer(manifest: dict[str, Any], config: dict[str, Any]) -> None:
        manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+bzip2"

    rewrite_manifest(ref, bzip_layer)
    with pytest.raises(ImageError, match=r"unsupported layer media type '.*tar\+bzip2'"):
        open_image(ref)


def tamper_archive(source: Path, out: Path) -> None:
    """Copy a docker-archive, swapping the dpkg layer's content for another."""
    with tarfile.open(source) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(".tar") and b"dpkg" in data:
                data = layer_tar({"var/lib/dpkg/status": b"Package: x\nVersion: 2\n"})
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize(
    ("legacy_names", "message"),
    [
        (True, r"layer 1 \(sha256:\w+\) does not match its diff_id"),
        (False, r"layer 1 \(sha256:\w+\) has the wrong digest"),
    ],
)
def test_tampered_docker_archive_layer_is_rejected(
    tmp_path: Path, legacy_names: bool, message: str
) -> None:
    write_docker_archive(tmp_path / "db.tar", LAYERS, legacy_names=legacy_names)
    tamper_archive(tmp_path / "db.tar", tmp_path / "evil.tar")
    with pytest.raises(ImageError, match=message):
        read_all(f"docker-archive:{tmp_path / 'evil.tar'}")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "image reference is empty"),
        ("docker://127.0.0.1:5000/Acme:1.0", "'Acme' is not a valid repository name"),
        ("docker://127.0.0.1:5000/acme@sha256:12", "is not a sha256 digest"),
        ("/tmp/whatever", "image reference must start with oci:, docker-archive: or docker://"),
        ("oci:/nonexistent/layout:1.0", "OCI layout not found: /nonexistent/layout"),
        ("docker-archive:/nonexistent.tar", "docker archive not found: /nonexistent.tar"),
    ],
)
def test_bad_references_get_one_line_errors(ref: str, message: str) -> None:
    with pytest.raises(ImageError) as caught:
        open_image(ref)
    assert str(caught.value) == message or message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_broken_layouts_are_explained(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="not an OCI image layout"):
        open_image(f"oci:{tmp_path / 'empty'}")
    ref = write_oci_layout(tmp_path / "img", LAYERS)
    (tmp_path / "img" / "index.json").write_text("{not json")
    with pytest.raises(ImageError, match=r"index\.json is not valid JSON"):
        open_image(ref)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match="is not a readable tar archive"):
        open_image(f"docker-archive:{tmp_path / 'notes.txt'}")
    with pytest.raises(ImageError, match="is not a directory"):
        open_image(f"oci:{tmp_path / 'notes.txt'}")


def test_corrupt_gzip_layer_is_an_image_error(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS)
    image = open_image(ref)
    blob = oci_blob(ref, image.layers[0].digest)
    blob.write_bytes(blob.read_bytes()[:20])
    with pytest.raises(ImageError, match=r"layer 0 .*(not a readable tar|corrupt)"):
        read_all(ref)


@needs_skopeo
def test_skopeo_accepts_the_layout_we_write(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", LAYERS, config={"Labels": {"vendor": "acme"}})
    out = subprocess.run(
        [str(skopeo), "inspect", ref], check=True, capture_output=True, text=True, timeout=60
    )
    inspected = json.loads(out.stdout)
    image = open_image(ref)
    assert inspected["Digest"] == image.digest
    assert inspected["Layers"] == [layer.digest for layer in image.layers]
    assert inspected["Labels"] == {"vendor": "acme"}


@needs_skopeo
def test_images_written_by_skopeo_are_read(tmp_path: Path) -> None:
    """skopeo's own docker-archive, zstd OCI and docker-v2s2 outputs."""
    source = write_oci_layout(tmp_path / "img", LAYERS)
    expected = read_all(source)
    targets = {
        f"docker-archive:{tmp_path / 'out.tar'}:acme/db:1.0": [],
        f"oci:{tmp_path / 'zstd'}:1.0": ["--dest-compress-format", "zstd", "--dest-compress"],
        f"oci:{tmp_path / 'v2s2'}:1.0": ["--format", "v2s2"],
    }
    for target, flags in targets.items():
        subprocess.run(
            [str(skopeo), "copy", "-q", *flags, source, target],
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert read_all(target) == expected, target
    zstd_image = open_image(f"oci:{tmp_path / 'zstd'}:1.0")
    assert zstd_image.layers[0].digest != open_image(source).layers[0].digest
    archive = open_image(f"docker-archive:{tmp_path / 'out.tar'}:acme/db:1.0")
    # skopeo names layers by their diff_id: the uncompressed tar's sha256.
    diff_ids = ["sha256:" + hashlib.sha256(layer_tar(files)).hexdigest() for files in LAYERS]
    assert [layer.digest for layer in archive.layers] == diff_ids
