"""Write real container images for tests: OCI image layouts and docker-archive tarballs.

A layer is described as ``{path: content}``: bytes write a regular file, None
writes a whiteout for that path (``dir/.wh.name``), ``Symlink(target)`` writes a
symbolic link. An opaque whiteout is the empty regular file
``dir/.wh..wh..opq``. Parent directories get their own tar entries, as in
layers built by docker or buildah.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import posixpath
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
EPOCH = 1700000000  # fixed mtimes keep blobs (and digests) reproducible


@dataclass(frozen=True)
class Symlink:
    target: str


LayerSpec = dict[str, bytes | None | Symlink]


def layer_tar(files: LayerSpec) -> bytes:
    """An uncompressed layer tarball holding ``files`` (see the module docstring)."""
    buffer = io.BytesIO()
    seen_dirs: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, content in files.items():
            parent = posixpath.dirname(path)
            for n in range(1, len(parent.split("/")) + 1 if parent else 0):
                directory = "/".join(parent.split("/")[:n])
                if directory not in seen_dirs:
                    seen_dirs.add(directory)
                    info = tarfile.TarInfo(directory + "/")
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
                    archive.addfile(info)
            if content is None:
                name = posixpath.join(parent, ".wh." + posixpath.basename(path))
                info = tarfile.TarInfo(name)
                info.mtime = EPOCH
                archive.addfile(info, io.BytesIO(b""))
            elif isinstance(content, Symlink):
                info = tarfile.TarInfo(path)
                info.type, info.linkname, info.mtime = tarfile.SYMTYPE, content.target, EPOCH
                info.mode = 0o777
                archive.addfile(info)
            else:
                info = tarfile.TarInfo(path)
                info.size, info.mode, info.mtime = len(content), 0o644, EPOCH
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(
    diff_ids: list[str], config: dict[str, Any] | None, history: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """An image config JSON object (the OCI/docker "image configuration")."""
    if history is None:
        history = [
            {"created": "2023-11-14T22:13:20Z", "created_by": f"/bin/sh -c #(nop) layer {i}"}
            for i in range(len(diff_ids))
        ]
    return {
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": config if config is not None else {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }


def write_oci_layout(
    path: Path | str,
    layers: list[LayerSpec],
    tag: str = "1.0",
    config: dict[str, Any] | None = None,
    gzip_layers: bool = True,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """Write (or add a tag to) an OCI image layout at ``path``; returns ``oci:PATH:TAG``.

    ``config`` is the image's runtime config (``User``, ``Env``, ``Labels``...).
    ``history`` replaces the default one-entry-per-layer history.
    """
    root = Path(path)
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return digest

    layer_descs, diff_ids = [], []
    for files in layers:
        tar_bytes = layer_tar(files)
        diff_ids.append(sha256(tar_bytes))
        stored = gzip.compress(tar_bytes, mtime=0) if gzip_layers else tar_bytes
        layer_descs.append(
            {
                "mediaType": MT_LAYER_GZIP if gzip_layers else MT_LAYER,
                "digest": put(stored),
                "size": len(stored),
            }
        )
    config_bytes = json.dumps(image_config(diff_ids, config, history)).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": put(config_bytes), "size": len(config_bytes)},
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest).encode()
    manifest_digest = put(manifest_bytes)

    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = root / "index.json"
    index: dict[str, Any] = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
    )
    entries = [
        m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) != tag
    ]
    entries.append(
        {
            "mediaType": MT_MANIFEST,
            "digest": manifest_digest,
            "size": len(manifest_bytes),
            "annotations": {REF_NAME: tag},
        }
    )
    index["manifests"] = entries
    index_path.write_text(json.dumps(index))
    return f"oci:{root}:{tag}"


def write_docker_archive(
    path: Path | str,
    layers: list[LayerSpec],
    repo_tag: str = "acme/db:1.0",
    config: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    legacy_names: bool = True,
) -> str:
    """Write a ``docker save``-style tarball; returns ``docker-archive:PATH:REPO_TAG``.

    With ``legacy_names`` layers are stored as ``<v1 id>/layer.tar`` (with the
    ``VERSION`` and ``json`` files), as ``docker save`` did before docker 25; the v1
    id is not a digest of anything in the archive. Otherwise they are stored as
    ``<diff_id hex>.tar``, as ``skopeo copy ... docker-archive:`` does.
    """
    tars = [layer_tar(files) for files in layers]
    diff_ids = [sha256(t) for t in tars]
    config_bytes = json.dumps(image_config(diff_ids, config, history)).encode()
    config_name = sha256(config_bytes).split(":", 1)[1] + ".json"
    entries: list[tuple[str, bytes]] = [(config_name, config_bytes)]
    layer_names = []
    parent = ""
    for diff_id, data in zip(diff_ids, tars, strict=True):
        if legacy_names:
            v1_id = hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()
            v1_json = json.dumps({"id": v1_id, **({"parent": parent} if parent else {})})
            entries += [(f"{v1_id}/VERSION", b"1.0"), (f"{v1_id}/json", v1_json.encode())]
            name, parent = f"{v1_id}/layer.tar", v1_id
        else:
            name = diff_id.split(":", 1)[1] + ".tar"
        entries.append((name, data))
        layer_names.append(name)
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    entries.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in entries:
            _add(archive, name, data)
    return f"docker-archive:{path}:{repo_tag}"


def oci_blob(ref: str, digest: str) -> Path:
    """Path of a blob inside the OCI layout named by ``ref`` (for tampering in tests)."""
    root = ref[len("oci:") :].split(":", 1)[0]
    return Path(root) / "blobs" / "sha256" / digest.split(":", 1)[1]


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
    archive.addfile(info, io.BytesIO(data))


def write_oci_index(path: Path | str, platforms: dict[str, list[LayerSpec]], tag: str) -> str:
    """An OCI layout whose ``tag`` is an image index with one image per "os/arch"."""
    root = Path(path)
    descriptors = []
    for i, (platform, layers) in enumerate(platforms.items()):
        write_oci_layout(root, layers, tag=f"_platform{i}")
        index = json.loads((root / "index.json").read_text())
        entry = next(m for m in index["manifests"] if m["annotations"][REF_NAME] == f"_platform{i}")
        os_name, arch = platform.split("/", 1)
        descriptors.append(
            {
                "mediaType": entry["mediaType"],
                "digest": entry["digest"],
                "size": entry["size"],
                "platform": {"os": os_name, "architecture": arch},
            }
        )
    image_index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    }
    index_bytes = json.dumps(image_index).encode()
    (root / "blobs" / "sha256" / sha256(index_bytes).split(":", 1)[1]).write_bytes(index_bytes)
    top = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": sha256(index_bytes),
                "size": len(index_bytes),
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(top))
    return f"oci:{root}:{tag}"


# --- a real registry (Debian's docker-registry) and a token service, for tests ------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenService:
    """A Docker token service: checks basic credentials, signs RS256 JWTs with openssl.

    The registry trusts the self-signed certificate named in its ``rootcertbundle``;
    each token carries that certificate in its ``x5c`` header.
    """

    def __init__(self, folder: Path, username: str, password: str, service: str) -> None:
        self.key = folder / "token.key"
        self.cert = folder / "token.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=storemod-test-token", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True, capture_output=True, timeout=30,
        ).stdout  # fmt: skip
        self.x5c = base64.b64encode(der).decode("ascii")
        self.credentials = f"{username}:{password}"
        self.service = service
        self.issuer = "storemod-test-issuer"
        self.requests: list[str] = []  # Authorization headers seen (None-safe)
        self.port = _free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        service_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                service_self.requests.append(self.headers.get("Authorization", ""))
                expected = "Basic " + base64.b64encode(service_self.credentials.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                query = parse_qs(urlsplit(self.path).query)
                body = json.dumps({"token": service_self.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            for item in scope.split(" "):
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {
            "iss": self.issuer, "sub": self.credentials.split(":")[0], "aud": self.service,
            "exp": now + 600, "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()),
            "access": access,
        }  # fmt: skip
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True, timeout=30,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64url(signature)}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Registry:
    """Debian's ``docker-registry`` on a loopback port, storing into a temporary folder.

    ``auth`` is None (open), ``"basic"`` (htpasswd, bcrypt) or ``"token"`` (a
    ``TokenService``). ``push`` copies an image into it with skopeo.
    """

    USER, PASSWORD = "publisher", "s3cret-pass"

    def __init__(self, folder: Path, auth: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.token_service: TokenService | None = None
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
            "http": {"addr": self.host},
        }
        if auth == "basic":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt  # bcrypt through libxcrypt: what htpasswd -B writes

                hashed = crypt.crypt(
                    self.PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)
                )  # fast in tests
            (folder / "htpasswd").write_text(f"{self.USER}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "test", "path": str(folder / "htpasswd")}}
        elif auth == "token":
            self.token_service = TokenService(folder, self.USER, self.PASSWORD, "test-registry")
            config["auth"] = {
                "token": {
                    "realm": self.token_service.realm,
                    "service": "test-registry",
                    "issuer": self.token_service.issuer,
                    "rootcertbundle": str(self.token_service.cert),
                }
            }
        config_path = folder / "config.yml"
        config_path.write_text(json.dumps(config))  # JSON is YAML
        self.log = (folder / "registry.log").open("wb")
        self.process = subprocess.Popen(
            [shutil.which("docker-registry") or "docker-registry", "serve", str(config_path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.auth = auth
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(
                        f"docker-registry did not start: {(folder / 'registry.log').read_text()}"
                    ) from None
                time.sleep(0.05)

    def push(self, source: str, name: str, *flags: str) -> str:
        """Copy ``source`` (a skopeo ref) to ``name`` here; returns the docker:// ref."""
        target = f"docker://{self.host}/{name}"
        creds = ["--dest-creds", f"{self.USER}:{self.PASSWORD}"] if self.auth else []
        subprocess.run(
            [shutil.which("skopeo") or "skopeo", "--insecure-policy", "copy", "-q",
             "--dest-tls-verify=false", *creds, *flags, source, target],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return target

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self.token_service is not None:
            self.token_service.close()
