"""Regenerate the example image ``examples/images/acme-db`` (an OCI image layout).

Tag 1.0 carries the real Debian 12 package database of an OpenSSL 3.0.17 build
(vulnerable to CVE-2026-28388); tag 1.1 the same image with OpenSSL 3.0.22.
Run from the repository root: ``python examples/make_images.py``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.imagebuild import LayerSpec, write_oci_layout  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "dpkg"
TARGET = ROOT / "examples" / "images" / "acme-db"
APP: LayerSpec = {"opt/acme-db/bin/acme-db": b"#!/bin/sh\necho acme-db\n"}
CONFIG = {
    "User": "acme",
    "Labels": {"org.opencontainers.image.vendor": "Acme Data Systems, Inc."},
}


def base_layer(status: str) -> LayerSpec:
    return {
        "etc/os-release": (FIXTURES / "os-release").read_bytes(),
        "var/lib/dpkg/status": (FIXTURES / status).read_bytes(),
    }


def main() -> None:
    shutil.rmtree(TARGET, ignore_errors=True)
    for tag, status in (("1.0", "status-vulnerable"), ("1.1", "status-fixed")):
        ref = write_oci_layout(TARGET, [base_layer(status), APP], tag=tag, config=CONFIG)
        print(ref)


if __name__ == "__main__":
    main()
