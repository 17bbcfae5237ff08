"""Harbor Pluggable Scanner Adapter API v1.x: a client (``HarborScanner``) and a server.

The client lets the store use any Harbor scanner adapter (Trivy, Clair, ...) through
the ``Scanner`` interface. The server (``storemod scanner serve``) offers the built-in
scanner over the same API, so each side is tested against the other.

Endpoints (all under ``/api/v1``):

- ``GET /metadata``: the scanner, the manifest types it consumes, the report types
  it produces;
- ``POST /scan``: ``{"registry": {"url", "authorization"}, "artifact": {"repository",
  "digest", "tag", "mime_type"}}``, answered ``202 {"id": ...}``;
- ``GET /scan/{id}/report`` with ``Accept: <report mime type>``: ``302`` with
  ``Refresh-After`` while the scan runs, ``200`` with the report, ``404`` for an
  unknown id, ``500 {"error": {"message"}}`` when the scan failed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from models.scan import Finding, SeverityClass
from scanner.image import MANIFEST_TYPES, ImageError
from scanner.interface import AdvisorySource, BuiltinScanner, ScannerError, ScanResult
from scanner.limits import ScanOptions
from scanner.registry import RegistryClient, parse_docker_ref
from scanner.severity import classify

__all__ = ["HarborScanner", "HarborServer", "REPORT_MIME"]

API = "/api/v1"
REPORT_MIME = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
METADATA_MIME = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUEST_MIME = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_RESPONSE_MIME = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR_MIME = "application/vnd.scanner.adapter.error+json; version=1.0"
MAX_REQUEST_BYTES = 64 * 1024
_HARBOR_CLASS = {
    "critical": SeverityClass.CRITICAL,
    "high": SeverityClass.CRITICAL,
    "medium": SeverityClass.MAJOR,
    "low": SeverityClass.MINOR,
    "negligible": SeverityClass.MINOR,
}


def harbor_severity(score: float | None) -> str:
    """NVD's names for a CVSS base score, as Harbor reports expect them."""
    if score is None or score <= 0:
        return "Unknown"
    if score >= 9.0:
        return "Critical"
    if score >= 7.0:
        return "High"
    if score >= 4.0:
        return "Medium"
    return "Low"


# --- server --------------------------------------------------------------------------


class HarborServer:
    """Serves the built-in scanner over the adapter API; scans run on ``loop``."""

    def __init__(
        self,
        advisories: AdvisorySource,
        options: ScanOptions,
        loop: asyncio.AbstractEventLoop,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.advisories = advisories
        self.options = options
        self.loop = loop
        self.jobs: dict[str, Future[ScanResult]] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        handler = _handler_for(self)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread (returns at once)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def metadata(self) -> dict[str, Any]:
        from scanner.interface import _version

        return {
            "scanner": {"name": "storemod", "vendor": "storemod", "version": _version()},
            "capabilities": [
                {
                    "consumes_mime_types": sorted(MANIFEST_TYPES),
                    "produces_mime_types": [REPORT_MIME],
                }
            ],
            "properties": {
                "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
                "harbor.scanner-adapter/vulnerability-database-source": "OSV (the store)",
            },
        }

    def submit(self, request: dict[str, Any]) -> str:
        """Start a scan for a validated request; returns its id."""
        registry, artifact = request["registry"], request["artifact"]
        url = urlsplit(registry["url"])
        ref = f"docker://{url.netloc}/{artifact['repository']}@{artifact['digest']}"
        options = replace(
            self.options,
            authorization=registry.get("authorization") or None,
            plain_http=self.options.plain_http | ({url.netloc} if url.scheme == "http" else set()),
        )
        scanner = BuiltinScanner(self.advisories, options)
        scan_id = str(uuid.uuid4())
        self.requests[scan_id] = request
        self.jobs[scan_id] = asyncio.run_coroutine_threadsafe(scanner.scan(ref), self.loop)
        return scan_id

    def report(self, scan_id: str, result: ScanResult) -> dict[str, Any]:
        request = self.requests[scan_id]
        top = max((f.cvss_score or 0.0 for f in result.findings), default=0.0)
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "artifact": request["artifact"],
            "scanner": self.metadata()["scanner"],
            "severity": harbor_severity(top) if result.findings else "None",
            "vulnerabilities": [_vulnerability(f) for f in result.findings],
        }


def _vulnerability(f: Finding) -> dict[str, Any]:
    cvss: dict[str, Any] = {}
    if f.cvss_score is not None:
        version = "v4" if (f.cvss_vector or "").startswith("CVSS:4") else "v3"
        cvss = {f"score_{version}": f.cvss_score, f"vector_{version}": f.cvss_vector}
    return {
        "id": f.cve_id,
        "package": f.package,
        "version": f.installed_version,
        "fix_version": f.fixed_version or "",
        "severity": harbor_severity(f.cvss_score),
        "description": f.summary,
        "links": list(f.references),
        "preferred_cvss": cvss,
        "vendor_attributes": {
            "storemod": {
                "advisory_id": f.advisory_id,
                "class": str(f.severity),
                "ecosystem": f.ecosystem,
                "layer_index": f.layer_index,
                "layer_digest": f.layer_digest,
            }
        },
    }


def _validate_scan_request(body: Any) -> str | None:
    """Why a scan request is unusable, or None."""
    if not isinstance(body, dict):
        return "the scan request must be a JSON object"
    registry, artifact = body.get("registry"), body.get("artifact")
    if not isinstance(registry, dict) or not isinstance(registry.get("url"), str):
        return "registry.url is required"
    if urlsplit(registry["url"]).scheme not in ("http", "https"):
        return "registry.url must be an http(s) URL"
    if not isinstance(artifact, dict):
        return "artifact is required"
    for key in ("repository", "digest"):
        if not isinstance(artifact.get(key), str) or not artifact[key]:
            return f"artifact.{key} is required"
    mime = artifact.get("mime_type")
    if mime is not None and mime not in MANIFEST_TYPES:
        return f"artifact.mime_type {mime!r} is not supported"
    try:
        parse_docker_ref(
            f"docker://{urlsplit(registry['url']).netloc}/{artifact['repository']}"
            f"@{artifact['digest']}"
        )
    except ImageError as err:
        return str(err)
    return None


def _handler_for(server: HarborServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: Any, mime: str, **headers: str) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message}}, ERROR_MIME)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if path == f"{API}/metadata":
                self._send(200, server.metadata(), METADATA_MIME)
                return
            parts = path.split("/")
            if len(parts) == 6 and path.startswith(f"{API}/scan/") and parts[5] == "report":
                self._report(parts[4])
                return
            self._error(404, f"no such endpoint {path}")

        def _report(self, scan_id: str) -> None:
            accept = self.headers.get("Accept", REPORT_MIME)
            if accept not in (REPORT_MIME, "*/*", "application/json"):
                self._error(400, f"unsupported report type {accept!r}")
                return
            job = server.jobs.get(scan_id)
            if job is None:
                self._error(404, f"no scan {scan_id}")
                return
            if not job.done():
                self._send(302, None, REPORT_MIME, Refresh_After="1")
                return
            try:
                result = job.result()
            except ImageError as err:
                self._error(500, str(err))
                return
            except Exception as err:  # the adapter reports, it does not crash
                self._error(500, f"scan failed: {type(err).__name__}: {err}")
                return
            self._send(200, server.report(scan_id, result), REPORT_MIME)

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != f"{API}/scan":
                self._error(404, f"no such endpoint {self.path}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._error(413, "scan request too large")
                return
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                self._error(400, "the scan request is not JSON")
                return
            problem = _validate_scan_request(body)
            if problem is not None:
                self._error(422, problem)
                return
            self._send(202, {"id": server.submit(body)}, SCAN_RESPONSE_MIME)

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


# --- client ---------------------------------------------------------------------------


class HarborScanner:
    """A ``Scanner`` backed by a remote Harbor scanner adapter.

    Only registry images (``docker://``) can be scanned this way: the adapter
    pulls the image itself, with the Authorization header sent here.
    """

    name = "harbor"

    def __init__(self, base_url: str, options: ScanOptions, poll_seconds: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.poll_seconds = poll_seconds

    async def metadata(self) -> dict[str, Any]:
        async with self._client() as client:
            answer = await self._call(client, "GET", f"{API}/metadata")
        return dict(answer.json())

    async def scan(self, image_ref: str) -> ScanResult:
        if not image_ref.startswith("docker://"):
            raise ImageError("a Harbor scanner adapter can only scan docker:// registry images")
        target = parse_docker_ref(image_ref)
        digest, media_type = await asyncio.to_thread(self._resolve, target)
        scheme = "http" if target.host in self.options.plain_http else "https"
        credentials = self.options.credentials.get(target.host)
        authorization = (
            "Basic " + base64.b64encode(credentials.encode()).decode() if credentials else ""
        )
        request = {
            "registry": {"url": f"{scheme}://{target.host}", "authorization": authorization},
            "artifact": {
                "repository": target.repository,
                "digest": digest,
                "tag": target.tag or "",
                "mime_type": media_type,
            },
        }
        async with self._client() as client:
            answer = await self._call(
                client,
                "POST",
                f"{API}/scan",
                content=json.dumps(request),
                headers={"Content-Type": SCAN_REQUEST_MIME, "Accept": SCAN_RESPONSE_MIME},
            )
            scan_id = answer.json().get("id")
            if not isinstance(scan_id, str):
                raise ScannerError(f"scanner adapter {self.base_url} returned no scan id")
            report = await self._wait_for_report(client, scan_id)
            meta = (await self._call(client, "GET", f"{API}/metadata")).json()
        scanner = meta.get("scanner", {}) if isinstance(meta, dict) else {}
        return ScanResult(
            ref=image_ref,
            digest=digest,
            os="",
            scanner=f"{scanner.get('name', 'harbor')} {scanner.get('version', '')}".strip(),
            findings=[_finding(v) for v in report.get("vulnerabilities") or []],
        )

    def _resolve(self, target: Any) -> tuple[str, str]:
        """The digest and media type of the platform image the adapter will scan."""
        from scanner.image import open_image

        ref = f"docker://{target.host}/{target.repository}:{target.tag or 'latest'}"
        if target.digest:
            ref = f"docker://{target.host}/{target.repository}@{target.digest}"
        image = open_image(ref, self.options)
        try:
            with RegistryClient(target, self.options) as client:
                _digest, media_type, _data = client.manifest(image.digest)
        finally:
            image.close()
        return image.digest, media_type or "application/vnd.oci.image.manifest.v1+json"

    def _client(self) -> httpx.AsyncClient:
        limits = self.options.limits
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
            follow_redirects=False,
            trust_env=False,
        )

    async def _call(self, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
        try:
            answer = await client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ScannerError(f"cannot reach scanner adapter {self.base_url}: {exc}") from None
        if answer.status_code >= 400 and answer.status_code != 500:
            raise ScannerError(
                f"scanner adapter {self.base_url} refused {method} {path}: "
                f"HTTP {answer.status_code} {_message(answer)}"
            )
        return answer

    async def _wait_for_report(self, client: httpx.AsyncClient, scan_id: str) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + self.options.limits.total_timeout
        while True:
            answer = await self._call(
                client, "GET", f"{API}/scan/{scan_id}/report", headers={"Accept": REPORT_MIME}
            )
            if answer.status_code == 200:
                return dict(answer.json())
            if answer.status_code == 500:
                # The adapter could not read the image: the publisher's problem.
                raise ImageError(_message(answer))
            if answer.status_code != 302:
                raise ScannerError(f"scanner adapter answered HTTP {answer.status_code}")
            if asyncio.get_running_loop().time() > deadline:
                raise ScannerError(f"scanner adapter {self.base_url} never finished {scan_id}")
            wait = answer.headers.get("Refresh-After", "")
            await asyncio.sleep(min(float(wait), 30.0) if wait.isdigit() else self.poll_seconds)


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]


def _finding(v: dict[str, Any]) -> Finding:
    cvss = v.get("preferred_cvss") or {}
    score = cvss.get("score_v4") or cvss.get("score_v3") or cvss.get("score_v2")
    vector = cvss.get("vector_v4") or cvss.get("vector_v3") or cvss.get("vector_v2")
    ours = (v.get("vendor_attributes") or {}).get("storemod") or {}
    if score is not None:
        severity = classify(float(score))
    else:
        severity = _HARBOR_CLASS.get(str(v.get("severity", "")).lower(), SeverityClass.UNSCORED)
    return Finding(
        advisory_id=str(ours.get("advisory_id") or v.get("id")),
        cve_id=str(v.get("id")),
        package=str(v.get("package")),
        installed_version=str(v.get("version")),
        ecosystem=str(ours.get("ecosystem") or ""),
        severity=severity,
        layer_index=int(ours.get("layer_index", -1)),
        layer_digest=str(ours.get("layer_digest") or ""),
        fixed_version=v.get("fix_version") or None,
        cvss_score=float(score) if score is not None else None,
        cvss_vector=vector,
        summary=str(v.get("description") or ""),
        references=[str(link) for link in v.get("links") or []],
    )
