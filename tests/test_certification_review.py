"""The best-practices review on real images: one that passes every check, one per failure."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certification.best_practices import (
    CHECKS,
    ImageReview,
    ReviewPolicy,
    review_image,
    secret_env_name,
    tag_of_reference,
)
from scanner.image import ImageError
from tests.imagebuild import (
    LayerSpec,
    Symlink,
    layer_tar,
    sha256,
    write_docker_archive,
    write_oci_layout,
)

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
PASSWD = b"root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n"
# 64 characters of base64 per line, as PEM writes it (not a real key: the review never parses one).
PEM_BODY = b"MIIEpAIBAAKCAQEAx3Jk2mUuH0VqQ3sK8Yb7cQ2u1mQ5P0pJ2cN4j9s8vT1wXyZaBcD\n"
RSA_KEY = b"-----BEGIN RSA PRIVATE KEY-----\n" + PEM_BODY + b"-----END RSA PRIVATE KEY-----\n"


def stanza(name: str, version: str) -> str:
    return f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n\n"


STATUS = stanza("libc6", "2.36-9") + stanza("zlib1g", "1:1.2.13.dfsg-1")
BASE: LayerSpec = {
    "etc/os-release": OS_RELEASE,
    "etc/passwd": PASSWD,
    "var/lib/dpkg/status": STATUS.encode(),
    "var/lib/apt/lists/lock": b"",
    "usr/share/doc/libc6/copyright": b"Format: https://www.debian.org/doc/packaging-manuals/\n",
    "usr/bin/bash": b"\x7fELF-bash",
    "usr/bin/gcc-ar-12": b"\x7fELF-not-a-compiler",  # not gcc itself
}
APP: LayerSpec = {
    "licenses/LICENSE": b"Acme Database End User License Agreement\n",
    # A binary that contains the PEM header as a constant, as libcrypto does: not a key.
    "opt/acme/bin/acmed": b"\x7fELF\x00-----BEGIN RSA PRIVATE KEY-----\x00\x00",
    "home/app/.docker/config.json": json.dumps({"credsStore": "pass"}).encode(),
    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": (
        b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n\n"
        b"A long description that mentions the GNU Affero license, which is not a field.\n"
    ),
    "opt/acme/ui/node_modules/left-pad/package.json": json.dumps(
        {"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}
    ).encode(),
}
LABELS = {
    "name": "acme-db",
    "vendor": "Acme Corp",
    "version": "1.0",
    "release": "3",
    "summary": "Acme database",
    "description": "The Acme database server",
}
CONFIG: dict[str, Any] = {
    "User": "app",
    "Labels": LABELS,
    "Env": [
        "PATH=/usr/bin:/bin",
        "DB_PASSWORD_FILE=/run/secrets/db",  # points at a mounted secret: the right way
        "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",  # a public key id
        "API_TOKEN=",  # empty: nothing leaked
    ],
}
BASE_DIFF_ID = sha256(layer_tar(BASE))
POLICY = ReviewPolicy(approved_base_layers=(BASE_DIFF_ID,), tags=("1.0", "latest"))


@dataclasses.dataclass
class Build:
    layers: list[LayerSpec]
    config: dict[str, Any]
    history: list[dict[str, Any]] | None = None
    tag: str = "1.0"


def good() -> Build:
    return Build([dict(BASE), dict(APP)], json.loads(json.dumps(CONFIG)))


def review(
    tmp_path: Path, build: Build, policy: ReviewPolicy = POLICY, name: str = "image"
) -> ImageReview:
    ref = write_oci_layout(
        tmp_path / name, build.layers, tag=build.tag, config=build.config, history=build.history
    )
    return review_image(ref, policy=policy)


def test_a_good_image_passes_every_check(tmp_path: Path) -> None:
    result = review(tmp_path, good())
    assert [r.id for r in result.results] == list(CHECKS)
    assert result.failed == [], [(r.id, r.reason) for r in result.results if not r.passed]
    assert result.passed
    assert result.digest.startswith("sha256:")
    by_id = {r.id: r for r in result.results}
    assert by_id["non-root-user"].reason == "the image runs as user 'app' (user ID 1000)"
    assert by_id["has-license"].reason == "found 1 file (/licenses/LICENSE) in /licenses"
    assert (
        by_id["approved-base-image"].reason == f"layer 0 ({BASE_DIFF_ID}) is an approved base layer"
    )
    assert by_id["unique-tag"].reason == "the image is tagged 1.0, latest"
    assert by_id["layer-count"].title == "At most 40 layers"
    for result_ in result.results:
        assert result_.fix_url.startswith("https://")
        assert result_.title and result_.reason


def change_config(**changes: Any) -> Callable[[Build], None]:
    def apply(build: Build) -> None:
        build.config.update(changes)

    return apply


def change_labels(labels: dict[str, str]) -> Callable[[Build], None]:
    return change_config(Labels=labels)


def add_layer(files: LayerSpec) -> Callable[[Build], None]:
    def apply(build: Build) -> None:
        build.layers.append(files)

    return apply


def edit_layer(index: int, **files: Any) -> Callable[[Build], None]:
    """Replace or (with None) drop files of one layer; keys use __ for /."""

    def apply(build: Build) -> None:
        layer = dict(build.layers[index])
        for key, value in files.items():
            path = key.replace("__", "/")
            if value is None:
                layer.pop(path, None)
            else:
                layer[path] = value
        build.layers[index] = layer

    return apply


def remove_files(*paths: str) -> Callable[[Build], None]:
    def apply(build: Build) -> None:
        build.layers = [
            {p: c for p, c in layer.items() if p not in paths} for layer in build.layers
        ]

    return apply


def both(*changes: Callable[[Build], None]) -> Callable[[Build], None]:
    def apply(build: Build) -> None:
        for change in changes:
            change(build)

    return apply


def set_history(history: list[dict[str, Any]]) -> Callable[[Build], None]:
    def apply(build: Build) -> None:
        build.history = history

    return apply


TOOL_STATUS = (STATUS + stanza("libssl-dev", "3.0.17-1~deb12u2")).encode()
KERNEL_STATUS = (STATUS + stanza("linux-image-6.1.0-18-amd64", "6.1.76-1")).encode()
CACHES: LayerSpec = {
    "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages": b"P",
    "var/cache/apt/archives/curl_7.88.1-10_amd64.deb": b"deb",
    "var/cache/apk/APKINDEX.5022a8a2.tar.gz": b"apk",
    "root/.cache/pip/http-v2/a/b/c": b"pip",
}
OCI_LABELS = {
    "org.opencontainers.image.title": "acme-db",
    "org.opencontainers.image.vendor": "Acme Corp",
    "org.opencontainers.image.version": "1.0",
    "org.opencontainers.image.revision": "3",
    "org.opencontainers.image.description": "The Acme database server",
}

FAILURES: list[tuple[str, Callable[[Build], None], str, str]] = [
    ("no user", change_config(User=""), "non-root-user", "sets no user"),
    (
        "root by name",
        change_config(User="root:root"),
        "non-root-user",
        "'root:root', which is root",
    ),
    ("root by uid", change_config(User="0"), "non-root-user", "'0', which is root"),
    (
        "a name with uid 0",
        both(
            change_config(User="toor"),
            add_layer({"etc/passwd": PASSWD + b"toor:x:0:0::/root:/bin/sh\n"}),
        ),
        "non-root-user",
        "'toor', whose user ID is 0",
    ),
    ("an undefined user", change_config(User="ghost"), "non-root-user", "does not define"),
    (
        "missing labels",
        change_labels({k: v for k, v in LABELS.items() if k not in ("vendor", "release")}),
        "required-labels",
        "vendor (or org.opencontainers.image.vendor); "
        "release (or org.opencontainers.image.revision)",
    ),
    (
        "a blank label",
        change_labels({**LABELS, "summary": "  "}),
        "required-labels",
        "missing or empty label: summary",
    ),
    (
        "no license anywhere",
        both(remove_files("licenses/LICENSE"), add_layer({"usr/share/doc/libc6/copyright": None})),
        "has-license",
        "no license found: no file in /licenses, no LICENSE",
    ),
    (
        "only an empty license file",
        both(
            edit_layer(1, licenses__LICENSE=b""),
            add_layer({"usr/share/doc/libc6/copyright": None}),
        ),
        "has-license",
        "(/licenses holds only empty files)",
    ),
    (
        "apt lists, apk and pip caches",
        add_layer(CACHES),
        "no-package-caches",
        "found 1 apt package list (/var/lib/apt/lists/deb.debian.org",
    ),
    (
        "compilers, make, dev packages and headers",
        add_layer(
            {
                "usr/bin/x86_64-linux-gnu-gcc-12": b"\x7fELF-gcc",
                "usr/bin/cc": Symlink("/etc/alternatives/cc"),
                "usr/bin/make": b"\x7fELF-make",
                "usr/include/openssl/ssl.h": b"/* ssl */",
                "var/lib/dpkg/status": TOOL_STATUS,
            }
        ),
        "no-build-tools",
        "found 3 compiler or make binaries (/usr/bin/cc, /usr/bin/make, "
        "/usr/bin/x86_64-linux-gnu-gcc-12), 1 development package (libssl-dev) and "
        "1 header file under /usr/include",
    ),
    (
        "a private key",
        add_layer({"etc/ssl/private/server.key": RSA_KEY}),
        "no-secrets",
        "found 1 private key or credential: an RSA private key in /etc/ssl/private/server.key "
        "(layer 2)",
    ),
    (
        "a key deleted by a later layer",
        both(
            add_layer(
                {"root/.ssh/id_ed25519": b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + PEM_BODY}
            ),
            add_layer({"root/.ssh/id_ed25519": None}),
        ),
        "no-secrets",
        "an OpenSSH private key in /root/.ssh/id_ed25519 (layer 2, deleted by a later layer but "
        "still readable in this one)",
    ),
    (
        "a secret in the environment",
        change_config(Env=["PATH=/usr/bin", "STRIPE_API_KEY=sk_live_abc"]),
        "no-secrets",
        "a secret in the environment variable STRIPE_API_KEY (value not shown)",
    ),
    ("only latest", lambda b: None, "unique-tag", "tagged only 'latest'"),
    ("no history", set_history([]), "has-history", "has no history"),
    (
        "a history for fewer layers",
        set_history([{"created_by": "/bin/sh -c #(nop) ADD file:base in /"}]),
        "has-history",
        "the history describes 1 layer but the image has 2",
    ),
    (
        "a kernel package",
        add_layer({"var/lib/dpkg/status": KERNEL_STATUS}),
        "no-prohibited-packages",
        "linux-image-6.1.0-18-amd64 6.1.76-1",
    ),
    (
        "an AGPL npm package",
        add_layer(
            {
                "opt/acme/ui/node_modules/@acme/charts/package.json": json.dumps(
                    {"name": "@acme/charts", "version": "2.0.0", "license": "AGPL-3.0-only"}
                ).encode()
            }
        ),
        "no-agpl-licenses",
        "@acme/charts 2.0.0 (npm, AGPL-3.0-only)",
    ),
    (
        "an AGPL Python package",
        add_layer(
            {
                "usr/local/lib/python3.11/site-packages/ghost-1.0.dist-info/METADATA": (
                    b"Metadata-Version: 2.1\nName: Ghost\nVersion: 1.0\nClassifier: "
                    b"License :: OSI Approved :: GNU Affero General Public License v3\n\n"
                )
            }
        ),
        "no-agpl-licenses",
        "ghost 1.0 (pypi, License :: OSI Approved :: GNU Affero General Public License v3)",
    ),
]


@pytest.mark.parametrize(
    ("change", "check_id", "reason"),
    [pytest.param(c, i, r, id=name) for name, c, i, r in FAILURES],
)
def test_each_failure_fails_its_check_only(
    tmp_path: Path, change: Callable[[Build], None], check_id: str, reason: str
) -> None:
    build = good()
    change(build)
    policy = POLICY
    if check_id == "unique-tag":
        policy = dataclasses.replace(POLICY, tags=("latest",))
    result = review(tmp_path, build, policy)
    assert result.failed == [check_id], [(r.id, r.reason) for r in result.results if not r.passed]
    failed = result.result(check_id)
    assert not failed.passed
    assert reason in failed.reason
    assert failed.fix_url == CHECKS[check_id][1]


def test_caches_list_every_kind_and_details(tmp_path: Path) -> None:
    build = good()
    add_layer(CACHES)(build)
    failed = review(tmp_path, build).result("no-package-caches")
    for kind in ("apt package archive", "apk cache file", "pip cache file"):
        assert f"1 {kind} (" in failed.reason
    assert "/root/.cache/pip/http-v2/a/b/c" in failed.details
    assert len(failed.details) == 4


def test_secrets_in_credential_files_are_found_without_their_content(tmp_path: Path) -> None:
    build = good()
    add_layer(
        {
            "root/.aws/credentials": b"[default]\naws_access_key_id = AKIAX\n"
            b"aws_secret_access_key = wJalrXUtnFEMI\n",
            "root/.docker/config.json": json.dumps(
                {"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}}
            ).encode(),
            "home/app/.npmrc": b"//registry.npmjs.org/:_authToken=npm_abcdef\n",
            "home/app/.git-credentials": b"https://alice:ghp_token@github.com\n",
            "home/app/.ssh/id_rsa": b"anything: the name is enough",
            "home/app/.ssh/id_rsa.pub": b"ssh-rsa AAAAB3Nza alice@host",
        }
    )(build)
    failed = review(tmp_path, build).result("no-secrets")
    assert failed.details == [
        "AWS credentials in /root/.aws/credentials (layer 2)",
        "registry credentials (a Docker config with auths) in /root/.docker/config.json (layer 2)",
        "an npm registry token in /home/app/.npmrc (layer 2)",
        "Git credentials in /home/app/.git-credentials (layer 2)",
        "an SSH private key in /home/app/.ssh/id_rsa (layer 2)",
    ]
    assert "found 5 private keys or credentials" in failed.reason
    for secret in ("wJalrXUtnFEMI", "dXNlcjpwYXNz", "npm_abcdef", "ghp_token"):
        assert secret not in failed.reason and secret not in json.dumps(failed.details)


def test_whiteouts_and_opaque_directories_remove_what_lower_layers_left(tmp_path: Path) -> None:
    build = good()
    add_layer(
        {
            "var/lib/apt/lists/deb.debian.org_Packages": b"P",
            "root/.cache/pip/wheels/x.whl": b"w",
            "usr/bin/gcc": b"\x7fELF-gcc",
        }
    )(build)
    add_layer(
        {
            "var/lib/apt/lists/.wh..wh..opq": b"",
            "var/lib/apt/lists/lock": b"",
            "root/.cache": None,  # whiteout of the whole directory
            "usr/bin/gcc": None,
        }
    )(build)
    result = review(tmp_path, build)
    assert result.failed == []


def test_a_file_replacing_a_directory_hides_its_content(tmp_path: Path) -> None:
    build = good()
    add_layer({"var/cache/apk/APKINDEX.tar.gz": b"apk"})(build)
    add_layer({"var/cache/apk": Symlink("/tmp/apk-cache")})(build)
    assert review(tmp_path, build).failed == []


def test_oci_labels_stand_in_for_the_classic_ones(tmp_path: Path) -> None:
    build = good()
    change_labels(OCI_LABELS)(build)
    assert review(tmp_path, build).failed == []


def test_the_licenses_label_or_a_license_file_is_a_license(tmp_path: Path) -> None:
    build = good()
    remove_files("licenses/LICENSE")(build)
    add_layer({"usr/share/doc/libc6/copyright": None})(build)
    change_labels({**LABELS, "org.opencontainers.image.licenses": "Apache-2.0"})(build)
    passed = review(tmp_path, build, name="label").result("has-license")
    assert passed.passed and "Apache-2.0" in passed.reason

    build = good()
    remove_files("licenses/LICENSE")(build)
    add_layer({"usr/share/doc/libc6/copyright": None})(build)
    add_layer({"opt/acme/LICENSE.txt": b"EULA"})(build)
    passed = review(tmp_path, build, name="file").result("has-license")
    assert passed.passed and passed.reason == "found 1 license file (/opt/acme/LICENSE.txt)"


def test_layer_limit_is_inclusive(tmp_path: Path) -> None:
    at_limit = review(tmp_path, good(), dataclasses.replace(POLICY, max_layers=2), name="two")
    assert at_limit.result("layer-count").passed
    over = review(tmp_path, good(), dataclasses.replace(POLICY, max_layers=1), name="one")
    assert over.failed == ["layer-count"]
    assert over.result("layer-count").reason.startswith(
        "the image has 2 layers, more than the limit of 1"
    )
    assert over.result("layer-count").title == "At most 1 layers"


def test_approved_base_by_blob_digest_and_by_os_release(tmp_path: Path) -> None:
    ref = write_oci_layout(tmp_path / "img", good().layers, config=CONFIG)
    plain = review_image(ref, policy=dataclasses.replace(POLICY, approved_base_layers=()))
    assert plain.failed == ["approved-base-image"]
    assert "no approved base images configured" in plain.result("approved-base-image").reason

    manifest = _manifest(tmp_path / "img")
    blob = manifest["layers"][0]["digest"]  # the compressed blob, not the diff_id
    by_blob = review_image(ref, policy=dataclasses.replace(POLICY, approved_base_layers=(blob,)))
    assert (
        by_blob.result("approved-base-image").reason
        == f"layer 0 ({blob}) is an approved base layer"
    )

    other = "sha256:" + "0" * 64
    wrong = dataclasses.replace(
        POLICY, approved_base_layers=(other,), approved_os=(("debian", "11"),)
    )
    failed = review_image(ref, policy=wrong).result("approved-base-image")
    assert not failed.passed
    assert failed.reason == (
        "none of its 2 layers is an approved base layer; its OS is Debian GNU/Linux 12 "
        "(bookworm) (debian 12), not one of the approved (debian 11)"
    )
    for version in ("12", "", "*"):
        policy = dataclasses.replace(wrong, approved_os=(("Debian", version),))
        assert review_image(ref, policy=policy).result("approved-base-image").passed, version


def test_os_versions_match_by_prefix(tmp_path: Path) -> None:
    build = good()
    build.layers[0] = {**BASE, "etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"}
    ref = write_oci_layout(tmp_path / "img", build.layers, config=CONFIG)
    for wanted, ok in (
        (("alpine", "3.19"), True),
        (("alpine", "3.1"), False),
        (("alpine", "3.19.1"), True),
    ):
        policy = ReviewPolicy(approved_os=(wanted,), tags=("1.0",))
        assert review_image(ref, policy=policy).result("approved-base-image").passed is ok, wanted


def _manifest(root: Path) -> dict[str, Any]:
    index = json.loads((root / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    return dict(json.loads((root / "blobs" / "sha256" / digest).read_text()))


def test_the_tag_comes_from_the_reference_when_the_policy_names_none(tmp_path: Path) -> None:
    no_tags = dataclasses.replace(POLICY, tags=())
    build = good()
    assert review(tmp_path, build, no_tags, name="versioned").result("unique-tag").passed
    build.tag = "latest"
    latest = review(tmp_path, build, no_tags, name="latest")
    assert latest.failed == ["unique-tag"]


def test_history_with_empty_layer_entries_is_complete(tmp_path: Path) -> None:
    build = good()
    build.history = [
        {"created_by": "/bin/sh -c #(nop) ADD file:base in /"},
        {"created_by": "/bin/sh -c #(nop) USER app", "empty_layer": True},
        {"created_by": "/bin/sh -c #(nop) COPY dir:app in /"},
    ]
    result = review(tmp_path, build)
    assert result.result("has-history").reason == "3 history entries describe its 2 layers"
    assert result.passed


def test_docker_archives_are_reviewed_too(tmp_path: Path) -> None:
    ref = write_docker_archive(tmp_path / "img.tar", good().layers, "acme/db:1.0", config=CONFIG)
    result = review_image(ref, policy=dataclasses.replace(POLICY, tags=()))
    assert result.failed == []
    assert result.result("unique-tag").reason == "the image is tagged 1.0"


def test_review_serialises_to_json_and_back(tmp_path: Path) -> None:
    build = good()
    change_config(User="")(build)
    result = review(tmp_path, build)
    text = result.to_json()
    data = json.loads(text)
    assert data["failed"] == ["non-root-user"]
    assert data["results"][0] == {
        "id": "non-root-user",
        "title": "Runs as a non-root user",
        "passed": False,
        "reason": "the image sets no user (no USER instruction), so it runs as root",
        "fix_url": "https://docs.docker.com/reference/dockerfile/#user",
        "details": [],
    }
    again = ImageReview.from_json(text)
    assert again == result
    # failed is always derived from the results, whatever a stored copy claims.
    data["failed"] = []
    assert ImageReview.from_dict(data).failed == ["non-root-user"]


def test_docs_base_url_replaces_the_fix_links(tmp_path: Path) -> None:
    policy = dataclasses.replace(POLICY, docs_base_url="https://store.example.com/docs/certify")
    result = review(tmp_path, good(), policy)
    assert (
        result.result("no-secrets").fix_url == "https://store.example.com/docs/certify#no-secrets"
    )


def test_an_unreadable_image_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="OCI layout not found"):
        review_image(f"oci:{tmp_path / 'missing'}:1.0", policy=POLICY)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_layers": 0}, "max_layers must be at least 1"),
        ({"max_layers": True}, "max_layers must be a whole number"),
        ({"approved_base_layers": ("sha256:abc",)}, "is not a digest like sha256:"),
        ({"approved_os": (("", "12"),)}, "must be an (ID, VERSION_ID) pair"),
        ({"required_labels": ("name", " ")}, "required labels must be non-empty"),
    ],
)
def test_policy_refuses_nonsense(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReviewPolicy(**changes)


def test_required_labels_are_configurable(tmp_path: Path) -> None:
    policy = dataclasses.replace(POLICY, required_labels=(*POLICY.required_labels, "maintainer"))
    failed = review(tmp_path, good(), policy).result("required-labels")
    assert (
        failed.reason == "missing or empty label: maintainer (or org.opencontainers.image.authors)"
    )


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("oci:/x/layout:1.0", "1.0"),
        ("oci:/x/layout", None),
        ("docker-archive:/x.tar:acme/db:2.1", "2.1"),
        ("docker-archive:/x.tar:localhost:5000/acme/db", "latest"),
        ("docker-archive:/x.tar:@0", None),
        ("docker://registry.example.com:5000/acme/db:3", "3"),
        ("docker://registry.example.com/acme/db", "latest"),
        ("docker://registry.example.com/acme/db@sha256:" + "a" * 64, None),
    ],
)
def test_tag_of_reference(ref: str, tag: str | None) -> None:
    assert tag_of_reference(ref) == tag


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("API_KEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GITHUB_TOKEN", True),
        ("DB_PASSWORD", True),
        ("DB_PASSWORD_FILE", False),
        ("TOKEN_URL", False),
        ("GPG_KEY", False),
        ("KEYCLOAK_HOST", False),
        ("PATH", False),
    ],
)
def test_secret_environment_names(name: str, secret: bool) -> None:
    assert secret_env_name(name) is secret
