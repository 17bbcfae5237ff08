"""Read and validate vulnerability records in the OSV schema.

``parse_record`` turns one decoded JSON record into an ``Advisory`` or raises
``InvalidAdvisory`` naming the record and what is wrong with it.
``read_records`` walks a ``.json`` file (one record or a list), a folder
(recursively) or an osv.dev ``all.zip`` export, yielding an ``Advisory`` or an
``InvalidAdvisory`` per record so one bad record never hides the others.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.advisory import Advisory, AffectedPackage, AffectedRange

__all__ = ["FeedSourceError", "InvalidAdvisory", "parse_record", "read_records"]

RANGE_TYPES = {"ECOSYSTEM", "SEMVER", "GIT"}
# One OSV record is a few KB; a bigger file in a feed is refused before it is read.
MAX_FILE_BYTES = 64 * 1024 * 1024
EVENT_KINDS = {"introduced", "fixed", "last_affected", "limit"}
# RFC 3339 as OSV uses it; fractions may carry nanoseconds (Go writers).
_TIMESTAMP_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})?$"
)
UNKNOWN_ID = "<no id>"


class InvalidAdvisory(Exception):
    """A record that is not valid OSV; ``advisory_id`` says which one."""

    def __init__(self, advisory_id: str, reason: str) -> None:
        super().__init__(f"{advisory_id}: {reason}")
        self.advisory_id = advisory_id
        self.reason = reason


class FeedSourceError(Exception):
    """The place advisories were to be read from cannot be read at all."""


def parse_record(data: object, source: str | None = None) -> Advisory:
    """Validate one decoded OSV record and build its ``Advisory``.

    ``source`` (a file name) identifies records that have no usable id.
    """
    fallback = source or UNKNOWN_ID
    if not isinstance(data, dict):
        raise InvalidAdvisory(fallback, "a record must be a JSON object")
    raw_id = data.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise InvalidAdvisory(fallback, "missing id")
    advisory_id = raw_id.strip()
    if "\x00" in advisory_id:
        raise InvalidAdvisory(fallback, "id contains a NUL character")

    def fail(reason: str) -> InvalidAdvisory:
        return InvalidAdvisory(advisory_id, reason)

    if "modified" not in data:
        raise fail("missing modified timestamp")
    modified = _timestamp(data["modified"], "modified", fail)
    published = _timestamp(data["published"], "published", fail) if "published" in data else None
    withdrawn = _timestamp(data["withdrawn"], "withdrawn", fail) if "withdrawn" in data else None

    aliases = _string_list(data.get("aliases"), "aliases", fail)
    _string_list(data.get("upstream"), "upstream", fail)
    _string_list(data.get("related"), "related", fail)
    summary = _text(data.get("summary"), "summary", fail)
    details = _text(data.get("details"), "details", fail)
    severity = _severity(data.get("severity"), "severity", fail)

    affected_raw = data.get("affected", [])
    if not isinstance(affected_raw, list):
        raise fail("affected must be a list")
    affected = [_affected(item, n, fail) for n, item in enumerate(affected_raw)]

    references_raw = data.get("references", [])
    if not isinstance(references_raw, list):
        raise fail("references must be a list")
    references = []
    for n, ref in enumerate(references_raw):
        if not isinstance(ref, dict) or not isinstance(ref.get("url"), str):
            raise fail(f"references[{n}] must be an object with a url")
        references.append(ref["url"])

    return Advisory(
        id=advisory_id,
        modified=modified,
        aliases=aliases,
        summary=summary,
        details=details,
        published=published,
        withdrawn=withdrawn,
        severity=severity,
        affected=affected,
        references=references,
        raw=data,
    )


def read_records(path: Path) -> Iterator[Advisory | InvalidAdvisory]:
    """Every record under ``path``: a .json file, a folder of them, or a .zip export.

    Raises ``FeedSourceError`` when ``path`` itself, or a file in it, cannot be
    read (a damaged export is refused as a whole rather than half imported).
    """
    path = Path(path)
    if not path.exists():
        raise FeedSourceError(f"advisory source not found: {path}")
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*.json") if p.is_file()):
            name = str(file.relative_to(path))
            yield from _records_from_file(file, name)
    elif path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise FeedSourceError(f"{path} is not a readable zip archive: {exc}") from exc
        with archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                name = info.filename
                if not name.lower().endswith(".json") or info.is_dir():
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    yield InvalidAdvisory(name, f"file is larger than {MAX_FILE_BYTES} bytes")
                    continue
                try:
                    blob = archive.read(info)
                except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError) as exc:
                    # RuntimeError: an encrypted member; NotImplementedError is a subclass.
                    raise FeedSourceError(f"{path}: {name} cannot be read: {exc}") from exc
                yield from _records_from_bytes(blob, name)
    elif path.suffix.lower() == ".json":
        yield from _records_from_file(path, path.name)
    else:
        raise FeedSourceError(f"{path}: expected a .json file, a folder or a .zip export")


def _records_from_file(file: Path, name: str) -> Iterator[Advisory | InvalidAdvisory]:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            yield InvalidAdvisory(name, f"file is larger than {MAX_FILE_BYTES} bytes")
            return
        blob = file.read_bytes()
    except OSError as exc:
        raise FeedSourceError(f"{file} cannot be read: {exc.strerror or exc}") from exc
    yield from _records_from_bytes(blob, name)


def _records_from_bytes(blob: bytes, source: str) -> Iterator[Advisory | InvalidAdvisory]:
    try:
        decoded = json.loads(blob, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        yield InvalidAdvisory(source, f"not valid JSON ({exc})")
        return
    items = decoded if isinstance(decoded, list) else [decoded]
    for n, item in enumerate(items):
        where = source if len(items) == 1 else f"{source}[{n}]"
        try:
            yield parse_record(item, where)
        except InvalidAdvisory as invalid:
            yield invalid


def _no_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and the store's JSON columns) do not.
    raise ValueError(f"{name} is not a JSON value")


def _timestamp(value: object, name: str, fail: Any) -> datetime:
    if not isinstance(value, str):
        raise fail(f"{name} must be an RFC 3339 timestamp string")
    match = _TIMESTAMP_RE.match(value.strip())
    if not match:
        raise fail(f"{name} is not an RFC 3339 timestamp: {value!r}")
    date, time, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # datetime keeps microseconds at most
    zone = "+00:00" if zone in (None, "Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{time}{fraction}{zone}").astimezone(UTC)
    except ValueError:
        raise fail(f"{name} is not a valid date and time: {value!r}") from None


def _string_list(value: object, name: str, fail: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"{name} must be a list of strings")
    return list(value)


def _text(value: object, name: str, fail: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fail(f"{name} must be a string")
    return value


def _severity(value: object, where: str, fail: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"{where} must be a list")
    result = []
    for n, item in enumerate(value):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("type"), str)
            or not isinstance(item.get("score"), str)
        ):
            raise fail(f"{where}[{n}] must have a string type and score")
        result.append({"type": item["type"], "score": item["score"]})
    return result


def _affected(item: object, n: int, fail: Any) -> AffectedPackage:
    where = f"affected[{n}]"
    if not isinstance(item, dict):
        raise fail(f"{where} must be an object")
    package = item.get("package")
    if not isinstance(package, dict):
        raise fail(f"{where} has no package")
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not ecosystem:
        raise fail(f"{where}.package has no ecosystem")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}.package has no name")
    if "\x00" in ecosystem or "\x00" in name:
        # PostgreSQL text cannot hold NUL: one such record would fail a whole import.
        raise fail(f"{where}.package contains a NUL character")
    _severity(item.get("severity"), f"{where}.severity", fail)
    ranges_raw = item.get("ranges", [])
    if not isinstance(ranges_raw, list):
        raise fail(f"{where}.ranges must be a list")
    ranges = [_range(r, f"{where}.ranges[{m}]", fail) for m, r in enumerate(ranges_raw)]
    versions = _string_list(item.get("versions"), f"{where}.versions", fail)
    return AffectedPackage(ecosystem=ecosystem, name=name, ranges=ranges, versions=versions)


def _range(item: object, where: str, fail: Any) -> AffectedRange:
    if not isinstance(item, dict):
        raise fail(f"{where} must be an object")
    kind = item.get("type")
    if kind not in RANGE_TYPES:
        raise fail(f"{where} has unknown type {kind!r}")
    events_raw = item.get("events")
    if not isinstance(events_raw, list) or not events_raw:
        raise fail(f"{where} has no events")
    events = []
    for m, event in enumerate(events_raw):
        if (
            not isinstance(event, dict)
            or len(event) != 1
            or next(iter(event)) not in EVENT_KINDS
            or not isinstance(next(iter(event.values())), str)
        ):
            raise fail(
                f"{where}.events[{m}] must be one of "
                "introduced/fixed/last_affected/limit with a version string"
            )
        events.append({str(k): str(v) for k, v in event.items()})
    if not any("introduced" in e for e in events):
        raise fail(f"{where} has no introduced event")
    return AffectedRange(type=str(kind), events=events)
