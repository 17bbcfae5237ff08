"""The Harbor adapter API: our client against our server, over a real registry and store."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.advisory import Advisory
from persistence.store import Store
from scanner.harbor import REPORT_MIME, HarborScanner, HarborServer
from scanner.image import ImageError
from scanner.interface import BuiltinScanner
from scanner.limits import ScanOptions
from scanner.osv import read_records
from tests.imagebuild import Registry, write_oci_layout

pytestmark = pytest.mark.skipif(
    shutil.which("docker-registry") is None or shutil.which("skopeo") is None,
    reason="docker-registry and skopeo are installed by scripts/test.sh",
)

FIXTURES = Path(__file__).parent / "fixtures"
LAYERS: list[Any] = [
    {"etc/os-release": (FIXTURES / "dpkg" / "os-release").read_bytes()},
    {"var/lib/dpkg/status": (FIXTURES / "dpkg" / "status-vulnerable").read_bytes()},
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    started = Registry(tmp_path_factory.mktemp("harbor-registry"), auth="token")
    yield started
    started.close()


@pytest.fixture
async def advisories(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    records = [r for r in read_records(FIXTURES / "osv" / "debian") if isinstance(r, Advisory)]
    await store.import_advisories(records)
    yield store
    await store.close()


def options_for(registry: Registry) -> ScanOptions:
    return ScanOptions(
        plain_http=frozenset({registry.host}),
        allowed_networks=("127.0.0.0/8",),
        credentials={registry.host: f"{Registry.USER}:{Registry.PASSWORD}"},
    )


@pytest.fixture
async def server(advisories: Store, registry: Registry) -> AsyncIterator[HarborServer]:
    # The server side has no registry credentials: it must use the ones Harbor sends.
    server_options = ScanOptions(allowed_networks=("127.0.0.0/8",))
    started = HarborServer(advisories, server_options, asyncio.get_running_loop())
    started.start()
    yield started
    started.close()


async def test_client_and_server_agree_with_the_builtin_scanner(
    server: HarborServer, registry: Registry, advisories: Store, tmp_path: Path
) -> None:
    ref = registry.push(write_oci_layout(tmp_path / "img", LAYERS), "acme/db:1.0")
    options = options_for(registry)
    client = HarborScanner(server.url, options, poll_seconds=0.05)

    meta = await client.metadata()
    assert meta["scanner"]["name"] == "storemod"
    assert REPORT_MIME in meta["capabilities"][0]["produces_mime_types"]

    remote = await client.scan(ref)
    local = await BuiltinScanner(advisories, options).scan(ref)
    assert remote.digest == local.digest
    assert remote.scanner.startswith("storemod ")
    assert remote.findings == local.findings  # every field survives the protocol
    assert {(f.cve_id, f.package, f.severity.value) for f in remote.findings} == {
        ("CVE-2026-28388", "libssl3", "critical"),
        ("CVE-2026-28388", "openssl", "critical"),
    }
    assert {f.layer_index for f in remote.findings} == {1}


async def test_server_reports_unreadable_images_and_bad_requests(
    server: HarborServer, registry: Registry
) -> None:
    missing = "sha256:" + "0" * 64
    request = {
        "registry": {"url": f"http://{registry.host}", "authorization": ""},
        "artifact": {"repository": "acme/db", "digest": missing, "mime_type": None},
    }
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post("/api/v1/scan", content=json.dumps(request))
        assert answer.status_code == 202
        scan_id = answer.json()["id"]
        for _ in range(200):
            report = await http.get(
                f"/api/v1/scan/{scan_id}/report", headers={"Accept": REPORT_MIME}
            )
            if report.status_code != 302:
                break
            assert report.headers["Refresh-After"] == "1"
            await asyncio.sleep(0.05)
        assert report.status_code == 500
        # No credentials were sent, so the token service refused (nothing leaks either way).
        assert "pull token" in report.json()["error"]["message"]

        bad = dict(request, artifact={"repository": "acme/db"})
        answer = await http.post("/api/v1/scan", content=json.dumps(bad))
        assert answer.status_code == 422
        assert answer.json()["error"]["message"] == "artifact.digest is required"
        unknown = await http.get("/api/v1/scan/nope/report")
        assert unknown.status_code == 404
        wrong_type = await http.get(
            f"/api/v1/scan/{scan_id}/report", headers={"Accept": "text/html"}
        )
        assert wrong_type.status_code == 400


async def test_client_reports_a_missing_digest_as_an_image_error(
    server: HarborServer, registry: Registry
) -> None:
    client = HarborScanner(server.url, options_for(registry), poll_seconds=0.05)
    with pytest.raises(ImageError, match="not found"):
        await client.scan(f"docker://{registry.host}/acme/db@sha256:{'1' * 64}")
    with pytest.raises(ImageError, match="only scan docker://"):
        await client.scan("oci:/tmp/x:1.0")
