"""Onboarding validation: every problem at once, field by field, files measured for real."""

from __future__ import annotations

import copy
import json
import shutil
import tarfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from models.onboarding import Platform, Problem
from onboarding.validation import (
    CATEGORIES,
    PLATFORM_NONE_MESSAGE,
    DocumentError,
    Eligibility,
    eligibility,
    load_document,
    validate_manifest,
    validate_profile,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def make_png(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (32, 86, 168)).save(path, format="PNG")
    return path


def make_oci_layout(folder: Path, tags: list[str]) -> Path:
    """A folder that looks like `skopeo copy ... oci:folder:tag` output, enough for validation."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + f"{i:064x}",
            "size": 100,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
        for i, tag in enumerate(tags)
    ]
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    (folder / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def base(tmp_path: Path) -> Path:
    make_png(tmp_path / "logo.png", 512, 512)
    make_png(tmp_path / "icon.png", 64, 64)
    make_png(tmp_path / "shots" / "one.png", 1280, 800)
    make_oci_layout(tmp_path / "images" / "app", ["1.0", "latest"])
    return tmp_path


def profile_doc() -> dict[str, Any]:
    return {
        "id": "acme",
        "legal_name": "Acme Data Systems, Inc.",
        "website": "https://www.acme.example.com",
        "phone": "+1 415-555-0100",
        "email": "store@acme.example.com",
        "logo": "logo.png",
        "story": "We build databases.",
    }


def manifest_doc() -> dict[str, Any]:
    return {
        "product": "acme-db",
        "name": "Acme DB",
        "icon": "icon.png",
        "short_description": "A fast SQL database.",
        "category": "Databases",
        "tags": ["database", "sql"],
        "long_description": "Long text\nover lines.",
        "screenshots": ["shots/one.png"],
        "support_link": "https://support.acme.example.com",
        "platform": "enterprise",
        "installation": "docker run acme/acme-db",
        "license_link": "https://www.acme.example.com/license",
        "tiers": [
            {
                "name": "Standard",
                "description": "One node.",
                "price": {"amount": "0.00", "currency": "USD"},
                "source": {"repository": "oci:images/app", "tags": ["1.0"]},
            }
        ],
        "support": {
            "website": "https://support.acme.example.com",
            "email": "support@acme.example.com",
            "sla": {"hours": "24x7", "response_time": "4 hours"},
        },
    }


def fields(problems: list[Problem]) -> set[str]:
    return {p.field for p in problems}


def only_problem(problems: list[Problem], field: str) -> Problem:
    assert [p.field for p in problems] == [field], problems
    return problems[0]


# --------------------------------------------------------------------------- valid documents


def test_valid_profile_passes_with_absolute_logo(base: Path) -> None:
    profile, problems = validate_profile(profile_doc(), base)
    assert problems == []
    assert profile is not None
    assert profile.id == "acme"
    assert profile.logo == str((base / "logo.png").resolve())
    assert Path(profile.logo).is_absolute()


def test_valid_manifest_passes_with_resolved_paths(base: Path) -> None:
    manifest, problems = validate_manifest(manifest_doc(), base)
    assert problems == []
    assert manifest is not None
    assert manifest.platform is Platform.ENTERPRISE
    assert manifest.icon == str((base / "icon.png").resolve())
    assert manifest.screenshots == [str((base / "shots" / "one.png").resolve())]
    tier = manifest.tiers[0]
    assert tier.source.repository == f"oci:{(base / 'images' / 'app').resolve()}"
    assert tier.source.tags == ["1.0"]
    assert tier.price.amount == Decimal("0.00")
    assert manifest.support is not None and manifest.support.sla is not None


def test_stored_models_revalidate_cleanly(base: Path, tmp_path_factory: Any) -> None:
    """The worker re-runs validation on the stored model: absolute paths, Decimal as text."""
    profile, _ = validate_profile(profile_doc(), base)
    manifest, _ = validate_manifest(manifest_doc(), base)
    assert profile is not None and manifest is not None
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    for dump in (manifest.model_dump(mode="json"), manifest.model_dump()):
        again, problems = validate_manifest(dump, elsewhere)
        assert problems == []
        assert again == manifest
    again_profile, problems = validate_profile(profile.model_dump(mode="json"), elsewhere)
    assert problems == [] and again_profile == profile


def test_community_product_needs_no_support(base: Path) -> None:
    doc = manifest_doc()
    doc["platform"] = "community"
    del doc["support"]
    manifest, problems = validate_manifest(doc, base)
    assert problems == []
    assert manifest is not None and manifest.support is None


def test_examples_validate_once_the_image_exists(tmp_path: Path) -> None:
    copy_dir = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy_dir, ignore=shutil.ignore_patterns("images"))
    profile, problems = validate_profile(load_document(copy_dir / "profile.yaml"), copy_dir)
    assert problems == []
    assert profile is not None and profile.id == "acme"

    raw = load_document(copy_dir / "manifest.yaml")
    _, problems = validate_manifest(raw, copy_dir)
    assert fields(problems) == {"tiers[0].source.repository"}  # the image is not built yet

    make_oci_layout(copy_dir / "images" / "acme-db", ["1.0"])
    manifest, problems = validate_manifest(raw, copy_dir)
    assert problems == []
    assert manifest is not None
    assert manifest.product == "acme-db"
    assert manifest.platform is Platform.ENTERPRISE
    assert [t.name for t in manifest.tiers] == ["Standard"]
    assert manifest.tiers[0].price.amount == Decimal("0.00")
    assert manifest.tiers[0].price.currency == "USD"
    assert manifest.tiers[0].source.repository == f"oci:{copy_dir.resolve()}/images/acme-db"
    assert manifest.tiers[0].source.tags == ["1.0"]


def test_example_images_have_the_sizes_the_rules_need() -> None:
    with Image.open(EXAMPLES / "acme-logo.png") as logo:
        assert logo.size == (512, 512)
    with Image.open(EXAMPLES / "acme-db-icon.png") as icon:
        assert icon.size == (128, 128)
    with Image.open(EXAMPLES / "screenshot.png") as shot:
        assert shot.size == (1280, 800)


# --------------------------------------------------------------------------- all at once


def test_profile_with_many_faults_reports_every_field(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_text("not an image")
    raw = {
        "id": "Acme Inc",
        "legal_name": "",
        "website": "ftp://acme.example.com",
        "phone": "555-0100",
        "email": "store@",
        "logo": "logo.png",
        "colour": "blue",
    }
    profile, problems = validate_profile(raw, tmp_path)
    assert profile is None
    assert fields(problems) == {
        "id",
        "legal_name",
        "website",
        "phone",
        "email",
        "logo",
        "colour",
    }


def test_manifest_with_many_faults_reports_every_field(base: Path) -> None:
    make_png(base / "wide.png", 200, 100)
    raw = {
        "product": "-bad-",
        "name": "Acme DB",
        "icon": "wide.png",
        "short_description": "x" * 141,
        "category": "Games",
        "tags": ["sql", "sql", "Bad Tag"],
        "long_description": "ok",
        "screenshots": ["missing.png"],
        "support_link": "not a url",
        "platform": "none",
        "installation": "ok",
        "license_link": "https://acme.example.com/license",
        "tiers": [
            {
                "name": "Standard",
                "description": "ok",
                "price": {"amount": "1.999", "currency": "usd"},
                "source": {"repository": "oci:images/app", "tags": ["1.0"]},
            },
            {
                "name": "standard",
                "description": "ok",
                "price": {"amount": -1, "currency": "EUR"},
                "source": {"repository": "docker://acme/db", "tags": [1.0, "ok", "ok"]},
                "prise": 3,
            },
            "not a tier",
        ],
        "support": {"phone": "+1 555 0100"},
        "extra": True,
    }
    manifest, problems = validate_manifest(raw, base)
    assert manifest is None
    assert fields(problems) == {
        "product",
        "icon",
        "short_description",
        "category",
        "tags[1]",
        "tags[2]",
        "screenshots[0]",
        "support_link",
        "platform",
        "tiers[0].price.amount",
        "tiers[0].price.currency",
        "tiers[1].name",
        "tiers[1].price.amount",
        "tiers[1].source.repository",
        "tiers[1].source.tags[0]",
        "tiers[1].source.tags[2]",
        "tiers[1].prise",
        "tiers[2]",
        "support",
        "support.phone",
        "extra",
    }
    by_field = {p.field: p.message for p in problems}
    assert "'price'" in by_field["tiers[1].prise"]  # the typo gets a suggestion
    assert by_field["platform"] == PLATFORM_NONE_MESSAGE


def test_missing_fields_are_each_reported(base: Path) -> None:
    _, problems = validate_manifest({}, base)
    assert fields(problems) == {
        "product",
        "name",
        "icon",
        "short_description",
        "category",
        "tags",
        "long_description",
        "screenshots",
        "support_link",
        "platform",
        "installation",
        "license_link",
        "tiers",
    }
    assert {p.message for p in problems} == {"is required"}
    _, problems = validate_profile({"story": "only a story"}, base)
    assert fields(problems) == {"id", "legal_name", "website", "phone", "email", "logo"}


def test_document_that_is_not_a_mapping(base: Path) -> None:
    profile, problems = validate_profile(["id", "acme"], base)
    assert profile is None
    assert only_problem(problems, "(document)").message.startswith("must be a mapping")


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("size", "shown"),
    [((511, 511), "511x511"), ((600, 512), "600x512"), ((300, 300), "300x300")],
)
def test_logo_pixel_size_is_measured(base: Path, size: tuple[int, int], shown: str) -> None:
    make_png(base / "small.png", *size)
    doc = profile_doc() | {"logo": "small.png"}
    profile, problems = validate_profile(doc, base)
    assert profile is None
    message = only_problem(problems, "logo").message
    assert shown in message
    assert "square" in message and "512x512" in message


def test_logo_that_is_not_an_image(base: Path) -> None:
    (base / "fake.png").write_text("<svg>not really a png</svg>")
    _, problems = validate_profile(profile_doc() | {"logo": "fake.png"}, base)
    assert "not an image" in only_problem(problems, "logo").message


def test_logo_truncated_image(base: Path) -> None:
    data = (base / "logo.png").read_bytes()
    (base / "cut.png").write_bytes(data[: len(data) // 2])
    _, problems = validate_profile(profile_doc() | {"logo": "cut.png"}, base)
    only_problem(problems, "logo")


def test_logo_missing_file_and_folder(base: Path) -> None:
    _, problems = validate_profile(profile_doc() | {"logo": "nope.png"}, base)
    assert "file not found" in only_problem(problems, "logo").message
    _, problems = validate_profile(profile_doc() | {"logo": "shots"}, base)
    assert "not a file" in only_problem(problems, "logo").message


def test_logo_absolute_path_and_larger_square_pass(base: Path, tmp_path_factory: Any) -> None:
    big = make_png(tmp_path_factory.mktemp("abs") / "big.png", 1024, 1024)
    profile, problems = validate_profile(profile_doc() | {"logo": str(big)}, base)
    assert problems == [] and profile is not None and profile.logo == str(big)


def test_icon_rules(base: Path) -> None:
    make_png(base / "tiny.png", 63, 63)
    _, problems = validate_manifest(manifest_doc() | {"icon": "tiny.png"}, base)
    message = only_problem(problems, "icon").message
    assert "63x63" in message and "at least 64x64" in message


def test_screenshots_need_one_real_image(base: Path) -> None:
    (base / "notes.png").write_text("hello")
    _, problems = validate_manifest(manifest_doc() | {"screenshots": []}, base)
    only_problem(problems, "screenshots")
    doc = manifest_doc() | {"screenshots": ["shots/one.png", "notes.png"]}
    _, problems = validate_manifest(doc, base)
    only_problem(problems, "screenshots[1]")


# --------------------------------------------------------------------------- rule by rule

Mutator = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutator:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        ("id", "a", "id", "2-40"),
        ("id", "ACME", "id", "lowercase"),
        ("id", "x" * 41, "id", "2-40"),
        ("id", "-acme", "id", "starting and ending"),
        ("legal_name", "Acme\nInc", "legal_name", "single line"),
        ("legal_name", 42, "legal_name", "must be text"),
        ("website", "acme.example.com", "website", "http"),
        ("website", "https://", "website", "host"),
        ("website", "https://exa mple.com", "website", "spaces"),
        ("phone", "+1 415 55", "phone", "7-15 digits"),
        ("phone", "+1234567890123456", "phone", "7-15 digits"),
        ("phone", "14155550100", "phone", "'+'"),
        ("phone", "+1 (415) 555-0100", "phone", "spaces and dashes"),
        ("email", "store.acme.example.com", "email", "not a valid email"),
        ("email", "Store <store@acme.example.com>", "email", "not a valid email"),
        ("story", 12, "story", "must be text"),
    ],
)
def test_profile_rules(base: Path, path: str, value: Any, field: str, fragment: str) -> None:
    doc = profile_doc()
    _set(path, value)(doc)
    profile, problems = validate_profile(doc, base)
    assert profile is None
    assert fragment in only_problem(problems, field).message


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        ("product", "Acme_DB", "product", "lowercase"),
        ("name", "  ", "name", "must not be empty"),
        ("short_description", "", "short_description", "must not be empty"),
        ("short_description", "y" * 150, "short_description", "it has 150"),
        ("category", "databases", "category", "did you mean 'Databases'"),
        ("category", "Toys", "category", "Business Software"),
        ("tags", [], "tags", "at least 1"),
        ("tags", "sql", "tags", "must be a list"),
        ("tags", ["SQL"], "tags[0]", "lowercase"),
        ("tags", ["sql", "db", "sql"], "tags[2]", "duplicate"),
        ("tags", ["x" * 31], "tags[0]", "at most 30"),
        ("long_description", None, "long_description", "is required"),
        ("screenshots", "one.png", "screenshots", "must be a list"),
        ("support_link", "mailto:help@acme.example.com", "support_link", "http"),
        ("platform", "windows", "platform", "enterprise, community, none"),
        ("installation", ["step"], "installation", "must be text"),
        ("license_link", "https://-bad-.com", "license_link", "invalid host"),
        ("tiers", [], "tiers", "at least 1"),
        ("tiers.0.name", None, "tiers[0].name", "is required"),
        ("tiers.0.description", "", "tiers[0].description", "must not be empty"),
        ("tiers.0.price", "free", "tiers[0].price", "mapping"),
        ("tiers.0.price.amount", "1.234", "tiers[0].price.amount", "more than 2 decimals"),
        ("tiers.0.price.amount", -0.5, "tiers[0].price.amount", "0 or more"),
        ("tiers.0.price.amount", "ten", "tiers[0].price.amount", "not a number"),
        ("tiers.0.price.amount", "NaN", "tiers[0].price.amount", "not a number"),
        ("tiers.0.price.amount", True, "tiers[0].price.amount", "must be a number"),
        ("tiers.0.price.currency", "US", "tiers[0].price.currency", "ISO 4217"),
        ("tiers.0.price.currency", "usd", "tiers[0].price.currency", "ISO 4217"),
        ("tiers.0.price.colour", "red", "tiers[0].price.colour", "unknown field"),
        ("tiers.0.source.repository", "images/app", "tiers[0].source.repository", "oci:PATH"),
        ("tiers.0.source.repository", "docker://x/y", "tiers[0].source.repository", "oci:PATH"),
        ("tiers.0.source.repository", "oci:", "tiers[0].source.repository", "names no path"),
        ("tiers.0.source.repository", "oci:nope", "tiers[0].source.repository", "not found"),
        ("tiers.0.source.repository", "oci:shots", "tiers[0].source.repository", "no oci-layout"),
        ("tiers.0.source.repository", "oci:images/app:1.0", "tiers[0].source.repository", "':'"),
        (
            "tiers.0.source.repository",
            "docker-archive:logo.png",
            "tiers[0].source.repository",
            "tar",
        ),
        ("tiers.0.source.tags", [], "tiers[0].source.tags", "at least 1"),
        ("tiers.0.source.tags", ["2.0"], "tiers[0].source.repository", "no image tagged 2.0"),
        ("tiers.0.source.tags", [1.0], "tiers[0].source.tags[0]", 'quotes, e.g. "1.0"'),
        ("tiers.0.source.tags", [".hidden"], "tiers[0].source.tags[0]", "valid image tag"),
        ("tiers.0.source.tags", ["a" * 129], "tiers[0].source.tags[0]", "valid image tag"),
        ("tiers.0.source.tags", ["1.0", "1.0"], "tiers[0].source.tags[1]", "duplicate"),
        ("support", _DELETE, "support", "required for products on Enterprise"),
        ("support.sla", _DELETE, "support.sla", "required for Enterprise"),
        ("support.sla.hours", "", "support.sla.hours", "must not be empty"),
        ("support.sla.response_time", None, "support.sla.response_time", "is required"),
        ("support.email", "nobody", "support.email", "not a valid email"),
        ("support.website", "support", "support.website", "http"),
    ],
)
def test_manifest_rules(base: Path, path: str, value: Any, field: str, fragment: str) -> None:
    doc = manifest_doc()
    _set(path, value)(doc)
    manifest, problems = validate_manifest(doc, base)
    assert manifest is None
    assert fragment in only_problem(problems, field).message


def test_short_description_limit_is_inclusive(base: Path) -> None:
    _, problems = validate_manifest(manifest_doc() | {"short_description": "z" * 140}, base)
    assert problems == []


def test_every_category_is_accepted(base: Path) -> None:
    assert len(CATEGORIES) == 16
    for category in CATEGORIES:
        _, problems = validate_manifest(manifest_doc() | {"category": category}, base)
        assert problems == [], category


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, "0.00"),
        ("9.99", "9.99"),
        (9.99, "9.99"),
        (19.9, "19.90"),
        ("1.500", "1.50"),
        (100, "100.00"),
    ],
)
def test_price_amounts(base: Path, amount: Any, expected: str) -> None:
    doc = manifest_doc()
    doc["tiers"][0]["price"]["amount"] = amount
    manifest, problems = validate_manifest(doc, base)
    assert problems == [] and manifest is not None
    assert manifest.tiers[0].price.amount == Decimal(expected)


def test_docker_archive_source(base: Path) -> None:
    archive = base / "app.tar"
    with tarfile.open(archive, "w") as tar:
        manifest_json = base / "manifest.json"
        manifest_json.write_text("[]")
        tar.add(manifest_json, arcname="manifest.json")
    doc = manifest_doc()
    doc["tiers"][0]["source"]["repository"] = "docker-archive:app.tar"
    manifest, problems = validate_manifest(doc, base)
    assert problems == [] and manifest is not None
    assert manifest.tiers[0].source.repository == f"docker-archive:{archive.resolve()}"


def test_unknown_fields_at_every_level(base: Path) -> None:
    doc = manifest_doc()
    doc["sumary"] = "typo"
    doc["tiers"][0]["source"]["tag"] = ["1.0"]
    doc["support"]["sla"]["days"] = "mon-fri"
    _, problems = validate_manifest(doc, base)
    by_field = {p.field: p.message for p in problems}
    assert set(by_field) == {"sumary", "tiers[0].source.tag", "support.sla.days"}
    assert "did you mean 'tags'" in by_field["tiers[0].source.tag"]
    assert all(m.startswith("unknown field") for m in by_field.values())


def test_support_needs_website_or_email(base: Path) -> None:
    doc = manifest_doc()
    doc["support"] = {"sla": {"hours": "9-17", "response_time": "1 day"}}
    _, problems = validate_manifest(doc, base)
    assert "website or email" in only_problem(problems, "support").message
    doc["support"]["email"] = "help@acme.example.com"
    _, problems = validate_manifest(doc, base)
    assert problems == []


def test_community_support_is_validated_when_given(base: Path) -> None:
    doc = manifest_doc()
    doc["platform"] = "community"
    doc["support"] = {"email": "not-an-email"}
    _, problems = validate_manifest(doc, base)
    only_problem(problems, "support.email")
    doc["support"] = {"email": "help@acme.example.com"}  # no SLA needed for community
    _, problems = validate_manifest(doc, base)
    assert problems == []


def test_platform_none_cannot_publish(base: Path) -> None:
    doc = manifest_doc()
    doc["platform"] = "none"
    del doc["support"]
    manifest, problems = validate_manifest(doc, base)
    assert manifest is None
    problem = only_problem(problems, "platform")
    assert str(problem) == (
        "platform: products that do not run on certified infrastructure "
        "(Enterprise or Community Edition) cannot be published"
    )


def test_eligibility_table() -> None:
    assert eligibility(Platform.ENTERPRISE) == Eligibility(True, True, True)
    assert eligibility("community") == Eligibility(True, False, False)
    assert eligibility(Platform.NONE) == Eligibility(False, False, False)
    with pytest.raises(ValueError):
        eligibility("windows")


def test_input_document_is_not_modified(base: Path) -> None:
    doc = manifest_doc()
    before = copy.deepcopy(doc)
    validate_manifest(doc, base)
    assert doc == before


# --------------------------------------------------------------------------- loading


def test_load_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("id: acme\ntags: ['1.0']\n")
    assert load_document(tmp_path / "p.yaml") == {"id": "acme", "tags": ["1.0"]}
    (tmp_path / "p.json").write_text('{"id": "acme"}')
    assert load_document(tmp_path / "p.json") == {"id": "acme"}


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text("product: acme-db\nname: [Acme DB\ncategory: Databases\n")
    with pytest.raises(DocumentError) as info:
        load_document(path)
    message = info.value.message
    assert str(path) in message
    assert "invalid YAML at line 3, column" in message
    assert "\n" not in message


def test_yaml_bad_indentation(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("id: acme\n  legal_name: Acme\n")
    with pytest.raises(DocumentError, match=r"invalid YAML at line 2, column \d+"):
        load_document(path)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("id: acme\nemail: a@acme.example.com\nemail: b@acme.example.com\n")
    with pytest.raises(DocumentError, match=r"line 3, column 1: duplicate key 'email'"):
        load_document(path)


def test_json_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"product": "acme-db",\n "name": }')
    with pytest.raises(DocumentError, match=r"invalid JSON at line 2, column 10"):
        load_document(path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("", "empty"), ("# only a comment\n", "empty"), ("- a\n- b\n", "a list"), ("acme\n", "text")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(content)
    with pytest.raises(DocumentError, match=fragment):
        load_document(path)


def test_missing_unreadable_and_non_file_documents(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no such file"):
        load_document(tmp_path / "nope.yaml")
    with pytest.raises(DocumentError, match="not a file"):
        load_document(tmp_path)
    binary = tmp_path / "logo.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DocumentError, match="not UTF-8"):
        load_document(binary)
