"""One streaming pass over an image's layers, for the best-practices review.

The scanner keeps only package databases (``scanner.filesystem``); the review
needs the whole tree: paths, sizes and kinds of every file in the final image,
plus the content of a few small files (OS release, ``/etc/passwd``, package
databases, the license fields of language packages). Layers are stacked the way
a container runtime does (``.wh.`` whiteouts, opaque directories, a file
replacing a directory), nothing is extracted to disk, and only bounded heads
of files are read.

Private keys and credentials are looked for in *every* layer, not only in the
final tree: a key deleted by a later layer is still in the earlier layer's blob,
and anyone who pulls the image can read it.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field

from scanner.filesystem import (
    APK_INSTALLED,
    DPKG_STATUS,
    DPKG_STATUS_DIR,
    MAX_FILE_BYTES,
    MAX_SYMLINK_HOPS,
    OPAQUE_MARKER,
    OS_RELEASE_PATHS,
    WHITEOUT_PREFIX,
    is_npm_manifest,
    is_python_metadata,
    normalise_member,
)
from scanner.image import Image
from scanner.inventory import parse_npm_manifest, parse_python_metadata

__all__ = ["Node", "RootFS", "SecretFinding", "read_rootfs"]

PEM_HEAD_BYTES = 8 * 1024  # read of every regular file, to spot a PEM private key
CREDENTIAL_HEAD_BYTES = 64 * 1024  # read of files named like credential stores
SMALL_FILE_BYTES = 1024 * 1024  # os-release, passwd
METADATA_HEAD_BYTES = 64 * 1024  # language package metadata (license fields)
MAX_SECRET_FINDINGS = 200

PASSWD = "etc/passwd"

# A PEM block is only reported when base64 (or the Proc-Type header of an old
# encrypted key) follows the BEGIN line: binaries that merely contain the
# header text as a constant (libcrypto, Go programs) are not keys.
_PEM_RE = re.compile(
    rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----\r?\n(?:Proc-Type:|[A-Za-z0-9+/=]{16,})"
)
_SSH_KEY_NAMES = frozenset(
    {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"}
)
_GIT_CREDENTIAL_RE = re.compile(rb"://[^/\s:@]+:[^@\s]+@")
_PYPIRC_PASSWORD_RE = re.compile(rb"(?mi)^\s*password\s*[=:]\s*\S")
_NETRC_PASSWORD_RE = re.compile(rb"(?m)\bpassword\s+\S")
_NPM_TOKEN_RE = re.compile(rb"(?m)(?:_authToken|_auth|_password)\s*=\s*\S")
_AWS_SECRET_RE = re.compile(rb"(?mi)^\s*aws_secret_access_key\s*=\s*\S")


@dataclass(slots=True)
class Node:
    """A non-directory entry of the final tree."""

    kind: str  # "file", "symlink" or "other" (device, fifo)
    size: int
    layer: int  # the layer that last wrote it
    link: str | None = None  # symlink target
    data: bytes | None = None  # kept content, for the few files the review reads


@dataclass(frozen=True)
class SecretFinding:
    """A private key or credential found in a layer (never its content)."""

    path: str
    layer: int
    what: str  # "an RSA private key", "AWS credentials", ...


@dataclass
class RootFS:
    """The final tree of an image, and the secrets seen in any of its layers."""

    files: dict[str, Node]
    secrets: list[SecretFinding] = field(default_factory=list)
    secrets_truncated: bool = False  # more than MAX_SECRET_FINDINGS were found

    def resolve(self, path: str) -> Node | None:
        """The regular file at ``path``, following symlinks inside the image."""
        for _hop in range(MAX_SYMLINK_HOPS):
            node = self.files.get(path)
            if node is None or node.kind != "symlink":
                return node if node is not None and node.kind == "file" else None
            target = node.link or ""
            base = "/" if target.startswith("/") else "/" + posixpath.dirname(path)
            # Joining onto "/" keeps ".." from climbing above the image root.
            path = posixpath.normpath(posixpath.join(base, target)).lstrip("/")
        return None

    def read(self, path: str) -> bytes | None:
        """The kept content of the file at ``path`` (see ``_keep_limit``), or None."""
        node = self.resolve(path)
        return node.data if node is not None else None

    def still_present(self, finding: SecretFinding) -> bool:
        """Whether the file of ``finding`` is still in the final tree, unchanged."""
        node = self.files.get(finding.path)
        return node is not None and node.layer == finding.layer


def _keep_limit(path: str) -> int | None:
    """How many bytes of the file at ``path`` the review keeps, None for none."""
    if path in OS_RELEASE_PATHS or path == PASSWD:
        return SMALL_FILE_BYTES
    if path in (DPKG_STATUS, APK_INSTALLED) or posixpath.dirname(path) == DPKG_STATUS_DIR:
        return MAX_FILE_BYTES
    if is_python_metadata(path) or is_npm_manifest(path):
        return METADATA_HEAD_BYTES
    return None


def _credential_store(path: str) -> bool:
    base = posixpath.basename(path)
    return (
        base in _SSH_KEY_NAMES
        or base in (".git-credentials", ".netrc", ".npmrc", ".pypirc")
        or path.endswith((".aws/credentials", ".docker/config.json"))
    )


def _credential_kind(path: str, head: bytes) -> str | None:
    """What credential the file at ``path`` holds, judged by its name and head."""
    base = posixpath.basename(path)
    if base in _SSH_KEY_NAMES:
        return "an SSH private key"
    if path.endswith(".aws/credentials"):
        return "AWS credentials" if _AWS_SECRET_RE.search(head) else None
    if path.endswith(".docker/config.json"):
        return "registry credentials (a Docker config with auths)" if _docker_auths(head) else None
    if base == ".git-credentials":
        return "Git credentials" if _GIT_CREDENTIAL_RE.search(head) else None
    if base == ".netrc":
        return "a .netrc password" if _NETRC_PASSWORD_RE.search(head) else None
    if base == ".npmrc":
        return "an npm registry token" if _NPM_TOKEN_RE.search(head) else None
    if base == ".pypirc":
        return "a PyPI password" if _PYPIRC_PASSWORD_RE.search(head) else None
    return None


def _docker_auths(head: bytes) -> bool:
    try:
        config = json.loads(head)
    except (UnicodeDecodeError, ValueError):
        return False  # truncated or not JSON: Docker could not read it either
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return False
    return any(
        isinstance(entry, dict)
        and any(entry.get(key) for key in ("auth", "identitytoken", "password", "registrytoken"))
        for entry in auths.values()
    )


def _pem_kind(head: bytes) -> str | None:
    if b"PRIVATE KEY-----" not in head:  # fast path: a literal search
        return None
    match = _PEM_RE.search(head)
    if match is None:
        return None
    words = match.group(1).decode("ascii").strip()
    if not words:
        return "a private key"
    label = {"OPENSSH": "OpenSSH", "ENCRYPTED": "encrypted"}.get(words, words)
    article = "an" if label[0].lower() in "aeiou" or label in ("RSA",) else "a"
    return f"{article} {label} private key"


def _license_summary(path: str, data: bytes) -> bytes:
    """Name, version and license of a language package, as a small JSON document."""
    text = data.decode("utf-8", "replace")
    if is_npm_manifest(path):
        entry = parse_npm_manifest(text)
        try:
            manifest = json.loads(text)
        except ValueError:
            manifest = None
        licenses = _npm_licenses(manifest) if isinstance(manifest, dict) else []
    else:
        headers = text.replace("\r\n", "\n").split("\n\n", 1)[0]
        entry = parse_python_metadata(headers)
        licenses = _python_licenses(headers)
    summary = {
        "kind": "npm" if is_npm_manifest(path) else "pypi",
        "name": entry.name if entry else posixpath.basename(posixpath.dirname(path)),
        "version": entry.version if entry else "",
        "licenses": licenses,
    }
    return json.dumps(summary).encode()


def _npm_licenses(manifest: dict[str, object]) -> list[str]:
    found: list[str] = []
    values: list[object] = [manifest.get("license")]
    legacy = manifest.get("licenses")
    if isinstance(legacy, list):
        values += legacy
    for value in values:
        if isinstance(value, dict):
            value = value.get("type")
        if isinstance(value, str) and value.strip():
            found.append(value.strip())
    return found


def _python_licenses(headers: str) -> list[str]:
    found: list[str] = []
    for line in headers.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            continue
        if key in ("license-expression", "license"):
            found.append(value.splitlines()[0][:200])
        elif key == "classifier" and value.startswith("License ::"):
            found.append(value)
    return found


def _hidden(path: str, hidden: set[str], opaque: set[str]) -> bool:
    """Whether a lower-layer ``path`` is hidden by this layer's whiteouts."""
    if path in hidden or "" in opaque:
        return True
    position = path.find("/")
    while position != -1:
        prefix = path[:position]
        if prefix in hidden or prefix in opaque:
            return True
        position = path.find("/", position + 1)
    return False


def read_rootfs(image: Image) -> RootFS:
    """Stream every layer of ``image`` once and return its final tree.

    Raises ``ImageError`` (from the scanner) when a layer cannot be read.
    """
    files: dict[str, Node] = {}
    # Directories seen so far (may keep some that were deleted since: they only
    # cost a needless scan below, never a wrong answer).
    directories: set[str] = set()
    result = RootFS(files)
    for layer in image.layers:
        index = layer.index
        hidden: set[str] = set()  # lower paths hidden together with what is below them
        opaque: set[str] = set()  # directories whose lower content is hidden
        written: dict[str, Node] = {}
        for member in image.members(index):
            path = normalise_member(member.info.name, index)
            if path is None:
                continue
            parent, base = posixpath.split(path)
            if base == OPAQUE_MARKER:
                opaque.add(parent)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                hidden.add(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]))
                continue
            info = member.info
            if info.isdir():
                directories.add(path)
                if path in files:
                    hidden.add(path)  # a directory now stands where a file was
                written.pop(path, None)
                continue
            if path in directories:
                hidden.add(path)  # a file replaces a directory, and hides its content
            if info.isreg():
                written[path] = _regular(path, info.size, index, member.reader, result)
            elif info.issym():
                written[path] = Node("symlink", 0, index, link=info.linkname)
            elif info.islnk():
                target = normalise_member(info.linkname, index) or ""
                source = written.get(target) or files.get(target)
                if source is not None and source.kind == "file":
                    written[path] = Node("file", source.size, index, data=source.data)
            else:
                written[path] = Node("other", 0, index)
        if hidden or opaque:
            for key in [k for k in files if _hidden(k, hidden, opaque)]:
                del files[key]
        files.update(written)
        for path in written:
            position = path.find("/")
            while position != -1:
                directories.add(path[:position])
                position = path.find("/", position + 1)
    return result


def _regular(path: str, size: int, index: int, reader: object, result: RootFS) -> Node:
    keep = _keep_limit(path)
    credential = _credential_store(path)
    wanted = max(PEM_HEAD_BYTES, keep or 0, CREDENTIAL_HEAD_BYTES if credential else 0)
    read = getattr(reader, "read", None)
    head: bytes = read(min(size, wanted)) if read is not None and size > 0 else b""
    what = _pem_kind(head[:PEM_HEAD_BYTES])
    if what is None and credential:
        what = _credential_kind(path, head[:CREDENTIAL_HEAD_BYTES])
    if what is not None:
        if len(result.secrets) < MAX_SECRET_FINDINGS:
            result.secrets.append(SecretFinding(path, index, what))
        else:
            result.secrets_truncated = True
    data: bytes | None = None
    if keep is not None:
        data = head[:keep]
        if is_python_metadata(path) or is_npm_manifest(path):
            data = _license_summary(path, data)
    return Node("file", size, index, data=data)
