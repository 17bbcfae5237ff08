"""Field-by-field validation of publisher profiles and product manifests (spec step 1).

A publisher writes YAML; ``load_document`` turns it into plain data, and
``validate_profile`` / ``validate_manifest`` check every field and report every
problem at once, with a dotted path (``tiers[1].price.amount``) and a message a
publisher can act on. Only a document without a single problem becomes a model.

File checks (logo, icon, screenshots, image sources) look at the real files, so
the worker re-runs these functions as an activity on the stored model (dumped
back to a dict): paths are absolute by then and validate the same way.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml
from email_validator import EmailNotValidError, validate_email
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from models.onboarding import Platform, Problem, ProductManifest, PublisherProfile, Tier

__all__ = [
    "CATEGORIES",
    "DocumentError",
    "Eligibility",
    "eligibility",
    "load_document",
    "validate_manifest",
    "validate_profile",
]

CATEGORIES: tuple[str, ...] = (
    "Analytics",
    "Application Frameworks",
    "Application Infrastructure",
    "Application Services",
    "Base Images",
    "Databases",
    "DevOps Tools",
    "Featured Images",
    "Messaging Services",
    "Monitoring",
    "Networking",
    "Operating Systems",
    "Programming Languages",
    "Security",
    "Storage",
    "Business Software",
)

SHORT_DESCRIPTION_MAX = 140
LOGO_MIN_PX = 512
ICON_MIN_PX = 64
SEARCH_TAG_MAX_LEN = 30
SEARCH_TAGS_MAX = 20
NAME_MAX_LEN = 100
# Raster formats a catalog page can show; the pixel size must be measurable.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
IMAGE_SOURCE_TRANSPORTS = ("oci", "docker-archive")

# A leading '-' would read as an option on the command line, hence the edges.
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$")
_IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SEARCH_TAG_RE = re.compile(r"^[a-z0-9+#.](?:[a-z0-9+#. -]*[a-z0-9+#.])?$")
_PHONE_RE = re.compile(r"^\+[0-9][0-9 -]*$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_OCI_REF_NAME = "org.opencontainers.image.ref.name"


class DocumentError(Exception):
    """A profile or manifest file cannot be read as a document; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Eligibility:
    """What a product may do in the store, by the platform it runs on."""

    may_publish: bool
    may_certify: bool
    support_required: bool


_ELIGIBILITY: dict[Platform, Eligibility] = {
    Platform.ENTERPRISE: Eligibility(may_publish=True, may_certify=True, support_required=True),
    Platform.COMMUNITY: Eligibility(may_publish=True, may_certify=False, support_required=False),
    Platform.NONE: Eligibility(may_publish=False, may_certify=False, support_required=False),
}

PLATFORM_NONE_MESSAGE = (
    "products that do not run on certified infrastructure "
    "(Enterprise or Community Edition) cannot be published"
)


def eligibility(platform: Platform | str) -> Eligibility:
    """The eligibility table of spec step 1; raises ValueError for an unknown platform."""
    return _ELIGIBILITY[Platform(platform)]


# --------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML would silently keep the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: let construct_mapping report it
            duplicate = False
        if duplicate:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
        if not isinstance(key, list | dict):
            seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def load_document(path: Path) -> object:
    """Read a YAML (or ``.json``) document whose top level is a mapping.

    Raises DocumentError with a one-line message for a missing, unreadable or
    malformed file (with line and column) or a top level that is not a mapping.
    """
    path = Path(path)
    if not path.exists():
        raise DocumentError(f"{path}: no such file")
    if not path.is_file():
        raise DocumentError(f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror or exc})") from exc

    data: object
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(
                f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
    else:
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            what = exc.problem or exc.context or "syntax error"
            raise DocumentError(f"{path}: invalid YAML{where}: {what}") from exc
        except yaml.YAMLError as exc:
            raise DocumentError(f"{path}: invalid YAML: {_one_line(str(exc))}") from exc

    if data is None:
        raise DocumentError(f"{path}: the document is empty")
    if not isinstance(data, dict):
        raise DocumentError(
            f"{path}: the top level must be a mapping of fields (found {_kind(data)})"
        )
    return data


# --------------------------------------------------------------------------- helpers


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _kind(value: object) -> str:
    """How a value reads to a publisher who wrote YAML."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}, a yes/no value"
    if isinstance(value, int | float | Decimal):
        return f"a number ({value})"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date):
        return f"a date ({value.isoformat()})"
    return type(value).__name__


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _is_url(value: str) -> str | None:
    """None if ``value`` is an http(s) URL with a host, else what is wrong with it."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not value.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        return "must be an http:// or https:// URL"
    if any(ch.isspace() for ch in value):
        return "must not contain spaces"
    host = parts.hostname
    if not host:
        return "must name a host, e.g. https://www.example.com"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"has an invalid host {host!r}"
        return None
    labels = host.split(".")
    for label in labels:
        if not label or label.startswith("-") or label.endswith("-"):
            return f"has an invalid host {host!r}"
        if not all(ch.isalnum() or ch == "-" for ch in label):
            return f"has an invalid host {host!r}"
    return None


class _Checker:
    """Collects problems while walking one document; never stops at the first."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.problems: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(field=field or "(document)", message=message))

    # structure ---------------------------------------------------------------

    def mapping(self, value: object, path: str, allowed: Iterable[str]) -> dict[str, Any] | None:
        """The mapping at ``path`` with unknown keys reported, or None if not a mapping."""
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping of fields (found {_kind(value)})")
            return None
        allowed = list(allowed)
        for key in value:
            if str(key) in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(
                _join(path, str(key)),
                f"unknown field{hint} (allowed here: {', '.join(allowed)})",
            )
        return {str(k): v for k, v in value.items()}

    def present(self, doc: Mapping[str, Any], key: str, path: str, required: bool) -> Any:
        """The value of ``key``, treating null as absent; reports a missing required one."""
        value = doc.get(key)
        if value is None and required:
            self.add(_join(path, key), "is required")
        return value

    def text(
        self,
        doc: Mapping[str, Any],
        key: str,
        path: str = "",
        *,
        required: bool = True,
        single_line: bool = True,
        max_len: int | None = None,
    ) -> str | None:
        """A non-blank string; single-line fields may not hold line breaks or controls."""
        field = _join(path, key)
        value = self.present(doc, key, path, required)
        if value is None:
            return None
        return self.string(value, field, single_line=single_line, max_len=max_len)

    def string(
        self,
        value: object,
        field: str,
        *,
        single_line: bool = True,
        max_len: int | None = None,
    ) -> str | None:
        if not isinstance(value, str):
            # YAML turns unquoted 1.0, yes, 2024-01-01 into numbers, booleans, dates.
            quote = "; put it in quotes" if isinstance(value, int | float | date) else ""
            self.add(field, f"must be text (found {_kind(value)}){quote}")
            return None
        if not value.strip():
            self.add(field, "must not be empty")
            return None
        if single_line:
            value = value.strip()
            if _CONTROL_RE.search(value):
                self.add(field, "must be a single line without control characters")
                return None
        if max_len is not None and len(value) > max_len:
            self.add(field, f"must be at most {max_len} characters (it has {len(value)})")
            return None
        return value

    def listing(
        self, doc: Mapping[str, Any], key: str, path: str = "", *, min_items: int = 1
    ) -> list[Any] | None:
        field = _join(path, key)
        value = self.present(doc, key, path, required=True)
        if value is None:
            return None
        if not isinstance(value, list):
            self.add(field, f"must be a list (found {_kind(value)})")
            return None
        if len(value) < min_items:
            self.add(field, f"must list at least {min_items} item{'s' if min_items > 1 else ''}")
            return None
        return value

    # field kinds -------------------------------------------------------------

    def slug(self, doc: Mapping[str, Any], key: str) -> str | None:
        value = self.text(doc, key)
        if value is None:
            return None
        if not _SLUG_RE.match(value):
            self.add(
                key,
                f"{value!r} is not a valid identifier: use 2-40 lowercase letters, digits "
                "and '-', starting and ending with a letter or digit",
            )
            return None
        return value

    def url(
        self, doc: Mapping[str, Any], key: str, path: str = "", *, required: bool = True
    ) -> str | None:
        value = self.text(doc, key, path, required=required)
        if value is None:
            return None
        wrong = _is_url(value)
        if wrong:
            self.add(_join(path, key), f"{value!r} {wrong}")
            return None
        return value

    def email(
        self, doc: Mapping[str, Any], key: str, path: str = "", *, required: bool = True
    ) -> str | None:
        value = self.text(doc, key, path, required=required)
        if value is None:
            return None
        try:
            # Syntax only: a DNS lookup would make validation depend on the network.
            info = validate_email(value, check_deliverability=False, test_environment=True)
        except EmailNotValidError as exc:
            self.add(_join(path, key), f"{value!r} is not a valid email address: {exc}")
            return None
        return str(info.normalized)

    def phone(self, doc: Mapping[str, Any], key: str) -> str | None:
        value = self.text(doc, key)
        if value is None:
            return None
        digits = sum(ch.isdigit() for ch in value)
        if not _PHONE_RE.match(value) or not 7 <= digits <= 15 or value[1] == "0":
            self.add(
                key,
                f"{value!r} is not an international phone number: write '+', the country "
                f"code and 7-15 digits in all (spaces and dashes allowed), "
                f"e.g. +1 415-555-0100",
            )
            return None
        return value

    def resolve(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        return path.resolve()

    def image(
        self,
        value: object,
        field: str,
        *,
        min_px: int | None = None,
        square: bool = False,
        what: str = "image",
    ) -> str | None:
        """An existing raster image file, measured from its real pixels; its absolute path."""
        raw = self.string(value, field)
        if raw is None:
            return None
        path = self.resolve(raw)
        if not path.exists():
            self.add(field, f"file not found: {path}")
            return None
        if not path.is_file():
            self.add(field, f"not a file: {path}")
            return None
        need = []
        if square:
            need.append("square")
        if min_px:
            need.append(f"at least {min_px}x{min_px} px")
        rule = f"the {what} must be {' and '.join(need)}" if need else ""
        try:
            with Image.open(path) as img:
                width, height = img.size
                fmt = img.format or "unknown"
                # verify() walks the file (chunk checksums for PNG) without decoding it all.
                img.verify()
        except Image.DecompressionBombError:
            self.add(field, f"{path.name} is too large to be an image the store accepts")
            return None
        except UnidentifiedImageError:
            self.add(field, f"{path.name} is not an image ({', '.join(IMAGE_FORMATS)} expected)")
            return None
        except (OSError, SyntaxError, ValueError) as exc:
            # Pillow reports broken image data as any of these.
            self.add(field, f"{path.name} is a damaged image: {_one_line(str(exc))}")
            return None
        if fmt not in IMAGE_FORMATS:
            self.add(field, f"{path.name} is a {fmt} image; use {', '.join(IMAGE_FORMATS)}")
            return None
        if (square and width != height) or (min_px and min(width, height) < min_px):
            self.add(field, f"{path.name} is {width}x{height} px; {rule}")
            return None
        return str(path)


# --------------------------------------------------------------------------- profile

# The accepted fields are the models' own, so a new model field cannot be refused as unknown.
_PROFILE_FIELDS = tuple(PublisherProfile.model_fields)


def validate_profile(raw: object, base_dir: Path) -> tuple[PublisherProfile | None, list[Problem]]:
    """Check a publisher profile; the model only if there is no problem at all.

    Relative paths (the logo) are resolved against ``base_dir`` and stored absolute.
    """
    c = _Checker(base_dir)
    doc = c.mapping(raw, "", _PROFILE_FIELDS)
    if doc is None:
        return None, c.problems
    values: dict[str, Any] = {
        "id": c.slug(doc, "id"),
        "legal_name": c.text(doc, "legal_name", max_len=200),
        "website": c.url(doc, "website"),
        "phone": c.phone(doc, "phone"),
        "email": c.email(doc, "email"),
    }
    logo = c.present(doc, "logo", "", required=True)
    values["logo"] = (
        None
        if logo is None
        else c.image(logo, "logo", min_px=LOGO_MIN_PX, square=True, what="logo")
    )
    story = doc.get("story")
    if story is not None and not (isinstance(story, str) and not story.strip()):
        values["story"] = c.string(story, "story", single_line=False, max_len=10_000)
    else:
        values["story"] = ""
    return _build(PublisherProfile, values, c)


# --------------------------------------------------------------------------- manifest

_MANIFEST_FIELDS = tuple(ProductManifest.model_fields)
_TIER_FIELDS = tuple(Tier.model_fields)
_PRICE_FIELDS = ("amount", "currency")
_SOURCE_FIELDS = ("repository", "tags")
_SUPPORT_FIELDS = ("website", "email", "sla")
_SLA_FIELDS = ("hours", "response_time")


def validate_manifest(raw: object, base_dir: Path) -> tuple[ProductManifest | None, list[Problem]]:
    """Check a product manifest, eligibility included; the model only if there is no problem.

    Relative paths (icon, screenshots, image sources) are resolved against
    ``base_dir`` and stored absolute.
    """
    c = _Checker(base_dir)
    doc = c.mapping(raw, "", _MANIFEST_FIELDS)
    if doc is None:
        return None, c.problems

    values: dict[str, Any] = {
        "product": c.slug(doc, "product"),
        "name": c.text(doc, "name", max_len=NAME_MAX_LEN),
    }
    icon = c.present(doc, "icon", "", required=True)
    values["icon"] = (
        None
        if icon is None
        else c.image(icon, "icon", min_px=ICON_MIN_PX, square=True, what="icon")
    )
    values["short_description"] = c.text(doc, "short_description", max_len=SHORT_DESCRIPTION_MAX)
    values["category"] = _category(c, doc)
    values["tags"] = _search_tags(c, doc)
    values["long_description"] = c.text(doc, "long_description", single_line=False)
    values["screenshots"] = _screenshots(c, doc)
    values["support_link"] = c.url(doc, "support_link")
    platform = _platform(c, doc)
    values["platform"] = platform
    values["installation"] = c.text(doc, "installation", single_line=False)
    values["license_link"] = c.url(doc, "license_link")
    values["tiers"] = _tiers(c, doc)
    values["support"] = _support(c, doc, platform)
    return _build(ProductManifest, values, c)


def _category(c: _Checker, doc: Mapping[str, Any]) -> str | None:
    value = c.text(doc, "category")
    if value is None:
        return None
    if value in CATEGORIES:
        return value
    folded = {cat.casefold(): cat for cat in CATEGORIES}
    hint = f"; did you mean {folded[value.casefold()]!r}?" if value.casefold() in folded else ""
    c.add("category", f"{value!r} is not a store category{hint} (one of: {', '.join(CATEGORIES)})")
    return None


def _search_tags(c: _Checker, doc: Mapping[str, Any]) -> list[str] | None:
    items = c.listing(doc, "tags")
    if items is None:
        return None
    if len(items) > SEARCH_TAGS_MAX:
        c.add("tags", f"must list at most {SEARCH_TAGS_MAX} search tags (it has {len(items)})")
    ok = True
    seen: dict[str, int] = {}
    result: list[str] = []
    for i, item in enumerate(items):
        field = f"tags[{i}]"
        tag = c.string(item, field, max_len=SEARCH_TAG_MAX_LEN)
        if tag is None:
            ok = False
            continue
        if not _SEARCH_TAG_RE.match(tag):
            c.add(
                field,
                f"{tag!r} is not a search tag: use lowercase letters, digits, spaces and - + . #",
            )
            ok = False
            continue
        if tag in seen:
            c.add(field, f"duplicate search tag {tag!r} (also tags[{seen[tag]}])")
            ok = False
            continue
        seen[tag] = i
        result.append(tag)
    return result if ok else None


def _screenshots(c: _Checker, doc: Mapping[str, Any]) -> list[str] | None:
    items = c.listing(doc, "screenshots")
    if items is None:
        return None
    paths = [c.image(item, f"screenshots[{i}]", what="screenshot") for i, item in enumerate(items)]
    return [p for p in paths if p is not None] if all(paths) else None


def _platform(c: _Checker, doc: Mapping[str, Any]) -> Platform | None:
    value = c.text(doc, "platform")
    if value is None:
        return None
    try:
        platform = Platform(value.lower())
    except ValueError:
        choices = ", ".join(p.value for p in Platform)
        c.add("platform", f"{value!r} is not a platform (one of: {choices})")
        return None
    if not eligibility(platform).may_publish:
        c.add("platform", PLATFORM_NONE_MESSAGE)
    return platform


def _tiers(c: _Checker, doc: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    items = c.listing(doc, "tiers")
    if items is None:
        return None
    tiers: list[dict[str, Any] | None] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        path = f"tiers[{i}]"
        tier = c.mapping(item, path, _TIER_FIELDS)
        if tier is None:
            tiers.append(None)
            continue
        name = c.text(tier, "name", path, max_len=NAME_MAX_LEN)
        if name is not None:
            key = name.casefold()
            if key in names:
                c.add(f"{path}.name", f"duplicate tier name {name!r} (also tiers[{names[key]}])")
                name = None
            else:
                names[key] = i
        values = {
            "name": name,
            "description": c.text(tier, "description", path, single_line=False),
            "price": _price(c, tier, path),
            "source": _source(c, tier, path),
        }
        tiers.append(values if all(v is not None for v in values.values()) else None)
    return [t for t in tiers if t is not None] if all(tiers) else None


def _price(c: _Checker, tier: Mapping[str, Any], path: str) -> dict[str, Any] | None:
    raw = c.present(tier, "price", path, required=True)
    if raw is None:
        return None
    path = _join(path, "price")
    price = c.mapping(raw, path, _PRICE_FIELDS)
    if price is None:
        return None
    amount = _amount(c, price, path)
    currency = c.text(price, "currency", path)
    if currency is not None and not _CURRENCY_RE.match(currency):
        c.add(
            f"{path}.currency",
            f"{currency!r} is not a currency code: use the 3 capital letters of ISO 4217, "
            "e.g. USD, EUR",
        )
        currency = None
    if amount is None or currency is None:
        return None
    return {"amount": amount, "currency": currency}


def _amount(c: _Checker, price: Mapping[str, Any], path: str) -> Decimal | None:
    field = f"{path}.amount"
    value = c.present(price, "amount", path, required=True)
    if value is None:
        return None
    amount: Decimal
    if isinstance(value, bool):
        c.add(field, f"must be a number (found {_kind(value)})")
        return None
    try:
        if isinstance(value, Decimal | int):
            amount = Decimal(value)
        elif isinstance(value, float):
            # str() gives the shortest decimal that reads back as this float: 9.99, not 9.990000…
            amount = Decimal(str(value))
        elif isinstance(value, str):
            amount = Decimal(value.strip())
        else:
            c.add(field, f"must be a number (found {_kind(value)})")
            return None
    except InvalidOperation:
        c.add(field, f"{value!r} is not a number; write it like 9.99")
        return None
    if not amount.is_finite():
        c.add(field, f"{value!r} is not a number; write it like 9.99")
        return None
    if amount < 0:
        c.add(field, f"must be 0 or more (found {value})")
        return None
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        c.add(field, f"{value} has more than 2 decimals")
        return None
    return amount.quantize(Decimal("0.01"))


def _source(c: _Checker, tier: Mapping[str, Any], path: str) -> dict[str, Any] | None:
    raw = c.present(tier, "source", path, required=True)
    if raw is None:
        return None
    path = _join(path, "source")
    source = c.mapping(raw, path, _SOURCE_FIELDS)
    if source is None:
        return None
    tags = _image_tags(c, source, path)
    repository = _repository(c, source, path, tags or [])
    if repository is None or tags is None:
        return None
    return {"repository": repository, "tags": tags}


def _image_tags(c: _Checker, source: Mapping[str, Any], path: str) -> list[str] | None:
    items = c.listing(source, "tags", path)
    if items is None:
        return None
    ok = True
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        field = f"{path}.tags[{i}]"
        if isinstance(item, int | float) and not isinstance(item, bool):
            # YAML reads 1.0 as a number (and 1.10 as 1.1): the tag would silently change.
            c.add(field, f'must be text; write the tag in quotes, e.g. "{item}"')
            ok = False
            continue
        tag = c.string(item, field)
        if tag is None:
            ok = False
            continue
        if not _IMAGE_TAG_RE.match(tag):
            c.add(
                field,
                f"{tag!r} is not a valid image tag: up to 128 letters, digits, '_', '.' "
                "and '-', not starting with '.' or '-'",
            )
            ok = False
            continue
        if tag in seen:
            c.add(field, f"duplicate tag {tag!r} (also {path}.tags[{seen[tag]}])")
            ok = False
            continue
        seen[tag] = i
    return [str(t).strip() for t in items] if ok else None


def _repository(c: _Checker, source: Mapping[str, Any], path: str, tags: list[str]) -> str | None:
    field = f"{path}.repository"
    value = c.text(source, "repository", path)
    if value is None:
        return None
    transport, sep, location = value.partition(":")
    usage = "write oci:PATH (an OCI image layout folder) or docker-archive:PATH (a .tar file)"
    if not sep or transport not in IMAGE_SOURCE_TRANSPORTS:
        c.add(field, f"{value!r} is not an image source; {usage}")
        return None
    if not location:
        c.add(field, f"{value!r} names no path; {usage}")
        return None
    if ":" in location:
        # skopeo reads a ':' after the path as the start of a tag or reference.
        c.add(field, f"{value!r}: the path must not contain ':' (tags go in {path}.tags)")
        return None
    resolved = c.resolve(location)
    if not resolved.exists():
        c.add(field, f"{transport} image not found: {resolved}")
        return None
    if transport == "oci":
        if not _check_oci_layout(c, field, resolved, tags):
            return None
    elif not resolved.is_file() or not tarfile.is_tarfile(resolved):
        c.add(field, f"docker-archive:{resolved} is not a tar archive (docker save output)")
        return None
    return f"{transport}:{resolved}"


def _check_oci_layout(c: _Checker, field: str, folder: Path, tags: list[str]) -> bool:
    if not folder.is_dir():
        c.add(field, f"oci:{folder} is not a folder; an OCI image layout is a folder")
        return False
    if not (folder / "oci-layout").is_file():
        c.add(field, f"oci:{folder} is not an OCI image layout (no oci-layout file)")
        return False
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        manifests = index.get("manifests", []) if isinstance(index, dict) else []
    except (OSError, ValueError) as exc:
        c.add(field, f"oci:{folder} has no readable index.json ({_one_line(str(exc))})")
        return False
    names = {
        m.get("annotations", {}).get(_OCI_REF_NAME)
        for m in manifests
        if isinstance(m, dict) and isinstance(m.get("annotations"), dict)
    }
    names.discard(None)
    missing = [t for t in tags if t not in names]
    if missing:
        have = ", ".join(sorted(str(n) for n in names)) or "none"
        c.add(
            field,
            f"oci:{folder} has no image tagged {', '.join(missing)} (tags in the layout: {have})",
        )
        return False
    return True


def _support(
    c: _Checker, doc: Mapping[str, Any], platform: Platform | None
) -> dict[str, Any] | None:
    required = platform is not None and eligibility(platform).support_required
    raw = doc.get("support")
    if raw is None:
        if required:
            c.add(
                "support",
                "is required for products on Enterprise Edition: give a website or email "
                "and an SLA with hours and response_time",
            )
        return None
    support = c.mapping(raw, "support", _SUPPORT_FIELDS)
    if support is None:
        return None
    website = c.url(support, "website", "support", required=False)
    email = c.email(support, "email", "support", required=False)
    if support.get("website") is None and support.get("email") is None:
        c.add("support", "give a support website or email (or both)")
    sla_raw = support.get("sla")
    sla: dict[str, Any] | None = None
    if sla_raw is None:
        if required:
            c.add("support.sla", "is required for Enterprise Edition: give hours and response_time")
    else:
        sla_doc = c.mapping(sla_raw, "support.sla", _SLA_FIELDS)
        if sla_doc is not None:
            sla = {
                "hours": c.text(sla_doc, "hours", "support.sla"),
                "response_time": c.text(sla_doc, "response_time", "support.sla"),
            }
    return {"website": website, "email": email, "sla": sla}


# --------------------------------------------------------------------------- build


_M = TypeVar("_M", PublisherProfile, ProductManifest)


def _build(
    model: Callable[..., _M], values: dict[str, Any], c: _Checker
) -> tuple[_M | None, list[Problem]]:
    if c.problems:
        return None, c.problems
    try:
        return model(**values), []
    except ValidationError as exc:  # a gap in the checks above; still report, never crash
        for err in exc.errors():
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            c.add(loc.lstrip("."), err["msg"])
        return None, c.problems
