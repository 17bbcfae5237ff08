"""Pull images from a registry over the OCI Distribution API, with httpx.

``docker://HOST[:PORT]/REPO[:TAG]`` or ``docker://HOST[:PORT]/REPO@sha256:HEX``
(skopeo's transport syntax; a name without a registry host means Docker Hub).

- Authentication: the registry's ``WWW-Authenticate`` challenge decides. ``Bearer``
  fetches a pull token from the named realm (with the configured credentials when
  there are some); ``Basic`` sends the configured credentials. Credentials are
  never logged nor put into an error message.
- Every manifest, index, config and layer is checked against its sha256 digest;
  manifests and configs are read up to ``max_manifest_bytes``; layers are streamed
  and never read past the size their descriptor declares.
- Every connection the scanner opens (to the registry, a redirect target, the token
  realm) resolves the host once, refuses it when an address is loopback,
  link-local or private unless ``allowed_networks`` lists it, and connects to that
  checked address (``scanner.network``: no second lookup to rebind). Redirects are
  followed by hand so credentials are never sent to another host.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass
from functools import partial
from urllib.parse import urljoin, urlsplit

import httpx

from scanner.image import (
    INDEX_TYPES,
    LAYER_COMPRESSION,
    MANIFEST_TYPES,
    Image,
    ImageError,
    _descriptor_digest,
    _diff_ids,
    _layers,
    _LayerSource,
    _parse_object,
    check_layer_count,
    pick_platform,
    platform_name,
)
from scanner.limits import ScanOptions
from scanner.network import checked_transport

__all__ = ["RegistryClient", "RegistryRef", "open_registry_image", "parse_docker_ref"]

ACCEPT = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES))
DOCKER_HUB = "registry-1.docker.io"
MAX_REDIRECTS = 5
_CHUNK = 256 * 1024
_REPO_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class RegistryRef:
    """A parsed ``docker://`` reference."""

    host: str  # host[:port] as the settings name it
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What to ask the manifests endpoint for: the digest wins over the tag."""
        return self.digest or self.tag or "latest"


def parse_docker_ref(ref: str) -> RegistryRef:
    """Parse ``docker://HOST[:PORT]/REPO[:TAG][@sha256:HEX]``; raises ``ImageError``."""
    if not ref.startswith("docker://"):
        raise ImageError(f"{ref!r} is not a docker:// reference")
    rest = ref[len("docker://") :]
    rest, _, digest = rest.partition("@")
    first, slash, remainder = rest.partition("/")
    # As docker does: the first component is a registry host when it looks like one.
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, name = first, remainder
    else:
        host, name = DOCKER_HUB, rest
        if "/" not in name.split(":", 1)[0]:
            name = "library/" + name
    repository, _, tag = name.partition(":")
    if not repository or not _REPO_RE.match(repository):
        raise ImageError(f"{ref}: {repository!r} is not a valid repository name")
    if tag and not _TAG_RE.match(tag):
        raise ImageError(f"{ref}: {tag!r} is not a valid tag")
    if digest and not _DIGEST_RE.match(digest):
        raise ImageError(f"{ref}: {digest!r} is not a sha256 digest")
    return RegistryRef(host, repository, tag or None, digest or None)


class RegistryClient:
    """One registry, one repository: manifests and blobs, verified and bounded."""

    def __init__(
        self, target: RegistryRef, options: ScanOptions, deadline: float | None = None
    ) -> None:
        self.target = target
        self.options = options
        limits = options.limits
        self.deadline = deadline or (time.monotonic() + limits.total_timeout)
        scheme = "http" if target.host in options.plain_http else "https"
        self.base = f"{scheme}://{target.host}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=limits.connect_timeout,
                read=limits.read_timeout,
                write=limits.read_timeout,
                pool=limits.connect_timeout,
            ),
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc from the worker's environment
            transport=checked_transport(options),
        )
        self._authorization: str | None = options.authorization

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------

    @staticmethod
    def _check_scheme(url: str) -> None:
        # Addresses are checked on connect (scanner.network); only the scheme is here.
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ImageError(f"registry sent the scanner to a {scheme or 'relative'} URL")

    def _send(self, url: str, accept: str | None = None) -> httpx.Response:
        """GET ``url`` (streamed), answering auth challenges and following redirects."""
        registry_host = urlsplit(self.base).netloc
        retried_auth = False
        for _hop in range(MAX_REDIRECTS + 1):
            self._check_deadline()
            self._check_scheme(url)
            headers = {"Accept": accept} if accept else {}
            # Credentials go to the registry only, never to a redirect target.
            if self._authorization and urlsplit(url).netloc == registry_host:
                headers["Authorization"] = self._authorization
            try:
                response = self._client.send(
                    self._client.build_request("GET", url, headers=headers), stream=True
                )
            except httpx.TimeoutException:
                raise ImageError(f"registry {urlsplit(url).netloc} timed out") from None
            except httpx.HTTPError as exc:
                raise ImageError(f"cannot reach registry {urlsplit(url).netloc}: {exc}") from None
            if response.status_code == 401 and not retried_auth:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                self._authenticate(challenge)
                retried_auth = True
                continue
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise ImageError(f"registry redirect from {url} has no Location")
                url = urljoin(url, location)
                continue
            return response
        raise ImageError(f"registry redirected more than {MAX_REDIRECTS} times")

    def _authenticate(self, challenge: str) -> None:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_RE.findall(params_text))
        credentials = self.options.credentials.get(self.target.host)
        basic = (
            httpx.BasicAuth(*credentials.split(":", 1))
            if credentials and ":" in credentials
            else None
        )
        if scheme.lower() == "basic":
            if basic is None:
                raise ImageError(
                    f"registry {self.target.host} requires credentials "
                    "(set them in scanner_registry_auth)"
                )
            self._authorization = _basic_header(credentials or "")
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise ImageError(f"registry {self.target.host} asks for an unsupported authentication")
        realm = params["realm"]
        self._check_scheme(realm)
        query = {"scope": params.get("scope") or f"repository:{self.target.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {}
        if basic is None and self.options.authorization:
            headers["Authorization"] = self.options.authorization
        try:
            answer = self._client.get(realm, params=query, auth=basic, headers=headers)
        except httpx.TimeoutException:
            raise ImageError(f"token service of {self.target.host} timed out") from None
        except httpx.HTTPError as exc:
            raise ImageError(
                f"cannot reach the token service of {self.target.host}: {exc}"
            ) from None
        if answer.status_code != 200:
            raise ImageError(
                f"token service of {self.target.host} refused a pull token "
                f"(HTTP {answer.status_code}); check scanner_registry_auth"
            )
        try:
            body = answer.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ImageError(f"token service of {self.target.host} returned no token")
        self._authorization = f"Bearer {token}"

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise ImageError(
                f"pulling from {self.target.host} took longer than "
                f"{self.options.limits.total_timeout:g} s"
            )

    def _fail_status(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 200:
            return
        response.close()
        if response.status_code == 404:
            raise ImageError(f"{what} not found in {self.target.host}/{self.target.repository}")
        if response.status_code in (401, 403):
            raise ImageError(
                f"registry {self.target.host} denied access to {what} "
                f"(HTTP {response.status_code}); check scanner_registry_auth"
            )
        raise ImageError(
            f"registry {self.target.host} answered HTTP {response.status_code} for {what}"
        )

    def _read_small(self, response: httpx.Response, what: str) -> bytes:
        """The whole body, refused past ``max_manifest_bytes``."""
        limit = self.options.limits.max_manifest_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            response.close()
            raise ImageError(f"{what} is too large ({declared} bytes, over {limit})")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_raw(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ImageError(f"{what} is too large (over {limit} bytes)")
                chunks.append(chunk)
                self._check_deadline()
        except httpx.TimeoutException:
            raise ImageError(f"registry {self.target.host} timed out sending {what}") from None
        except httpx.HTTPError as exc:
            raise ImageError(f"{what} was cut short: {exc}") from None
        finally:
            response.close()
        return b"".join(chunks)

    # --- API -----------------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[str, str, bytes]:
        """``(digest, media type, bytes)`` of a manifest or index, verified."""
        url = f"{self.base}/v2/{self.target.repository}/manifests/{reference}"
        response = self._send(url, ACCEPT)
        what = f"manifest {reference}"
        self._fail_status(response, what)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        header_digest = response.headers.get("Docker-Content-Digest")
        data = self._read_small(response, what)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        expected = reference if reference.startswith("sha256:") else header_digest
        if expected and digest != expected:
            raise ImageError(f"{what} has the wrong digest: expected {expected}, got {digest}")
        return digest, media_type, data

    def blob(self, digest: str, what: str) -> bytes:
        """A small blob (a config), verified."""
        response = self._send(f"{self.base}/v2/{self.target.repository}/blobs/{digest}")
        self._fail_status(response, f"{what} {digest}")
        data = self._read_small(response, f"{what} {digest}")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ImageError(
                f"{what} {digest} has the wrong digest: the content hashes to {actual}"
            )
        return data

    def open_blob(self, digest: str, size: int | None, label: str) -> BlobStream:
        """A layer as a stream; the caller verifies the digest as it reads."""
        response = self._send(f"{self.base}/v2/{self.target.repository}/blobs/{digest}")
        self._fail_status(response, label)
        return BlobStream(self, response, size, label)


class BlobStream:
    """A streamed blob body with ``read``/``close``; errors become ``ImageError``."""

    def __init__(
        self, client: RegistryClient, response: httpx.Response, size: int | None, label: str
    ) -> None:
        self._client = client
        self._response = response
        self._chunks = response.iter_raw(_CHUNK)
        self._buffer = b""
        self._size = size
        self._label = label
        self._read = 0
        self._done = False

    def read(self, size: int = -1) -> bytes:
        size = _CHUNK if size < 0 else size
        while len(self._buffer) < size and not self._done:
            self._client._check_deadline()
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
                break
            except httpx.TimeoutException:
                raise ImageError(
                    f"registry {self._client.target.host} timed out sending {self._label}"
                ) from None
            except httpx.HTTPError as exc:
                raise ImageError(f"{self._label} was cut short: {exc}") from None
            self._read += len(chunk)
            if self._size is not None and self._read > self._size:
                raise ImageError(
                    f"{self._label} is larger than the {self._size} bytes its manifest declares"
                )
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._response.close()


def open_registry_image(ref: str, options: ScanOptions, deadline: float | None = None) -> Image:
    """Open ``docker://...``: resolve the manifest (and platform), fetch the config."""
    target = parse_docker_ref(ref)
    client = RegistryClient(target, options, deadline)
    try:
        digest, media_type, data = client.manifest(target.reference)
        document = _parse_object(data, f"manifest {digest}")
        media_type = media_type or str(document.get("mediaType") or "")
        chosen: str | None = None
        for _depth in range(4):
            if media_type in INDEX_TYPES or (not media_type and "manifests" in document):
                entry = pick_platform(digest, document, options.platform)
                chosen = platform_name(entry) or options.platform
                wanted = _descriptor_digest(entry, "manifest")
                digest, media_type, data = client.manifest(wanted)
                document = _parse_object(data, f"manifest {digest}")
                media_type = media_type or str(document.get("mediaType") or "")
                continue
            break
        if media_type not in MANIFEST_TYPES and "layers" not in document:
            raise ImageError(f"{ref}: {media_type or 'untyped'} is not an image manifest")
        if document.get("schemaVersion") != 2:
            raise ImageError(f"manifest {digest} has an unsupported schemaVersion")
        config_desc = document.get("config")
        if not isinstance(config_desc, dict):
            raise ImageError(f"manifest {digest} has no config descriptor")
        layer_descs = document.get("layers")
        if not isinstance(layer_descs, list):
            raise ImageError(f"manifest {digest} has no layers list")
        check_layer_count(ref, len(layer_descs), options.limits)
        config_digest = _descriptor_digest(config_desc, "config")
        config = _parse_object(client.blob(config_digest, "config"), f"config {config_digest}")
        diff_ids = _diff_ids(config, len(layer_descs), digest)
        sources: list[_LayerSource] = []
        for i, desc in enumerate(layer_descs):
            if not isinstance(desc, dict):
                raise ImageError(f"manifest {digest}: layer {i} is not a descriptor")
            layer_digest = _descriptor_digest(desc, f"layer {i}")
            layer_type = str(desc.get("mediaType") or "")
            compression = LAYER_COMPRESSION.get(layer_type)
            if compression is None:
                raise ImageError(
                    f"layer {i} ({layer_digest}) has an unsupported media type {layer_type!r}"
                )
            size = desc.get("size")
            opener = partial(
                client.open_blob,
                layer_digest,
                size if isinstance(size, int) and size >= 0 else None,
                f"layer {i} ({layer_digest})",
            )
            sources.append(
                _LayerSource(i, layer_digest, layer_digest, diff_ids[i], compression, opener)
            )
    except BaseException:
        client.close()
        raise
    image = Image(ref, digest, config, _layers(sources, config), sources, platform=chosen)
    image.closers.append(client.close)
    return image


def list_platforms(ref: str, options: ScanOptions) -> list[str]:
    """The platforms of a registry image index; ``[]`` for a single-platform image."""
    target = parse_docker_ref(ref)
    with RegistryClient(target, options) as client:
        digest, media_type, data = client.manifest(target.reference)
        document = _parse_object(data, f"manifest {digest}")
    if media_type not in INDEX_TYPES and "manifests" not in document:
        return []
    entries = [e for e in document.get("manifests") or [] if isinstance(e, dict)]
    names = [platform_name(e) for e in entries]
    return [n for n in names if n and not n.startswith("unknown/")]


def _basic_header(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
