"""Inventory: OS detection, package databases, whiteouts and layer attribution.

The package databases are the real ones in tests/fixtures (see its README).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from scanner.image import ImageError
from scanner.inventory import (
    osv_ecosystem,
    parse_apk_installed,
    parse_dpkg_status,
    parse_os_release,
    read_inventory,
)
from tests.imagebuild import (
    LayerSpec,
    Symlink,
    oci_blob,
    sha256,
    write_docker_archive,
    write_oci_layout,
)

FIXTURES = Path(__file__).parent / "fixtures"
DEBIAN_OS_RELEASE = (FIXTURES / "dpkg" / "os-release").read_bytes()
STATUS_VULNERABLE = (FIXTURES / "dpkg" / "status-vulnerable").read_bytes()
STATUS_FIXED = (FIXTURES / "dpkg" / "status-fixed").read_bytes()
ALPINE_OS_RELEASE = (FIXTURES / "apk" / "os-release").read_bytes()
APK_INSTALLED = (FIXTURES / "apk" / "installed").read_bytes()

# As in Debian images: /etc/os-release is a relative symlink into /usr/lib.
DEBIAN_BASE: LayerSpec = {
    "usr/lib/os-release": DEBIAN_OS_RELEASE,
    "etc/os-release": Symlink("../usr/lib/os-release"),
}


def versions(ref: str) -> dict[str, tuple[str, int]]:
    return {c.name: (c.version, c.layer_index) for c in read_inventory(ref).components}


def test_debian_image_inventory(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "img", [DEBIAN_BASE, {"var/lib/dpkg/status": STATUS_VULNERABLE}]
    )

    inventory = read_inventory(ref)

    assert (inventory.os_id, inventory.os_version, inventory.ecosystem) == (
        "debian",
        "12",
        "Debian:12",
    )
    assert inventory.ref == ref
    assert [c.name for c in inventory.components] == [
        "base-files",
        "ca-certificates",
        "libc6",
        "libssl3",
        "openssl",
        "zlib1g",
    ]
    libssl = next(c for c in inventory.components if c.name == "libssl3")
    assert libssl.version == "3.0.17-1~deb12u2"
    assert libssl.source_name == "openssl"
    assert libssl.ecosystem == "Debian:12"
    assert libssl.purl == "pkg:deb/debian/libssl3@3.0.17-1~deb12u2?distro=debian-12"
    assert libssl.layer_index == 1
    assert libssl.layer_digest == inventory.layers[1].digest
    zlib = next(c for c in inventory.components if c.name == "zlib1g")
    assert (zlib.version, zlib.source_name) == ("1:1.2.13.dfsg-1+deb12u1", "zlib")
    assert next(c for c in inventory.components if c.name == "openssl").source_name is None
    assert inventory.config["architecture"] == "amd64"


def test_layer_attribution_follows_upgrades(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "img",
        [
            DEBIAN_BASE,
            {"var/lib/dpkg/status": STATUS_VULNERABLE},
            {"etc/motd": b"unrelated layer\n"},
            {"var/lib/dpkg/status": STATUS_FIXED},  # apt-get upgrade of openssl
        ],
    )
    found = versions(ref)
    assert found["libssl3"] == ("3.0.22-1~deb12u2", 3)
    assert found["openssl"] == ("3.0.22-1~deb12u2", 3)
    # Rewritten database, same entry: the package still comes from layer 1.
    assert found["libc6"] == ("2.36-9+deb12u14", 1)
    assert found["base-files"] == ("12.4+deb12u15", 1)


def test_deleted_package_database_leaves_no_components(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "img",
        [DEBIAN_BASE, {"var/lib/dpkg/status": STATUS_VULNERABLE}, {"var/lib/dpkg/status": None}],
    )
    inventory = read_inventory(ref)
    assert inventory.components == []
    assert inventory.ecosystem == "Debian:12"


def test_whiteout_of_a_parent_directory_hides_the_database(tmp_path: Path) -> None:
    ref = write_docker_archive(
        tmp_path / "img.tar",
        [DEBIAN_BASE, {"var/lib/dpkg/status": STATUS_VULNERABLE}, {"var/lib/dpkg": None}],
    )
    assert read_inventory(ref).components == []


def test_opaque_directory_drops_lower_content_but_keeps_its_own(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "img",
        [
            DEBIAN_BASE,
            {"var/lib/dpkg/status": STATUS_VULNERABLE},
            {"var/lib/dpkg/.wh..wh..opq": b"", "var/lib/dpkg/status": STATUS_FIXED},
        ],
    )
    found = versions(ref)
    assert found["libssl3"] == ("3.0.22-1~deb12u2", 2)
    # The opaque layer rewrote the database; entries it did not change keep their layer.
    assert found["libc6"] == ("2.36-9+deb12u14", 1)

    emptied = write_oci_layout(
        tmp_path / "img2",
        [DEBIAN_BASE, {"var/lib/dpkg/status": STATUS_VULNERABLE}, {"var/lib/.wh..wh..opq": b""}],
    )
    assert read_inventory(emptied).components == []


def test_package_reinstalled_after_removal_belongs_to_the_later_layer(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "img",
        [
            DEBIAN_BASE,
            {"var/lib/dpkg/status": STATUS_VULNERABLE},
            {"var/lib/dpkg/status": None},
            {"var/lib/dpkg/status": STATUS_VULNERABLE},
        ],
    )
    assert versions(ref)["libssl3"] == ("3.0.17-1~deb12u2", 3)


def test_distroless_status_d(tmp_path: Path) -> None:
    layer: LayerSpec = {
        f"var/lib/dpkg/status.d/{p.name}": p.read_bytes()
        for p in sorted((FIXTURES / "dpkg" / "status.d").iterdir())
    }
    layer["var/lib/dpkg/status.d/libssl3.md5sums"] = (
        b"0123abcd  usr/lib/x86_64-linux-gnu/libssl.so.3\n"
    )
    ref = write_oci_layout(tmp_path / "img", [DEBIAN_BASE, layer])
    inventory = read_inventory(ref)
    assert [(c.name, c.version, c.source_name) for c in inventory.components] == [
        ("libssl3", "3.0.17-1~deb12u2", "openssl"),
        ("openssl", "3.0.17-1~deb12u2", None),
    ]


def test_alpine_image_inventory(tmp_path: Path) -> None:
    ref = write_docker_archive(
        tmp_path / "alpine.tar",
        [{"etc/os-release": ALPINE_OS_RELEASE}, {"lib/apk/db/installed": APK_INSTALLED}],
        repo_tag="acme/alpine:3.14",
    )
    inventory = read_inventory(ref)
    assert (inventory.os_id, inventory.os_version, inventory.ecosystem) == (
        "alpine",
        "3.14.1",
        "Alpine:v3.14",
    )
    by_name = {c.name: c for c in inventory.components}
    assert len(by_name) == 10
    libssl = by_name["libssl1.1"]
    assert (libssl.version, libssl.source_name, libssl.layer_index) == ("1.1.1k-r0", "openssl", 1)
    assert libssl.purl == "pkg:apk/alpine/libssl1.1@1.1.1k-r0?distro=alpine-3.14.1"
    assert by_name["ssl_client"].source_name == "busybox"
    assert by_name["musl"].source_name is None


def test_image_without_os_information(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", [{"app/server": b"\x7fELF..."}])
    inventory = read_inventory(ref)
    assert (inventory.os_id, inventory.ecosystem, inventory.components) == ("unknown", "", [])


def _raw_layer_image(tmp_path: Path, names: list[str]) -> str:
    """A valid image whose single layer holds members with exactly these names."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 3
            archive.addfile(info, io.BytesIO(b"x=1"))
    tar_bytes = buffer.getvalue()
    ref = write_oci_layout(tmp_path / "img", [{"placeholder": b""}], gzip_layers=False)
    root = tmp_path / "img"
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads(oci_blob(ref, index["manifests"][0]["digest"]).read_bytes())
    config = json.loads(oci_blob(ref, manifest["config"]["digest"]).read_bytes())
    oci_blob(ref, sha256(tar_bytes)).write_bytes(tar_bytes)
    config["rootfs"]["diff_ids"] = [sha256(tar_bytes)]
    manifest["layers"][0].update(digest=sha256(tar_bytes), size=len(tar_bytes))
    config_bytes = json.dumps(config).encode()
    oci_blob(ref, sha256(config_bytes)).write_bytes(config_bytes)
    manifest["config"].update(digest=sha256(config_bytes), size=len(config_bytes))
    manifest_bytes = json.dumps(manifest).encode()
    oci_blob(ref, sha256(manifest_bytes)).write_bytes(manifest_bytes)
    index["manifests"][0].update(digest=sha256(manifest_bytes), size=len(manifest_bytes))
    (root / "index.json").write_text(json.dumps(index))
    return ref


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../etc/os-release", "escapes the image root"),
        ("usr/../../etc/shadow", "escapes the image root"),
        ("/etc/os-release", "has an absolute path"),
    ],
)
def test_path_traversal_is_rejected(tmp_path: Path, name: str, message: str) -> None:
    ref = _raw_layer_image(tmp_path, ["etc/hostname", name])
    with pytest.raises(ImageError, match=f"layer 0: member '{name}' {message}"):
        read_inventory(ref)


def test_harmless_dot_segments_are_accepted(tmp_path: Path) -> None:
    ref = _raw_layer_image(tmp_path, ["./etc/./os-release", "usr/lib/../lib/x"])
    assert read_inventory(ref).os_id == "unknown"  # "x=1" has no ID; no error either


def test_dpkg_status_keeps_only_installed_packages() -> None:
    stanza = STATUS_VULNERABLE.decode().split("\n\n")[3]  # the real libssl3 stanza
    assert stanza.startswith("Package: libssl3\nStatus: install ok installed\n")
    variants = {
        "install ok installed": True,
        "hold ok installed": True,
        "deinstall ok config-files": False,
        "install ok half-configured": False,
        "install ok unpacked": False,
        "purge ok not-installed": False,
    }
    for status, kept in variants.items():
        text = stanza.replace("install ok installed", status)
        assert bool(parse_dpkg_status(text)) is kept, status
    assert parse_dpkg_status(stanza.replace("Status: install ok installed\n", "")) == []
    entry = parse_dpkg_status(stanza.replace("Source: openssl", "Source: openssl (3.0.17-1)"))[0]
    assert (entry.name, entry.version, entry.source_name) == (
        "libssl3",
        "3.0.17-1~deb12u2",
        "openssl",
    )


def test_apk_database_parser_reads_every_stanza() -> None:
    entries = parse_apk_installed(APK_INSTALLED.decode())
    assert [e.name for e in entries][:3] == ["musl", "libcrypto1.1", "libssl1.1"]
    assert {e.name: e.source_name for e in entries}["libcrypto1.1"] == "openssl"


def test_os_release_and_ecosystems() -> None:
    fields = parse_os_release(DEBIAN_OS_RELEASE.decode())
    assert fields["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert fields["VERSION_ID"] == "12"
    assert parse_os_release("# comment\nNAME='Alpine Linux'\nBROKEN\n") == {"NAME": "Alpine Linux"}
    assert osv_ecosystem("debian", "12") == "Debian:12"
    assert osv_ecosystem("debian", "") == "Debian"
    assert osv_ecosystem("alpine", "3.19.1") == "Alpine:v3.19"
    assert osv_ecosystem("ubuntu", "22.04") == "Ubuntu:22.04"
    assert osv_ecosystem("fedora", "40") == ""


def test_gzip_and_plain_layers_give_the_same_inventory(tmp_path: Path) -> None:
    layers: list[LayerSpec] = [DEBIAN_BASE, {"var/lib/dpkg/status": STATUS_FIXED}]
    gz = read_inventory(write_oci_layout(tmp_path / "gz", layers, gzip_layers=True))
    plain = read_inventory(write_oci_layout(tmp_path / "plain", layers, gzip_layers=False))
    assert [(c.name, c.version) for c in gz.components] == [
        (c.name, c.version) for c in plain.components
    ]
    assert gz.digest != plain.digest
    assert (
        hashlib.sha256(
            gzip.decompress(oci_blob(gz.ref, gz.layers[1].digest).read_bytes())
        ).hexdigest()
        == plain.layers[1].digest.split(":")[1]
    )
