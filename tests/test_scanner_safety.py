"""Hostile local images: bombs, too many layers, oversized manifests, escaping symlinks."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from scanner.filesystem import apply_layers
from scanner.image import ImageError, open_image
from scanner.inventory import read_inventory
from scanner.limits import Limits, ScanOptions, address_allowed
from tests.imagebuild import Symlink, layer_tar, oci_blob, sha256, write_oci_layout

MiB = 1024 * 1024
OS_RELEASE = b'ID=debian\nVERSION_ID="12"\n'


def write_raw_gzip_layer(tmp_path: Path, tar_bytes: bytes) -> str:
    """An OCI layout whose single gzip layer is ``tar_bytes`` compressed as hard as gzip can."""
    ref = write_oci_layout(tmp_path / "img", [{"etc/os-release": OS_RELEASE}])
    root = tmp_path / "img"
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads(oci_blob(ref, index["manifests"][0]["digest"]).read_bytes())
    config = json.loads(oci_blob(ref, manifest["config"]["digest"]).read_bytes())
    blob = gzip.compress(tar_bytes, compresslevel=9, mtime=0)
    oci_blob(ref, sha256(blob)).write_bytes(blob)
    manifest["layers"][0].update(digest=sha256(blob), size=len(blob))
    config["rootfs"]["diff_ids"] = [sha256(tar_bytes)]
    config_bytes = json.dumps(config).encode()
    oci_blob(ref, sha256(config_bytes)).write_bytes(config_bytes)
    manifest["config"].update(digest=sha256(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest).encode()
    oci_blob(ref, sha256(manifest_bytes)).write_bytes(manifest_bytes)
    index["manifests"][0].update(digest=sha256(manifest_bytes), size=len(manifest_bytes))
    (root / "index.json").write_text(json.dumps(index))
    return ref


def test_decompression_bomb_is_stopped_by_the_ratio(tmp_path: Path) -> None:
    # 48 MiB of zeros gzip to about 48 KiB: a ratio near 1000.
    ref = write_raw_gzip_layer(tmp_path, layer_tar({"bomb": b"\0" * (48 * MiB)}))
    limits = Limits(max_ratio=100, ratio_floor_bytes=4 * MiB)
    with pytest.raises(ImageError, match=r"layer 0 .* is a decompression bomb: .*ratio limit 100"):
        read_inventory(ref, ScanOptions(limits=limits))
    image = open_image(ref, ScanOptions(limits=limits))
    with pytest.raises(ImageError, match="decompression bomb"):
        apply_layers(image)
    # Stopped within a read of the floor: the 48 MiB were never inflated.
    assert image.expanded_bytes < 5 * MiB
    # Under the default limits (floor 64 MiB) the same layer is just a big layer.
    assert read_inventory(ref).components == []


def test_expanded_size_limit(tmp_path: Path) -> None:
    noise = os.urandom(3 * MiB)  # incompressible: the ratio rule cannot fire
    ref = write_oci_layout(tmp_path / "img", [{"a": noise}, {"b": noise}])
    with pytest.raises(ImageError, match=r"expands to more than 4194304 bytes"):
        read_inventory(ref, ScanOptions(limits=Limits(max_expanded_bytes=4 * MiB)))
    assert read_inventory(ref, ScanOptions(limits=Limits(max_expanded_bytes=8 * MiB))).layers


def test_too_many_layers(tmp_path: Path) -> None:
    layers: list[Any] = [{f"f{i}": b"x"} for i in range(6)]
    ref = write_oci_layout(tmp_path / "img", layers)
    with pytest.raises(ImageError, match=r"has 6 layers, more than the limit of 5"):
        open_image(ref, ScanOptions(limits=Limits(max_layers=5)))
    assert len(open_image(ref, ScanOptions(limits=Limits(max_layers=6))).layers) == 6


def test_oversized_manifest_in_a_layout(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", [{"etc/os-release": OS_RELEASE}])
    with pytest.raises(ImageError, match=r"too large"):
        open_image(ref, ScanOptions(limits=Limits(max_manifest_bytes=200)))


def test_symlink_escaping_the_root_stays_inside_the_image(tmp_path: Path) -> None:
    """/etc/os-release -> ../../../../../usr/lib/os-release must not reach the host's file."""
    layers: list[Any] = [
        {
            "usr/lib/os-release": b"ID=alpine\nVERSION_ID=3.14.1\n",
            "etc/os-release": Symlink("../../../../../../../usr/lib/os-release"),
        }
    ]
    inventory = read_inventory(write_oci_layout(tmp_path / "img", layers))
    assert inventory.os_id == "alpine"  # the image's file, whatever the host runs
    absolute: list[Any] = [{"etc/os-release": Symlink("/../../../../etc/hostname")}]
    assert read_inventory(write_oci_layout(tmp_path / "abs", absolute)).os_id == "unknown"


def test_nothing_is_written_outside_a_temporary_folder(tmp_path: Path) -> None:
    escaping: list[Any] = [{"etc/os-release": OS_RELEASE, "usr/lib/evil": Symlink("/tmp")}]
    ref = write_oci_layout(tmp_path / "img", escaping)
    before = sorted(p.name for p in tmp_path.iterdir())
    read_inventory(ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("address", "allowed", "ok"),
    [
        ("93.184.216.34", (), True),
        ("127.0.0.1", (), False),
        ("10.1.2.3", (), False),
        ("192.168.0.1", (), False),
        ("169.254.169.254", (), False),
        ("::1", (), False),
        ("fe80::1", (), False),
        ("::ffff:127.0.0.1", (), False),
        ("0.0.0.0", (), False),
        ("127.0.0.1", ("127.0.0.0/8",), True),
        ("10.1.2.3", ("127.0.0.0/8",), False),
    ],
)
def test_address_allow_list(address: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert address_allowed(address, allowed) is ok
