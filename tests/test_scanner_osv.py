"""OSV records: validation, the three source shapes (file, folder, zip)."""

from __future__ import annotations

import copy
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.advisory import Advisory
from scanner.osv import FeedSourceError, InvalidAdvisory, parse_record, read_records

OSV_DIR = Path(__file__).parent / "fixtures" / "osv"
DEBIAN_RECORD = json.loads((OSV_DIR / "debian" / "DEBIAN-CVE-2026-28388.json").read_text())
CVE_RECORD = json.loads((OSV_DIR / "debian" / "CVE-2026-28388.json").read_text())


def test_debian_record_is_parsed_and_kept_raw() -> None:
    advisory = parse_record(DEBIAN_RECORD)
    assert advisory.id == "DEBIAN-CVE-2026-28388"
    assert advisory.modified == datetime(2026, 4, 20, 0, 0, 35, 206956, tzinfo=UTC)
    assert advisory.published == datetime(2026, 4, 7, 22, 16, 20, 863000, tzinfo=UTC)
    assert advisory.withdrawn is None
    assert advisory.aliases == []
    assert advisory.raw["upstream"] == ["CVE-2026-28388"]
    assert advisory.raw == DEBIAN_RECORD
    (affected,) = advisory.affected
    assert (affected.ecosystem, affected.name) == ("Debian:12", "openssl")
    assert affected.ranges[0].type == "ECOSYSTEM"
    assert affected.ranges[0].events == [{"introduced": "0"}, {"fixed": "3.0.19-1~deb12u2"}]
    assert "https://security-tracker.debian.org/tracker/CVE-2026-28388" in advisory.references
    assert advisory.details.startswith("Issue summary: When a delta CRL")


def test_cve_record_severity_is_kept() -> None:
    advisory = parse_record(CVE_RECORD)
    assert advisory.severity == [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}
    ]
    assert advisory.affected == []


def broken(change: Any) -> dict[str, Any]:
    record = copy.deepcopy(DEBIAN_RECORD)
    change(record)
    return record


@pytest.mark.parametrize(
    ("record", "advisory_id", "reason"),
    [
        (["not", "an", "object"], "<no id>", "a record must be a JSON object"),
        (broken(lambda r: r.pop("id")), "<no id>", "missing id"),
        (broken(lambda r: r.update(id="  ")), "<no id>", "missing id"),
        (broken(lambda r: r.pop("modified")), "DEBIAN-CVE-2026-28388", "missing modified"),
        (
            broken(lambda r: r.update(modified="2026-04-20")),
            "DEBIAN-CVE-2026-28388",
            "modified is not an RFC 3339 timestamp",
        ),
        (
            broken(lambda r: r.update(modified="yesterday")),
            "DEBIAN-CVE-2026-28388",
            "modified is not an RFC 3339",
        ),
        (
            broken(lambda r: r.update(modified="2026-02-30T00:00:00Z")),
            "DEBIAN-CVE-2026-28388",
            "modified is not a valid date",
        ),
        (
            broken(lambda r: r.update(published=1712528180)),
            "DEBIAN-CVE-2026-28388",
            "published must be",
        ),
        (
            broken(lambda r: r.update(upstream="CVE-2026-28388")),
            "DEBIAN-CVE-2026-28388",
            "upstream must be a list of strings",
        ),
        (
            broken(lambda r: r.update(aliases=[1])),
            "DEBIAN-CVE-2026-28388",
            "aliases must be a list of strings",
        ),
        (
            broken(lambda r: r["affected"][0].pop("package")),
            "DEBIAN-CVE-2026-28388",
            "affected[0] has no package",
        ),
        (
            broken(lambda r: r["affected"][0]["package"].pop("ecosystem")),
            "DEBIAN-CVE-2026-28388",
            "affected[0].package has no ecosystem",
        ),
        (
            broken(lambda r: r["affected"][0]["package"].update(name="")),
            "DEBIAN-CVE-2026-28388",
            "affected[0].package has no name",
        ),
        (
            broken(lambda r: r["affected"][0]["ranges"][0].pop("events")),
            "DEBIAN-CVE-2026-28388",
            "affected[0].ranges[0] has no events",
        ),
        (
            broken(lambda r: r["affected"][0]["ranges"][0].update(events=[])),
            "DEBIAN-CVE-2026-28388",
            "affected[0].ranges[0] has no events",
        ),
        (
            broken(lambda r: r["affected"][0]["ranges"][0].update(type="RPM")),
            "DEBIAN-CVE-2026-28388",
            "unknown type 'RPM'",
        ),
        (
            broken(lambda r: r["affected"][0]["ranges"][0]["events"].append({"patched": "1"})),
            "DEBIAN-CVE-2026-28388",
            "events[2] must be one of",
        ),
        (
            broken(lambda r: r["affected"][0]["ranges"][0].update(events=[{"fixed": "1.0"}])),
            "DEBIAN-CVE-2026-28388",
            "has no introduced event",
        ),
        (
            broken(lambda r: r.update(severity=[{"type": "CVSS_V3"}])),
            "DEBIAN-CVE-2026-28388",
            "severity[0] must have a string type and score",
        ),
        (
            broken(lambda r: r.update(affected={"package": {}})),
            "DEBIAN-CVE-2026-28388",
            "affected must be a list",
        ),
        (
            broken(lambda r: r.update(references=[{"type": "WEB"}])),
            "DEBIAN-CVE-2026-28388",
            "references[0] must be an object with a url",
        ),
    ],
)
def test_invalid_records_name_the_record_and_the_problem(
    record: object, advisory_id: str, reason: str
) -> None:
    with pytest.raises(InvalidAdvisory) as caught:
        parse_record(record)
    assert caught.value.advisory_id == advisory_id
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{advisory_id}: ")


def test_timestamps_in_every_rfc3339_spelling() -> None:
    for text, expected in [
        ("2026-09-12T11:00:05.986201214Z", datetime(2026, 9, 12, 11, 0, 5, 986201, tzinfo=UTC)),
        ("2026-09-12T13:00:05+02:00", datetime(2026, 9, 12, 11, 0, 5, tzinfo=UTC)),
        ("2026-09-12T11:00:05Z", datetime(2026, 9, 12, 11, 0, 5, tzinfo=UTC)),
    ]:
        record = {**CVE_RECORD, "modified": text, "withdrawn": text}
        advisory = parse_record(record)
        assert advisory.modified == expected
        assert advisory.withdrawn == expected


def test_a_folder_is_read_recursively() -> None:
    found = list(read_records(OSV_DIR))
    assert all(isinstance(a, Advisory) for a in found)
    assert sorted(a.id for a in found if isinstance(a, Advisory)) == [
        "ALPINE-CVE-2021-3711",
        "CVE-2026-28388",
        "DEBIAN-CVE-2026-28388",
        "GHSA-cpwx-vrp4-4pq7",
    ]


def test_a_file_with_a_list_of_records_and_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps([DEBIAN_RECORD, {"id": "DSA-0000-1"}, CVE_RECORD]))
    found = list(read_records(path))
    assert [type(x).__name__ for x in found] == ["Advisory", "InvalidAdvisory", "Advisory"]
    invalid = found[1]
    assert isinstance(invalid, InvalidAdvisory)
    assert (invalid.advisory_id, invalid.reason) == ("DSA-0000-1", "missing modified timestamp")


def test_zip_export_like_osv_dev_all_zip(tmp_path: Path) -> None:
    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for record in sorted(OSV_DIR.rglob("*.json")):
            archive.write(record, record.name)
        archive.writestr("broken.json", "{not json")
        archive.writestr("no-id.json", json.dumps({"modified": "2026-01-01T00:00:00Z"}))
        archive.writestr("README.txt", "ignored")
    found = list(read_records(path))
    advisories = sorted(a.id for a in found if isinstance(a, Advisory))
    assert advisories == [
        "ALPINE-CVE-2021-3711",
        "CVE-2026-28388",
        "DEBIAN-CVE-2026-28388",
        "GHSA-cpwx-vrp4-4pq7",
    ]
    invalid = {x.advisory_id: x.reason for x in found if isinstance(x, InvalidAdvisory)}
    assert set(invalid) == {"broken.json", "no-id.json"}
    assert invalid["broken.json"].startswith("not valid JSON")
    assert invalid["no-id.json"] == "missing id"


def test_unreadable_sources_raise_feed_source_error(tmp_path: Path) -> None:
    with pytest.raises(FeedSourceError, match="advisory source not found"):
        list(read_records(tmp_path / "missing"))
    (tmp_path / "feed.csv").write_text("id,modified\n")
    with pytest.raises(FeedSourceError, match=r"expected a \.json file, a folder or a \.zip"):
        list(read_records(tmp_path / "feed.csv"))
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(FeedSourceError, match="is not a readable zip archive"):
        list(read_records(tmp_path / "bad.zip"))


def test_records_the_store_could_not_keep_are_invalid(tmp_path: Path) -> None:
    nul_name = broken(lambda r: r["affected"][0]["package"].update(name="open\x00ssl"))
    (tmp_path / "nul.json").write_text(json.dumps([nul_name, CVE_RECORD]))
    (tmp_path / "nan.json").write_text(json.dumps(DEBIAN_RECORD)[:-1] + ', "x": NaN}')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    found = list(read_records(tmp_path))
    invalid = {x.advisory_id: x.reason for x in found if isinstance(x, InvalidAdvisory)}
    assert invalid == {
        "DEBIAN-CVE-2026-28388": "affected[0].package contains a NUL character",
        "nan.json": "not valid JSON (NaN is not a JSON value)",
        "deep.json": invalid["deep.json"],
    }
    assert invalid["deep.json"].startswith("not valid JSON")
    assert [a.id for a in found if isinstance(a, Advisory)] == ["CVE-2026-28388"]


def test_an_oversized_or_damaged_zip_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scanner.osv

    path = tmp_path / "all.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.json", json.dumps(DEBIAN_RECORD))
    monkeypatch.setattr(scanner.osv, "MAX_FILE_BYTES", 100)
    (only,) = read_records(path)
    assert isinstance(only, InvalidAdvisory) and only.advisory_id == "big.json"
    assert only.reason == "file is larger than 100 bytes"
    monkeypatch.undo()
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FeedSourceError, match=r"all\.zip: big\.json cannot be read"):
        list(read_records(path))
