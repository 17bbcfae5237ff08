"""Registry images: a real docker-registry (open, htpasswd, token), and hostile registries."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scanner.image import ImageError, open_image
from scanner.inventory import read_inventory
from scanner.limits import Limits, ScanOptions
from scanner.registry import RegistryClient, list_platforms, parse_docker_ref
from tests.imagebuild import Registry, oci_blob, write_oci_index, write_oci_layout

needs_registry = pytest.mark.skipif(
    shutil.which("docker-registry") is None or shutil.which("skopeo") is None,
    reason="docker-registry and skopeo are installed by scripts/test.sh",
)

OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
FIXTURES = Path(__file__).parent / "fixtures"
LAYERS: list[Any] = [
    {"etc/os-release": OS_RELEASE},
    {"var/lib/dpkg/status": (FIXTURES / "dpkg" / "status-vulnerable").read_bytes()},
]


def loopback_options(host: str, **changes: Any) -> ScanOptions:
    base: dict[str, Any] = {"plain_http": frozenset({host}), "allowed_networks": ("127.0.0.0/8",)}
    base.update(changes)
    return ScanOptions(**base)


def packages(ref: str, options: ScanOptions) -> dict[str, str]:
    return {c.name: c.version for c in read_inventory(ref, options).components}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_oci_layout(tmp_path_factory.mktemp("src") / "img", LAYERS)


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    registry = Registry(tmp_path_factory.mktemp("registry"))
    yield registry
    registry.close()


def test_references_are_parsed_like_skopeo() -> None:
    assert parse_docker_ref("docker://127.0.0.1:5000/acme/db:1.0").reference == "1.0"
    hub = parse_docker_ref("docker://debian:12")
    assert (hub.host, hub.repository, hub.tag) == ("registry-1.docker.io", "library/debian", "12")
    digest = "sha256:" + "a" * 64
    pinned = parse_docker_ref(f"docker://reg.example:443/acme/db:1.0@{digest}")
    assert pinned.reference == digest and pinned.tag == "1.0"
    assert parse_docker_ref("docker://localhost/x").reference == "latest"


@needs_registry
def test_image_pulled_from_registry_matches_the_local_one(
    open_registry: Registry, source: str
) -> None:
    ref = open_registry.push(source, "acme/db:1.0")
    options = loopback_options(open_registry.host)
    local = read_inventory(source)
    remote = read_inventory(ref, options)
    assert remote.digest == local.digest  # skopeo kept the OCI manifest byte for byte
    assert [(c.name, c.version, c.layer_index) for c in remote.components] == [
        (c.name, c.version, c.layer_index) for c in local.components
    ]
    assert remote.os_name == "Debian GNU/Linux 12 (bookworm)"
    by_digest = f"docker://{open_registry.host}/acme/db@{remote.digest}"
    assert read_inventory(by_digest, options).digest == remote.digest
    with pytest.raises(ImageError, match="not found"):
        open_image(f"docker://{open_registry.host}/acme/db:9.9", options)


@needs_registry
@pytest.mark.parametrize(
    "flags",
    [
        ["--dest-compress-format", "zstd", "--dest-compress"],
        ["--format", "v2s2"],
    ],
    ids=["zstd", "docker-v2s2"],
)
def test_zstd_and_docker_media_types(
    open_registry: Registry, source: str, flags: list[str], tmp_path: Path
) -> None:
    if "zstd" in flags:  # converted locally first: a push would reuse the gzip blobs
        converted = f"oci:{tmp_path / 'converted'}:1.0"
        subprocess.run(["skopeo", "copy", "-q", *flags, source, converted], check=True, timeout=60)
        ref = open_registry.push(converted, "acme/zstd:1.0")
    else:
        ref = open_registry.push(source, "acme/v2s2:1.0", *flags)
    options = loopback_options(open_registry.host)
    image = open_image(ref, options)
    assert packages(ref, options) == packages(source, ScanOptions())
    assert image.digest != open_image(source).digest  # converted, and verified as such
    client = RegistryClient(parse_docker_ref(ref), options)
    manifest = json.loads(client.manifest(image.digest)[2])
    client.close()
    media_types = {layer["mediaType"] for layer in manifest["layers"]}
    assert media_types == (
        {"application/vnd.oci.image.layer.v1.tar+zstd"}
        if "zstd" in flags
        else {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    )


@needs_registry
def test_index_picks_amd64_or_the_requested_platform(
    open_registry: Registry, tmp_path: Path
) -> None:
    arm_layers: list[Any] = [{"etc/os-release": b"ID=alpine\nVERSION_ID=3.14.1\n"}]
    multi = write_oci_index(
        tmp_path / "multi", {"linux/arm64": arm_layers, "linux/amd64": LAYERS}, "m"
    )
    ref = open_registry.push(multi, "acme/multi:1.0", "--all")
    options = loopback_options(open_registry.host)
    assert read_inventory(ref, options).os_id == "debian"
    arm = loopback_options(open_registry.host, platform="linux/arm64")
    assert read_inventory(ref, arm).os_id == "alpine"
    assert sorted(list_platforms(ref, options)) == ["linux/amd64", "linux/arm64"]
    with pytest.raises(
        ImageError, match=r"no linux/s390x image \(platforms: linux/amd64, linux/arm64\)"
    ):
        open_image(ref, loopback_options(open_registry.host, platform="linux/s390x"))


@needs_registry
def test_loopback_is_refused_unless_allowed(open_registry: Registry, source: str) -> None:
    ref = open_registry.push(source, "acme/db:1.0")
    closed = ScanOptions(plain_http=frozenset({open_registry.host}))
    with pytest.raises(
        ImageError, match=r"refusing to connect to 127\.0\.0\.1 .*scanner_allowed_networks"
    ):
        open_image(ref, closed)


@needs_registry
def test_basic_auth(tmp_path: Path, source: str) -> None:
    registry = Registry(tmp_path / "basic", auth="basic")
    try:
        ref = registry.push(source, "private/db:1.0")
        anonymous = loopback_options(registry.host)
        with pytest.raises(ImageError, match="requires credentials"):
            open_image(ref, anonymous)
        wrong = loopback_options(registry.host, credentials={registry.host: "publisher:nope"})
        with pytest.raises(ImageError, match="denied access") as caught:
            open_image(ref, wrong)
        assert "nope" not in str(caught.value)
        right = loopback_options(
            registry.host, credentials={registry.host: f"{Registry.USER}:{Registry.PASSWORD}"}
        )
        assert "libssl3" in packages(ref, right)
        assert Registry.PASSWORD not in repr(right)
    finally:
        registry.close()


@needs_registry
def test_bearer_token_auth(tmp_path: Path, source: str) -> None:
    registry = Registry(tmp_path / "token", auth="token")
    assert registry.token_service is not None
    try:
        ref = registry.push(source, "private/db:1.0")
        anonymous = loopback_options(registry.host)
        with pytest.raises(ImageError, match=r"refused a pull token \(HTTP 401\)"):
            open_image(ref, anonymous)
        right = loopback_options(
            registry.host, credentials={registry.host: f"{Registry.USER}:{Registry.PASSWORD}"}
        )
        seen = len(registry.token_service.requests)
        assert "libssl3" in packages(ref, right)
        # One token for the whole pull: manifest, config and every layer.
        assert len(registry.token_service.requests) == seen + 1
    finally:
        registry.close()


# --- hostile registries ------------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    """A test server that does not print the disconnects the scanner makes on purpose
    (it hangs up on a wrong digest, a timeout, an oversized body)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Hostile:
    """A registry that serves a real OCI layout, except where ``behave`` says otherwise.

    ``behave(path, handler)`` returns True when it answered the request itself.
    """

    def __init__(self, layout_ref: str, behave: Callable[[str, Any], bool]) -> None:
        self.root = Path(layout_ref[len("oci:") :].split(":", 1)[0])
        index = json.loads((self.root / "index.json").read_text())
        self.manifest_digest = index["manifests"][0]["digest"]
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                if behave(self.path, self):
                    return
                kind, _, name = self.path.rpartition("/")
                if kind.endswith("/manifests"):
                    digest = hostile.manifest_digest if not name.startswith("sha256:") else name
                    self.reply(
                        oci_blob(layout_ref, digest).read_bytes(),
                        "application/vnd.oci.image.manifest.v1+json",
                        {"Docker-Content-Digest": digest},
                    )
                elif kind.endswith("/blobs"):
                    self.reply(oci_blob(layout_ref, name).read_bytes(), "application/octet-stream")
                else:
                    self.reply(b"{}", "application/json")

            def reply(
                self, body: bytes, content_type: str, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.ref = f"docker://{self.host}/acme/db:1.0"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(source: str) -> Iterator[Callable[[Callable[[str, Any], bool]], Hostile]]:
    servers: list[Hostile] = []

    def make(behave: Callable[[str, Any], bool]) -> Hostile:
        servers.append(Hostile(source, behave))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_the_hostile_fixture_serves_a_good_image_by_default(hostile: Any, source: str) -> None:
    server = hostile(lambda path, handler: False)
    assert packages(server.ref, loopback_options(server.host)) == packages(source, ScanOptions())


def test_wrong_manifest_digest_is_refused(hostile: Any) -> None:
    def lie(path: str, handler: Any) -> bool:
        if "/manifests/" in path:
            handler.reply(b'{"schemaVersion": 2}', "application/vnd.oci.image.manifest.v1+json",
                          {"Docker-Content-Digest": "sha256:" + "0" * 64})  # fmt: skip
            return True
        return False

    server = hostile(lie)
    with pytest.raises(ImageError, match="manifest 1.0 has the wrong digest"):
        open_image(server.ref, loopback_options(server.host))


def test_wrong_layer_digest_is_refused(hostile: Any, source: str) -> None:
    index = json.loads((Path(source[4:].rsplit(":", 1)[0]) / "index.json").read_text())
    manifest = json.loads(oci_blob(source, index["manifests"][0]["digest"]).read_bytes())
    layer = manifest["layers"][1]["digest"]
    first = manifest["layers"][0]["digest"]

    def swap(path: str, handler: Any) -> bool:
        if path.endswith(layer):  # another layer's (valid) bytes under this digest
            handler.reply(oci_blob(source, first).read_bytes(), "application/octet-stream")
            return True
        return False

    server = hostile(swap)
    with pytest.raises(ImageError, match="layer 1 .* has the wrong digest"):
        read_inventory(server.ref, loopback_options(server.host))


def test_truncated_layer_is_refused(hostile: Any, source: str) -> None:
    def truncate(path: str, handler: Any) -> bool:
        if "/blobs/" in path and not path.endswith(handler.server_manifest_config):
            data = oci_blob(source, path.rsplit("/", 1)[1]).read_bytes()
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return True
        return False

    index = json.loads((Path(source[4:].rsplit(":", 1)[0]) / "index.json").read_text())
    config = json.loads(oci_blob(source, index["manifests"][0]["digest"]).read_bytes())["config"]
    server = hostile(truncate)
    server.server.RequestHandlerClass.server_manifest_config = config["digest"]  # type: ignore[attr-defined]
    with pytest.raises(ImageError, match="cut short|not a readable tar|wrong digest"):
        read_inventory(server.ref, loopback_options(server.host))


def test_oversized_manifest_is_refused(hostile: Any) -> None:
    def huge(path: str, handler: Any) -> bool:
        if "/manifests/" in path:
            body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
            handler.reply(body, "application/vnd.oci.image.manifest.v1+json")
            return True
        return False

    server = hostile(huge)
    small = loopback_options(server.host, limits=Limits(max_manifest_bytes=1024 * 1024))
    with pytest.raises(ImageError, match=r"manifest 1\.0 is too large"):
        open_image(server.ref, small)


def test_hanging_registry_times_out(hostile: Any) -> None:
    release = threading.Event()

    def hang(path: str, handler: Any) -> bool:
        release.wait(10)
        return False

    server = hostile(hang)
    quick = loopback_options(server.host, limits=Limits(read_timeout=0.5, connect_timeout=0.5))
    started = time.monotonic()
    try:
        with pytest.raises(ImageError, match=f"registry {server.host} timed out"):
            open_image(server.ref, quick)
    finally:
        release.set()
    assert time.monotonic() - started < 5


def test_redirect_to_a_private_address_is_refused(hostile: Any) -> None:
    def redirect(path: str, handler: Any) -> bool:
        if "/blobs/" in path:
            handler.send_response(307)
            handler.send_header("Location", "http://10.0.0.1/steal" + path)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        return False

    server = hostile(redirect)
    # Loopback is allowed for the registry itself; 10/8 was never allowed.
    with pytest.raises(ImageError, match=r"refusing to connect to 10\.0\.0\.1"):
        open_image(server.ref, loopback_options(server.host))


def test_link_local_metadata_address_is_refused() -> None:
    with pytest.raises(ImageError, match=r"refusing to connect to 169\.254\.169\.254"):
        open_image("docker://169.254.169.254/acme/db:1.0", ScanOptions())


def test_blob_longer_than_declared_is_refused(hostile: Any, source: str) -> None:
    def pad(path: str, handler: Any) -> bool:
        name = path.rsplit("/", 1)[1]
        if "/blobs/" in path:
            data = oci_blob(source, name).read_bytes()
            manifest = json.loads(oci_blob(source, hostile_manifest[0]).read_bytes())
            if any(layer["digest"] == name for layer in manifest["layers"]):
                handler.reply(data + b"\0" * 2_000_000, "application/octet-stream")
                return True
        return False

    index = json.loads((Path(source[4:].rsplit(":", 1)[0]) / "index.json").read_text())
    hostile_manifest = [index["manifests"][0]["digest"]]
    server = hostile(pad)
    with pytest.raises(ImageError, match="larger than the .* bytes its manifest declares"):
        read_inventory(server.ref, loopback_options(server.host))


def test_unreachable_registry_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host = f"127.0.0.1:{port}"
    with pytest.raises(ImageError, match=f"cannot reach registry {host}") as caught:
        open_image(f"docker://{host}/acme/db:1.0", loopback_options(host))
    assert "\n" not in str(caught.value)
