"""`storemod scan`: JSON, CycloneDX and table output, clean errors; `scanner serve` exists."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from models.advisory import Advisory
from persistence.store import Store
from scanner.osv import read_records
from tests.imagebuild import write_oci_layout

ROOT = Path(__file__).resolve().parents[1]
STOREMOD = str(ROOT / ".venv" / "bin" / "storemod")
FIXTURES = Path(__file__).parent / "fixtures"
LAYERS: list[Any] = [
    {"etc/os-release": (FIXTURES / "dpkg" / "os-release").read_bytes()},
    {"var/lib/dpkg/status": (FIXTURES / "dpkg" / "status-vulnerable").read_bytes()},
]


async def prepared(tmp_path: Path) -> dict[str, str]:
    """A data folder whose store holds the Debian fixture advisories."""
    data = tmp_path / "data"
    data.mkdir()
    store = await Store.open(f"sqlite+aiosqlite:///{data / 'storemod.db'}")
    await store.import_advisories(
        r for r in read_records(FIXTURES / "osv" / "debian") if isinstance(r, Advisory)
    )
    await store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMOD_")}
    return {**env, "STOREMOD_DATA_DIR": str(data), "STOREMOD_LOG_FORMAT": "json"}


def storemod(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOREMOD, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


async def test_scan_prints_json_cyclonedx_and_table(tmp_path: Path) -> None:
    env = await prepared(tmp_path)
    ref = write_oci_layout(tmp_path / "img", LAYERS, config={"User": "1000", "Env": ["A=b"]})

    result = storemod(env, "scan", ref)  # not a terminal: JSON by default
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"]["config"]["User"] == "1000"
    assert {f["package"] for f in report["findings"]} == {"openssl", "libssl3"}
    assert {f["cve_id"] for f in report["findings"]} == {"CVE-2026-28388"}
    assert report["os"]["name"] == "Debian GNU/Linux 12 (bookworm)"

    result = storemod(env, "scan", ref, "--format", "cyclonedx")
    assert result.returncode == 0, result.stderr
    bom = json.loads(result.stdout)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    purls = {c["purl"] for c in bom["components"]}
    assert "pkg:deb/debian/libssl3@3.0.17-1~deb12u2?distro=debian-12" in purls
    (vulnerability,) = [
        v
        for v in bom["vulnerabilities"]
        if v["affects"][0]["ref"].startswith("pkg:deb/debian/openssl@")
    ]
    assert vulnerability["id"] == "CVE-2026-28388"
    assert vulnerability["ratings"][0]["score"] == 7.5
    assert vulnerability["recommendation"] == "upgrade to 3.0.19-1~deb12u2"

    result = storemod(env, "scan", ref, "--format", "table")
    assert result.returncode == 0, result.stderr
    assert "CVE-2026-28388" in result.stdout and "critical" in result.stdout
    assert "user 1000" in result.stdout


async def test_scan_errors_are_one_line(tmp_path: Path) -> None:
    env = await prepared(tmp_path)
    result = storemod(env, "scan", f"oci:{tmp_path / 'nothing'}:1.0")
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot scan oci:"), result.stderr
    assert "OCI layout not found" in result.stderr and "Traceback" not in result.stderr
    result = storemod(env, "scan", "docker://127.0.0.1:1/acme/db:1.0")
    assert result.returncode == 2 and "refusing to connect to 127.0.0.1" in result.stderr
    result = storemod(env, "scan", "x", "--format", "xml")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_scanner_serve_is_a_command() -> None:
    result = subprocess.run(
        [STOREMOD, "scanner", "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "Harbor" in result.stdout
