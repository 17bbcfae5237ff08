"""Python and npm packages in images: real metadata files, purls, layers, whiteouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.advisory import Advisory
from scanner.inventory import parse_python_metadata, read_inventory
from scanner.matching import match
from scanner.osv import read_records
from tests.imagebuild import write_oci_layout

FIXTURES = Path(__file__).parent / "fixtures"
SITE = "usr/local/lib/python3.11/site-packages"
JINJA = (FIXTURES / "python" / "jinja2-3.1.6.METADATA").read_bytes()
HTTPX = (FIXTURES / "python" / "httpx-0.29.0.METADATA").read_bytes()
PYJWT = (FIXTURES / "python" / "PyJWT-2.6.0.egg-info.PKG-INFO").read_bytes()
NPM = (FIXTURES / "npm" / "npm.package.json").read_bytes()
COREPACK = (FIXTURES / "npm" / "corepack.package.json").read_bytes()


def components(ref: str) -> dict[str, tuple[str, str, int, str | None]]:
    return {
        c.purl: (c.name, c.ecosystem, c.layer_index, c.location)
        for c in read_inventory(ref).components
    }


def test_python_and_npm_packages_with_purls_and_layers(tmp_path: Path) -> None:
    layers: list[Any] = [
        {"etc/os-release": b'ID=debian\nVERSION_ID="12"\n'},
        {
            f"{SITE}/jinja2-3.1.6.dist-info/METADATA": JINJA + b"\nLong description\n\nName: x",
            f"{SITE}/httpx-0.29.0.dist-info/METADATA": HTTPX,
            "usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO": PYJWT,
        },
        {
            "usr/lib/node_modules/npm/package.json": NPM,
            "usr/lib/node_modules/@yarnpkg/corepack/package.json": COREPACK,
            # Not installed packages: files inside a package, test fixtures.
            "usr/lib/node_modules/npm/lib/package.json": b'{"name": "inner", "version": "1"}',
            "srv/app/package.json": b'{"name": "app", "version": "1.0.0"}',
        },
    ]
    found = components(write_oci_layout(tmp_path / "img", layers))
    assert found == {
        "pkg:pypi/jinja2@3.1.6": (
            "jinja2", "PyPI", 1, f"/{SITE}/jinja2-3.1.6.dist-info/METADATA",
        ),
        "pkg:pypi/httpx@0.29.0": ("httpx", "PyPI", 1, f"/{SITE}/httpx-0.29.0.dist-info/METADATA"),
        "pkg:pypi/pyjwt@2.6.0": (
            "pyjwt", "PyPI", 1, "/usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO",
        ),
        "pkg:npm/npm@11.19.1": ("npm", "npm", 2, "/usr/lib/node_modules/npm/package.json"),
        "pkg:npm/corepack@0.34.6": (
            "corepack", "npm", 2, "/usr/lib/node_modules/@yarnpkg/corepack/package.json",
        ),
    }  # fmt: skip


def test_removed_and_upgraded_language_packages(tmp_path: Path) -> None:
    old = JINJA.replace(b"Version: 3.1.6", b"Version: 3.1.5")
    layers: list[Any] = [
        {
            f"{SITE}/jinja2-3.1.5.dist-info/METADATA": old,
            f"{SITE}/httpx-0.29.0.dist-info/METADATA": HTTPX,
        },
        {f"{SITE}/jinja2-3.1.5.dist-info": None, f"{SITE}/jinja2-3.1.6.dist-info/METADATA": JINJA},
        {f"{SITE}/.wh..wh..opq": b"", f"{SITE}/jinja2-3.1.6.dist-info/METADATA": JINJA},
        {"usr/lib/node_modules/npm/package.json": NPM},
        {"usr/lib/node_modules": b"now a file"},  # a file replaces the whole folder
    ]
    found = components(write_oci_layout(tmp_path / "img", layers))
    # httpx went with the opaque directory; jinja2 3.1.6 was rewritten in layer 2 but
    # the same version was already there since layer 1; npm went with node_modules.
    assert {purl: v[2] for purl, v in found.items()} == {"pkg:pypi/jinja2@3.1.6": 1}


def test_metadata_headers_only() -> None:
    entry = parse_python_metadata("Metadata-Version: 2.1\nName: Zope.Interface\nVersion: 6.0\n")
    assert entry is not None and (entry.name, entry.version) == ("zope-interface", "6.0")
    assert parse_python_metadata("Metadata-Version: 2.1\nName: x\n") is None


def test_pypi_advisory_matches_with_pep440(tmp_path: Path) -> None:
    advisories = [r for r in read_records(FIXTURES / "osv" / "pypi") if isinstance(r, Advisory)]
    old = JINJA.replace(b"Version: 3.1.6", b"Version: 3.1.6rc1")
    vulnerable = read_inventory(
        write_oci_layout(tmp_path / "a", [{f"{SITE}/jinja2-3.1.6rc1.dist-info/METADATA": old}])
    )
    findings = match(vulnerable.components, advisories)
    assert [(f.cve_id, f.package, f.fixed_version, f.severity.value) for f in findings] == [
        ("CVE-2025-27516", "jinja2", "3.1.6", "unscored")
    ]
    fixed = read_inventory(
        write_oci_layout(tmp_path / "b", [{f"{SITE}/jinja2-3.1.6.dist-info/METADATA": JINJA}])
    )
    assert match(fixed.components, advisories) == []
