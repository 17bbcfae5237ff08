"""DNS rebinding: each connection resolves once, is checked, and goes to the checked address.

A resolver the test controls answers ``registry.test``; the registry listens on
127.0.0.2 (the only network allowed) and a trap listens on 127.0.0.1, the address a
rebinding resolver switches to. No request may ever reach the trap.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scanner.image import ImageError
from scanner.inventory import read_inventory
from scanner.limits import ScanOptions
from scanner.network import AddressRefused, CheckedBackend
from tests.imagebuild import oci_blob, write_oci_layout

FIXTURES = Path(__file__).parent / "fixtures"
LAYERS: list[Any] = [
    {"etc/os-release": (FIXTURES / "dpkg" / "os-release").read_bytes()},
    {"var/lib/dpkg/status": (FIXTURES / "dpkg" / "status-vulnerable").read_bytes()},
]
NAME = "registry.test"  # not in any DNS: only the test's resolver knows it
ALLOWED = ("127.0.0.2/32",)


class Server:
    """Serves an OCI layout as a registry on ``address``; records what it was sent."""

    def __init__(
        self,
        layout_ref: str,
        address: str,
        port: int = 0,
        close_each: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        root = Path(layout_ref[len("oci:") :].split(":", 1)[0])
        manifest = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
        self.requests: list[tuple[str, str]] = []  # (Host header, path)
        self.server_names: list[str | None] = []
        seen = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                seen.requests.append((self.headers.get("Host", ""), self.path))
                kind, _, name = self.path.rpartition("/")
                digest = name if name.startswith("sha256:") else manifest
                body = oci_blob(layout_ref, digest).read_bytes() if "/v2/" in kind else b"{}"
                self.send_response(200)
                media = "application/vnd.oci.image.manifest.v1+json"
                self.send_header("Content-Type", media if kind.endswith("manifests") else "x/y")
                self.send_header("Content-Length", str(len(body)))
                if close_each:  # every request then needs a new connection, so a new lookup
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: seen.server_names.append(name)  # type: ignore[assignment,misc,return-value]
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Resolver:
    """Answers from a script: call n gets ``answers[min(n, last)]``."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_oci_layout(tmp_path_factory.mktemp("src") / "img", LAYERS)


@pytest.fixture
def servers(layout: str) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def registry_and_trap(layout: str, servers: list[Server], **kw: Any) -> tuple[Server, Server]:
    """The registry on 127.0.0.2:P and a trap on 127.0.0.1 at the same port."""
    for _attempt in range(20):
        registry = Server(layout, "127.0.0.2", **kw)
        try:
            trap = Server(layout, "127.0.0.1", registry.port)
        except OSError:  # that port is taken on 127.0.0.1: pick another
            registry.close()
            continue
        servers += [registry, trap]
        return registry, trap
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")


def packages(ref: str, options: ScanOptions) -> dict[str, str]:
    return {c.name: c.version for c in read_inventory(ref, options).components}


def test_the_checked_address_is_the_one_connected_to(layout: str, servers: list[Server]) -> None:
    registry, trap = registry_and_trap(layout, servers)
    resolver = Resolver(["127.0.0.2"])
    host = f"{NAME}:{registry.port}"
    options = ScanOptions(plain_http=frozenset({host}), allowed_networks=ALLOWED, resolver=resolver)
    assert packages(f"docker://{host}/acme/db:1.0", options) == packages(layout, ScanOptions())
    # The name resolves nowhere else: the connection used the resolver's checked answer,
    # and the request still names the registry.
    assert resolver.calls and all(call == (NAME, registry.port) for call in resolver.calls)
    assert {h for h, _ in registry.requests} == {host}
    assert trap.requests == []


def test_a_name_rebound_between_connections_is_refused(layout: str, servers: list[Server]) -> None:
    registry, trap = registry_and_trap(layout, servers, close_each=True)
    resolver = Resolver(["127.0.0.2"], ["127.0.0.1"])  # rebinds after the first answer
    host = f"{NAME}:{registry.port}"
    options = ScanOptions(plain_http=frozenset({host}), allowed_networks=ALLOWED, resolver=resolver)
    with pytest.raises(AddressRefused, match=rf"refusing to connect to {NAME} \(127\.0\.0\.1\)"):
        read_inventory(f"docker://{host}/acme/db:1.0", options)
    assert len(resolver.calls) == 2  # one lookup per connection, none reused after a check
    assert [path for _, path in registry.requests] == ["/v2/acme/db/manifests/1.0"]
    assert trap.requests == []


def test_one_forbidden_address_in_an_answer_refuses_the_name(
    layout: str, servers: list[Server]
) -> None:
    registry, trap = registry_and_trap(layout, servers)
    resolver = Resolver(["127.0.0.2", "127.0.0.1"])
    host = f"{NAME}:{registry.port}"
    options = ScanOptions(plain_http=frozenset({host}), allowed_networks=ALLOWED, resolver=resolver)
    with pytest.raises(AddressRefused, match=r"\(127\.0\.0\.1\)"):
        read_inventory(f"docker://{host}/acme/db:1.0", options)
    assert registry.requests == [] and trap.requests == []


def test_backend_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = CheckedBackend(
        Resolver(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]), ()
    )
    assert backend.addresses("example.test", 443) == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]
    never = Resolver()  # an IP literal is checked as is, without a lookup
    with pytest.raises(AddressRefused, match="169.254.169.254"):
        CheckedBackend(never, ()).addresses("169.254.169.254", 80)
    assert never.calls == []
    for answer, message in [([], "no address"), (["evil.test"], "not an IP address")]:
        with pytest.raises(ImageError, match=message):
            CheckedBackend(Resolver(answer), ()).addresses("registry.test", 443)
    with pytest.raises(AddressRefused, match="::ffff:10.0.0.1"):
        CheckedBackend(Resolver(["::ffff:10.0.0.1"]), ()).addresses("registry.test", 443)


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for NAME signed by it: (ca, cert, key)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=storemod test CA")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={NAME}")
    (folder / "san.ext").write_text(f"subjectAltName=DNS:{NAME}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


@needs_openssl
def test_tls_keeps_the_name_for_sni_and_the_certificate(
    layout: str, servers: list[Server], tmp_path: Path
) -> None:
    ca, cert, key = make_certificates(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    registry = Server(layout, "127.0.0.2", tls=tls)
    servers.append(registry)
    host = f"{NAME}:{registry.port}"
    resolver = Resolver(["127.0.0.2"])
    options = ScanOptions(allowed_networks=ALLOWED, resolver=resolver, ca_file=str(ca))
    assert packages(f"docker://{host}/acme/db:1.0", options) == packages(layout, ScanOptions())
    assert set(registry.server_names) == {NAME}
    assert {h for h, _ in registry.requests} == {host}

    # The certificate is checked against the name asked for: by its address, the same
    # server and CA fail verification.
    by_address = f"docker://127.0.0.2:{registry.port}/acme/db:1.0"
    with pytest.raises(ImageError, match="CERTIFICATE_VERIFY_FAILED"):
        read_inventory(by_address, options)
