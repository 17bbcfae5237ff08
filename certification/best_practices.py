"""Best-practices review of a container image, check by check (issue 6, Certified Container).

``review_image`` opens the image with the scanner's reader, streams its layers
once (``certification.rootfs``), and runs every check below on the config and
the final file system. Each ``CheckResult`` has a stable id, a plain-language
reason saying what was found, and a link to how to fix it.

Sources, and what was taken from each:

- Red Hat's certification checks, ``openshift-preflight``
  (github.com/redhat-openshift-ecosystem/openshift-preflight,
  ``internal/policy/container``): ``RunAsNonRoot`` (config User not empty, ``0``
  or ``root``), ``HasRequiredLabel`` (name, vendor, version, release, summary,
  description; preflight also wants ``maintainer``, add it to
  ``ReviewPolicy.required_labels`` to require it), ``HasLicense`` (a non-empty
  file under ``/licenses``), ``LayerCountAcceptable`` (at most 40 layers),
  ``BasedOnUbi`` (the image's uncompressed layer digests contain a certified
  base image's layer: here any configured base layer, by blob digest or
  diff_id), ``HasUniqueTag`` (more than one tag, or one that is not ``latest``)
  and ``HasNoProhibitedPackages`` (kernel, bootloader and firmware packages,
  which have no place in a container). Not taken: ``HasModifiedFiles`` (needs
  the RPM file database), trademark and container-name checks (Red Hat specific).
- Docker Scout's policies (docs.docker.com/scout/policy/): "Default non-root
  user", "No unapproved base images", "No AGPL v3 licenses" (from the license
  fields of Python and npm packages). Vulnerability policies are the scan's job;
  attestations and "outdated base image" need a registry's history, not the image.
- Docker's build checks (docs.docker.com/reference/build-checks/):
  ``SecretsUsedInArgOrEnv``, so secret-looking environment variables count as
  credentials, next to keys and credential files found in any layer.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from certification.rootfs import RootFS, read_rootfs
from scanner.filesystem import (
    APK_INSTALLED,
    DPKG_STATUS,
    DPKG_STATUS_DIR,
    OS_RELEASE_PATHS,
    is_npm_manifest,
    is_python_metadata,
)
from scanner.image import Image, open_image
from scanner.inventory import parse_apk_installed, parse_dpkg_status, parse_os_release
from scanner.limits import ScanOptions

__all__ = [
    "CHECKS",
    "LABEL_EQUIVALENTS",
    "CheckResult",
    "ImageReview",
    "ReviewPolicy",
    "review_image",
]

RED_HAT_POLICY_URL = (
    "https://access.redhat.com/documentation/en-us/red_hat_software_certification/8.69/"
    "html-single/red_hat_openshift_software_certification_policy_guide/index"
    "#assembly-requirements-for-container-images_openshift-sw-cert-policy-introduction"
)
DOCKER_BEST_PRACTICES_URL = "https://docs.docker.com/build/building/best-practices/"

# id -> (title, how-to-fix link). The ids are stable: results are stored and
# waived by id, so rename a title freely but never an id.
CHECKS: dict[str, tuple[str, str]] = {
    "non-root-user": (
        "Runs as a non-root user",
        "https://docs.docker.com/reference/dockerfile/#user",
    ),
    "required-labels": (
        "Has the required labels",
        "https://github.com/opencontainers/image-spec/blob/main/annotations.md",
    ),
    "has-license": ("Has a license in the image", RED_HAT_POLICY_URL),
    "layer-count": ("Layer count within the limit", DOCKER_BEST_PRACTICES_URL),
    "approved-base-image": (
        "Built on an approved base image",
        "https://docs.docker.com/scout/policy/",
    ),
    "no-package-caches": ("No package manager caches or lists left", DOCKER_BEST_PRACTICES_URL),
    "no-build-tools": (
        "No build-only tools (compilers, make, headers)",
        "https://docs.docker.com/build/building/multi-stage/",
    ),
    "no-secrets": (
        "No private keys or credentials",
        "https://docs.docker.com/build/building/secrets/",
    ),
    "unique-tag": (
        "Has a unique tag (not only latest)",
        "https://docs.docker.com/reference/cli/docker/image/tag/",
    ),
    "has-history": (
        "Has a build history",
        "https://github.com/opencontainers/image-spec/blob/main/config.md",
    ),
    "no-prohibited-packages": ("No kernel, bootloader or firmware packages", RED_HAT_POLICY_URL),
    "no-agpl-licenses": ("No AGPL-licensed packages", "https://docs.docker.com/scout/policy/"),
}

# The classic label -> the org.opencontainers.image.* annotations that may stand in for it.
LABEL_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "name": ("org.opencontainers.image.title",),
    "vendor": ("org.opencontainers.image.vendor",),
    "version": ("org.opencontainers.image.version",),
    "release": ("org.opencontainers.image.revision",),
    "summary": ("org.opencontainers.image.description",),
    "description": ("org.opencontainers.image.description",),
    "maintainer": ("org.opencontainers.image.authors",),
    "url": ("org.opencontainers.image.url",),
}
OCI_LICENSES_LABEL = "org.opencontainers.image.licenses"

DEFAULT_PROHIBITED_PACKAGES: tuple[str, ...] = (
    "linux-image-*",  # Debian/Ubuntu kernels
    "linux-modules-*",
    "linux-firmware*",
    "firmware-*",
    "grub",
    "grub-*",
    "grub2*",
    "kernel",
    "kernel-*",
    "linux-lts",  # Alpine kernels
    "linux-virt",
    "linux-edge",
)

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_DETAILS = 50  # paths listed per check; the reason gives the total
_MAX_IN_REASON = 3


@dataclass(frozen=True)
class ReviewPolicy:
    """What the store requires; configurable per store, passed to every review.

    ``approved_os`` pairs are (ID, VERSION_ID) from os-release; a version of ""
    matches any, "12" matches "12" and "12.5". ``tags`` are the tags the image is
    published under (when empty, the tag of the reference is used).
    """

    max_layers: int = 40
    approved_base_layers: tuple[str, ...] = ()
    approved_os: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    required_labels: tuple[str, ...] = (
        "name",
        "vendor",
        "version",
        "release",
        "summary",
        "description",
    )
    prohibited_packages: tuple[str, ...] = DEFAULT_PROHIBITED_PACKAGES
    docs_base_url: str | None = None  # when set, fix links are DOCS#CHECK-ID

    def __post_init__(self) -> None:
        if isinstance(self.max_layers, bool) or not isinstance(self.max_layers, int):
            raise ValueError("max_layers must be a whole number")
        if self.max_layers < 1:
            raise ValueError(f"max_layers must be at least 1 (got {self.max_layers})")
        for digest in self.approved_base_layers:
            if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
                raise ValueError(
                    f"approved base layer {digest!r} is not a digest like sha256:<64 hex digits>"
                )
        for pair in self.approved_os:
            if len(pair) != 2 or not all(isinstance(p, str) for p in pair) or not pair[0]:
                raise ValueError(f"approved OS {pair!r} must be an (ID, VERSION_ID) pair")
        for label in self.required_labels:
            if not isinstance(label, str) or not label.strip():
                raise ValueError("required labels must be non-empty label names")


@dataclass
class CheckResult:
    """The outcome of one check, as shown to the publisher."""

    id: str
    title: str
    passed: bool
    reason: str  # plain language: what was found
    fix_url: str
    details: list[str] = field(default_factory=list)  # e.g. the offending paths (bounded)


@dataclass
class ImageReview:
    """All check results for one image digest; ``failed`` lists the failed ids."""

    image_ref: str
    digest: str
    results: list[CheckResult]
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.results = [r if isinstance(r, CheckResult) else CheckResult(**r) for r in self.results]
        # Always derived, so a stored review can never disagree with its results.
        self.failed = [r.id for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def result(self, check_id: str) -> CheckResult:
        """The result of check ``check_id``; KeyError if it was not run."""
        for result in self.results:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageReview:
        return cls(
            image_ref=data["image_ref"],
            digest=data["digest"],
            results=[CheckResult(**r) for r in data["results"]],
        )

    @classmethod
    def from_json(cls, text: str) -> ImageReview:
        return cls.from_dict(json.loads(text))


# --------------------------------------------------------------------------- the review


@dataclass
class _Context:
    ref: str
    image: Image
    fs: RootFS
    policy: ReviewPolicy
    os_release: dict[str, str]
    packages: list[tuple[str, str, str]]  # (kind, name, version) from dpkg / apk

    @property
    def os_id(self) -> str:
        return self.os_release.get("ID", "").lower()

    @property
    def os_version(self) -> str:
        return self.os_release.get("VERSION_ID", "")


def review_image(
    image_ref: str, *, policy: ReviewPolicy, options: ScanOptions | None = None
) -> ImageReview:
    """Review the image at ``image_ref`` (``oci:``, ``docker-archive:`` or ``docker://``).

    Synchronous and pure: run it in an activity. Raises ``ImageError`` (one-line
    message) when the image cannot be read within the scanner limits of ``options``.
    """
    image = open_image(image_ref, options)
    try:
        fs = read_rootfs(image)
    finally:
        image.close()
    context = _Context(image_ref, image, fs, policy, _os_release(fs), _packages(fs))
    results = []
    for check_id, check in _CHECK_FUNCTIONS:
        title, default_url = CHECKS[check_id]
        passed, reason, details = check(context)
        if check_id == "layer-count":
            title = f"At most {policy.max_layers} layers"
        fix_url = f"{policy.docs_base_url}#{check_id}" if policy.docs_base_url else default_url
        results.append(
            CheckResult(check_id, title, passed, reason, fix_url, details[:_MAX_DETAILS])
        )
    return ImageReview(image_ref=image_ref, digest=image.digest, results=results)


_Outcome = tuple[bool, str, list[str]]


def _os_release(fs: RootFS) -> dict[str, str]:
    for path in OS_RELEASE_PATHS:
        data = fs.read(path)
        if data is not None:
            return parse_os_release(data.decode("utf-8", "replace"))
    return {}


def _packages(fs: RootFS) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    status = fs.read(DPKG_STATUS)
    if status is not None:
        text = status.decode("utf-8", "replace")
        found += [("deb", p.name, p.version) for p in parse_dpkg_status(text)]
    for path in sorted(fs.files):
        if posixpath.dirname(path) == DPKG_STATUS_DIR and not path.endswith(".md5sums"):
            data = fs.read(path)
            if data is not None:
                text = data.decode("utf-8", "replace")
                found += [
                    ("deb", p.name, p.version)
                    for p in parse_dpkg_status(text, status_required=False)
                ]
    apk = fs.read(APK_INSTALLED)
    if apk is not None:
        text = apk.decode("utf-8", "replace")
        found += [("apk", p.name, p.version) for p in parse_apk_installed(text)]
    return list(dict.fromkeys(found))


def _listing(items: list[str], noun: str, plural: str | None = None) -> str:
    """ "3 apt package lists (/a, /b, /c)" or "5 ... (/a, /b, /c and 2 more)"."""
    count = len(items)
    name = noun if count == 1 else (plural or noun + "s")
    shown = ", ".join(items[:_MAX_IN_REASON])
    more = f" and {count - _MAX_IN_REASON} more" if count > _MAX_IN_REASON else ""
    return f"{count} {name} ({shown}{more})"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --------------------------------------------------------------------------- checks


def _check_non_root(ctx: _Context) -> _Outcome:
    user = ctx.image.user.strip()
    if not user:
        return False, "the image sets no user (no USER instruction), so it runs as root", []
    name = user.partition(":")[0].strip()
    if name in ("", "0", "root"):
        return False, f"the image runs as {user!r}, which is root", []
    if name.isdigit():
        return True, f"the image runs as user ID {name}", []
    passwd = ctx.fs.read("etc/passwd")
    if passwd is None:
        return (
            False,
            f"the image runs as user {name!r}, but has no /etc/passwd that defines it; "
            "the container would not start (use a numeric user ID or add the user)",
            [],
        )
    for line in passwd.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            if fields[2].strip() == "0":
                return False, f"the image runs as {name!r}, whose user ID is 0 (root)", []
            return True, f"the image runs as user {name!r} (user ID {fields[2].strip()})", []
    return (
        False,
        f"the image runs as user {name!r}, which /etc/passwd does not define; "
        "the container would not start",
        [],
    )


def _check_required_labels(ctx: _Context) -> _Outcome:
    labels = ctx.image.labels
    missing: list[str] = []
    for label in ctx.policy.required_labels:
        names = (label, *LABEL_EQUIVALENTS.get(label, ()))
        if not any(labels.get(n, "").strip() for n in names):
            alternatives = LABEL_EQUIVALENTS.get(label)
            missing.append(f"{label} (or {', '.join(alternatives)})" if alternatives else label)
    required = ", ".join(ctx.policy.required_labels)
    if missing:
        return (
            False,
            f"missing or empty label{'s' if len(missing) > 1 else ''}: {'; '.join(missing)}",
            missing,
        )
    return True, f"all required labels are set ({required})", []


_LICENSE_NAME_RE = re.compile(r"^(?:licen[cs]e|copying|notice)(?:[.\-_][\w.\-]+)?$", re.I)
_DOC_COPYRIGHT_RE = re.compile(r"^usr/share/doc/[^/]+/copyright$")


def _check_license(ctx: _Context) -> _Outcome:
    files = ctx.fs.files
    in_licenses = sorted(
        p for p, n in files.items() if p.startswith("licenses/") and n.kind == "file"
    )
    non_empty = [p for p in in_licenses if files[p].size > 0]
    if non_empty:
        return True, "found " + _listing(["/" + p for p in non_empty], "file") + " in /licenses", []
    label = ctx.image.labels.get(OCI_LICENSES_LABEL, "").strip()
    if label:
        return True, f"the {OCI_LICENSES_LABEL} label says {label!r}", []
    license_files = sorted(
        "/" + p
        for p, n in files.items()
        if n.kind == "file" and n.size > 0 and _LICENSE_NAME_RE.match(posixpath.basename(p))
    )
    if license_files:
        return True, "found " + _listing(license_files, "license file"), []
    copyrights = sorted(
        "/" + p for p, n in files.items() if n.kind == "file" and _DOC_COPYRIGHT_RE.match(p)
    )
    if copyrights:
        return True, "found " + _listing(copyrights, "package copyright file"), []
    empty = " (/licenses holds only empty files)" if in_licenses else ""
    return (
        False,
        "no license found: no file in /licenses"
        + empty
        + ", no LICENSE or COPYING file, no /usr/share/doc/*/copyright and no "
        + f"{OCI_LICENSES_LABEL} label",
        [],
    )


def _check_layer_count(ctx: _Context) -> _Outcome:
    count, limit = len(ctx.image.layers), ctx.policy.max_layers
    if count <= limit:
        return True, f"the image has {count} layer{'s' if count != 1 else ''} (limit {limit})", []
    return (
        False,
        f"the image has {count} layers, more than the limit of {limit}; "
        "combine RUN instructions or use a multi-stage build",
        [],
    )


def _os_matches(os_id: str, version: str, wanted: tuple[str, str]) -> bool:
    want_id, want_version = wanted[0].lower(), wanted[1].strip()
    if os_id != want_id:
        return False
    return (
        want_version in ("", "*")
        or version == want_version
        or version.startswith(want_version + ".")
    )


def _check_approved_base(ctx: _Context) -> _Outcome:
    policy = ctx.policy
    if not policy.approved_base_layers and not policy.approved_os:
        return (
            False,
            "the store has no approved base images configured, so no image can match one; "
            "a store operator must configure them",
            [],
        )
    approved = set(policy.approved_base_layers)
    rootfs = ctx.image.config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    diff_ids = diff_ids if isinstance(diff_ids, list) else []
    for layer in ctx.image.layers:
        diff_id = diff_ids[layer.index] if layer.index < len(diff_ids) else None
        for digest in (layer.digest, diff_id):
            if digest in approved:
                return True, f"layer {layer.index} ({digest}) is an approved base layer", []
    os_id, version = ctx.os_id, ctx.os_version
    os_label = ctx.os_release.get("PRETTY_NAME") or f"{os_id} {version}".strip()
    for pair in policy.approved_os:
        if _os_matches(os_id, version, pair):
            return True, f"its OS, {os_label} ({os_id} {version}), is an approved base", []
    parts = []
    if approved:
        count = len(ctx.image.layers)
        parts.append(
            f"none of its {count} layer{'s' if count != 1 else ''} is an approved base layer"
        )
    if policy.approved_os:
        allowed = ", ".join(f"{i} {v}".strip() for i, v in policy.approved_os)
        found = f"{os_label} ({os_id} {version})" if os_id else "not recognised (no os-release)"
        parts.append(f"its OS is {found}, not one of the approved ({allowed})")
    return False, "; ".join(parts), []


_CACHE_RULES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    (
        "apt package list",
        lambda p: p.startswith("var/lib/apt/lists/") and posixpath.basename(p) != "lock",
    ),
    (
        "apt package archive",
        lambda p: p.startswith("var/cache/apt/archives/") and p.endswith(".deb"),
    ),
    (
        "apt package cache",
        lambda p: p in ("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"),
    ),
    ("apk cache file", lambda p: p.startswith("var/cache/apk/")),
    ("dnf/yum cache file", lambda p: p.startswith(("var/cache/dnf/", "var/cache/yum/"))),
    (
        "pip cache file",
        lambda p: (
            p.startswith("root/.cache/pip/") or (p.startswith("home/") and "/.cache/pip/" in p)
        ),
    ),
    (
        "npm cache file",
        lambda p: (
            p.startswith("root/.npm/_cacache/")
            or (p.startswith("home/") and "/.npm/_cacache/" in p)
        ),
    ),
)


def _check_package_caches(ctx: _Context) -> _Outcome:
    found: dict[str, list[str]] = {}
    for path, node in sorted(ctx.fs.files.items()):
        if node.kind != "file" or node.size == 0:
            continue
        for label, rule in _CACHE_RULES:
            if rule(path):
                found.setdefault(label, []).append("/" + path)
                break
    if not found:
        return True, "no package manager caches or lists were left in the image", []
    found = {label: found[label] for label, _rule in _CACHE_RULES if label in found}
    parts = [_listing(paths, label) for label, paths in found.items()]
    details = [p for paths in found.values() for p in paths]
    return (
        False,
        "found "
        + _join(parts)
        + "; remove them in the RUN that creates them (rm -rf /var/lib/apt/lists/*, "
        "apk add --no-cache, pip install --no-cache-dir)",
        details,
    )


_BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")
# gcc, cc, c++, clang, and their target-prefixed and versioned names (x86_64-linux-gnu-gcc-12).
_COMPILER_RE = re.compile(
    r"^(?:[\w.+]+-)*(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+|tcc)(?:-\d+(?:\.\d+)*)?$"
)
_MAKE_NAMES = frozenset({"make", "gmake"})
_BUILD_PACKAGES = frozenset({"build-essential", "build-base"})


def _check_build_tools(ctx: _Context) -> _Outcome:
    tools, headers = [], []
    for path, node in sorted(ctx.fs.files.items()):
        directory, base = posixpath.split(path)
        if directory in _BIN_DIRS and node.kind in ("file", "symlink"):
            if base in _MAKE_NAMES or _COMPILER_RE.match(base):
                tools.append("/" + path)
        elif path.startswith("usr/include/") and node.kind == "file":
            headers.append("/" + path)
    dev_packages = sorted(
        {name for _k, name, _v in ctx.packages if name.endswith("-dev") or name in _BUILD_PACKAGES}
    )
    parts = []
    if tools:
        parts.append(_listing(tools, "compiler or make binary", "compiler or make binaries"))
    if dev_packages:
        parts.append(_listing(dev_packages, "development package"))
    if headers:
        plural = "s" if len(headers) != 1 else ""
        parts.append(f"{len(headers)} header file{plural} under /usr/include")
    if not parts:
        return True, "no compilers, make, development packages or headers were found", []
    return (
        False,
        "found " + _join(parts) + "; build in an earlier stage and copy only the result",
        tools + dev_packages + headers,
    )


_SECRET_WORDS = frozenset({"SECRET", "PASSWORD", "PASSWD", "TOKEN", "APIKEY", "CREDENTIALS"})
_SECRET_PAIRS = frozenset(
    {("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY")}
)
# NAME_FILE conventionally points at a secret mounted at run time, which is the fix.
_POINTER_SUFFIXES = ("FILE", "PATH", "URL", "DIR")


def secret_env_name(name: str) -> bool:
    """Whether an environment variable name says it holds a secret (SecretsUsedInArgOrEnv)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w]
    if not words or words[-1] in _POINTER_SUFFIXES:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False))


def _check_secrets(ctx: _Context) -> _Outcome:
    entries: list[str] = []
    for finding in ctx.fs.secrets:
        where = f"/{finding.path} (layer {finding.layer}"
        if not ctx.fs.still_present(finding):
            where += ", deleted by a later layer but still readable in this one"
        entries.append(f"{finding.what} in {where})")
    for name, value in sorted(ctx.image.env.items()):
        if value.strip() and secret_env_name(name):
            entries.append(f"a secret in the environment variable {name} (value not shown)")
    if not entries:
        return True, "no private keys or credentials were found in any layer or the environment", []
    more = " (the search stopped at the first 200)" if ctx.fs.secrets_truncated else ""
    plural = "s" if len(entries) != 1 else ""
    reason = f"found {len(entries)} private key{plural} or credential{plural}"
    return (
        False,
        f"{reason}{more}: "
        + "; ".join(entries[:_MAX_IN_REASON])
        + (f" and {len(entries) - _MAX_IN_REASON} more" if len(entries) > _MAX_IN_REASON else "")
        + "; pass secrets at build time with --secret and at run time as mounted files",
        entries,
    )


def tag_of_reference(ref: str) -> str | None:
    """The tag named by a skopeo-style reference, None when it names none."""
    if ref.startswith("oci:"):
        _path, _, tag = ref[len("oci:") :].partition(":")
        return tag or None
    if ref.startswith("docker-archive:"):
        _path, _, name = ref[len("docker-archive:") :].partition(":")
        if not name or name.startswith("@"):
            return None
        return _tag_of_name(name)
    if ref.startswith("docker://"):
        name = ref[len("docker://") :]
        return None if "@" in name else _tag_of_name(name)
    return None


def _tag_of_name(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return last.rpartition(":")[2] if ":" in last else "latest"


def _check_unique_tag(ctx: _Context) -> _Outcome:
    tags = list(dict.fromkeys(t.strip() for t in ctx.policy.tags if t and t.strip()))
    if not tags:
        derived = tag_of_reference(ctx.ref)
        tags = [derived] if derived else []
    if not tags:
        return False, "the image is published under no tag, so it cannot be told apart", []
    if len(tags) > 1 or tags[0].lower() != "latest":
        return True, f"the image is tagged {', '.join(tags)}", []
    return (
        False,
        "the image is tagged only 'latest', a floating tag that names a different image over "
        "time; add a version tag such as 1.4.2",
        [],
    )


def _check_history(ctx: _Context) -> _Outcome:
    history = ctx.image.history
    layers = len(ctx.image.layers)
    if not history:
        return (
            False,
            "the image config has no history, so nobody can see how its layers were built",
            [],
        )
    with_layer = sum(1 for h in history if not h.get("empty_layer"))
    if with_layer != layers:
        return (
            False,
            f"the history describes {with_layer} layer{'s' if with_layer != 1 else ''} but "
            f"the image has {layers}; it was edited or squashed without updating it",
            [],
        )
    return True, f"{len(history)} history entries describe its {layers} layers", []


def _check_prohibited_packages(ctx: _Context) -> _Outcome:
    patterns = ctx.policy.prohibited_packages
    found = sorted(
        {
            f"{name} {version}"
            for _kind, name, version in ctx.packages
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
        }
    )
    if not found:
        return True, "no kernel, bootloader or firmware packages are installed", []
    return (
        False,
        "found "
        + _listing(found, "kernel, bootloader or firmware package")
        + "; a container uses the host's kernel, remove them",
        found,
    )


_AGPL_RE = re.compile(r"\bAGPL|Affero", re.I)


def _check_agpl(ctx: _Context) -> _Outcome:
    found = []
    for path, node in sorted(ctx.fs.files.items()):
        if node.data is None or not (is_python_metadata(path) or is_npm_manifest(path)):
            continue
        try:
            summary = json.loads(node.data)
        except ValueError:
            continue
        licenses = [str(x) for x in summary.get("licenses", [])]
        agpl = [x for x in licenses if _AGPL_RE.search(x)]
        if agpl:
            name = f"{summary.get('name')} {summary.get('version')}".strip()
            found.append(f"{name} ({summary.get('kind')}, {agpl[0]})")
    if not found:
        return True, "no Python or npm package declares an AGPL license", []
    return (
        False,
        "found " + _listing(found, "AGPL-licensed package") + "; replace them or ask for a waiver",
        found,
    )


_CHECK_FUNCTIONS: tuple[tuple[str, Callable[[_Context], _Outcome]], ...] = (
    ("non-root-user", _check_non_root),
    ("required-labels", _check_required_labels),
    ("has-license", _check_license),
    ("layer-count", _check_layer_count),
    ("approved-base-image", _check_approved_base),
    ("no-package-caches", _check_package_caches),
    ("no-build-tools", _check_build_tools),
    ("no-secrets", _check_secrets),
    ("unique-tag", _check_unique_tag),
    ("has-history", _check_history),
    ("no-prohibited-packages", _check_prohibited_packages),
    ("no-agpl-licenses", _check_agpl),
)
assert [c for c, _ in _CHECK_FUNCTIONS] == list(CHECKS), "CHECKS and the functions disagree"
