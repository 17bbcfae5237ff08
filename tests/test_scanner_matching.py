"""Matching components to advisories, severity classes and the summary colour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.advisory import Advisory
from models.scan import Component, Finding, ScanColour, SeverityClass
from scanner.inventory import Inventory, read_inventory
from scanner.matching import affected_range, cve_id, match
from scanner.osv import parse_record, read_records
from scanner.severity import classify, related_ids, severity_of
from scanner.summary import summarise
from tests.imagebuild import LayerSpec, Symlink, write_oci_layout

FIXTURES = Path(__file__).parent / "fixtures"
DEBIAN_BASE: LayerSpec = {
    "usr/lib/os-release": (FIXTURES / "dpkg" / "os-release").read_bytes(),
    "etc/os-release": Symlink("../usr/lib/os-release"),
}
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # NVD's vector for CVE-2026-28388


def fixture_advisories(folder: str) -> list[Advisory]:
    records = list(read_records(FIXTURES / "osv" / folder))
    assert all(isinstance(r, Advisory) for r in records)
    return [r for r in records if isinstance(r, Advisory)]


def debian_inventory(tmp_path: Path, status: str) -> Inventory:
    ref = write_oci_layout(
        tmp_path / status,
        [DEBIAN_BASE, {"var/lib/dpkg/status": (FIXTURES / "dpkg" / status).read_bytes()}],
    )
    return read_inventory(ref)


def record(
    advisory_id: str = "TEST-1",
    *,
    ecosystem: str = "Debian:12",
    name: str = "openssl",
    events: list[dict[str, str]] | None = None,
    versions: list[str] | None = None,
    **extra: Any,
) -> Advisory:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        affected["versions"] = versions
    data = {"id": advisory_id, "modified": "2026-01-01T00:00:00Z", "affected": [affected], **extra}
    return parse_record(data)


def component(
    name: str = "libssl3",
    version: str = "3.0.17-1~deb12u2",
    ecosystem: str = "Debian:12",
    source_name: str | None = "openssl",
) -> Component:
    return Component(
        name=name,
        version=version,
        ecosystem=ecosystem,
        purl=f"pkg:test/{name}@{version}",
        layer_index=1,
        layer_digest="sha256:" + "1" * 64,
        source_name=source_name,
    )


# --- the end-to-end fixtures -------------------------------------------------------


def test_vulnerable_openssl_image_has_a_critical_cve(tmp_path: Path) -> None:
    inventory = debian_inventory(tmp_path, "status-vulnerable")
    findings = match(inventory.components, fixture_advisories("debian"))

    assert [(f.package, f.cve_id) for f in findings] == [
        ("libssl3", "CVE-2026-28388"),
        ("openssl", "CVE-2026-28388"),
    ]
    libssl = findings[0]
    assert libssl.advisory_id == "DEBIAN-CVE-2026-28388"
    assert libssl.installed_version == "3.0.17-1~deb12u2"
    assert libssl.fixed_version == "3.0.19-1~deb12u2"
    assert libssl.severity == SeverityClass.CRITICAL
    assert (libssl.cvss_score, libssl.cvss_vector) == (7.5, V31)
    assert libssl.layer_index == 1
    assert libssl.layer_digest == inventory.layers[1].digest
    assert libssl.ecosystem == "Debian:12"
    assert libssl.summary.startswith("Issue summary: When a delta CRL")
    assert "https://openssl-library.org/news/secadv/20260407.txt" in libssl.references

    summary = summarise("enterprise", "1.0", inventory, findings)
    assert summary.colour == ScanColour.RED
    assert summary.counts == {"critical": 2, "major": 0, "minor": 0, "unscored": 0}
    assert (summary.os, summary.component_count, summary.digest) == (
        "Debian GNU/Linux 12 (bookworm)",
        6,
        inventory.digest,
    )


def test_fixed_openssl_image_is_clean(tmp_path: Path) -> None:
    inventory = debian_inventory(tmp_path, "status-fixed")
    findings = match(inventory.components, fixture_advisories("debian"))
    assert findings == []
    summary = summarise("enterprise", "1.1", inventory, findings)
    assert summary.colour == ScanColour.GREEN
    assert summary.counts == {"critical": 0, "major": 0, "minor": 0, "unscored": 0}


def test_alpine_record_matches_the_real_apk_database(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "alpine",
        [
            {"etc/os-release": (FIXTURES / "apk" / "os-release").read_bytes()},
            {"lib/apk/db/installed": (FIXTURES / "apk" / "installed").read_bytes()},
        ],
    )
    inventory = read_inventory(ref)
    findings = match(inventory.components, fixture_advisories("alpine"))
    assert [(f.package, f.installed_version, f.fixed_version) for f in findings] == [
        ("libcrypto1.1", "1.1.1k-r0", "1.1.1l-r0"),
        ("libssl1.1", "1.1.1k-r0", "1.1.1l-r0"),
    ]
    assert {f.cve_id for f in findings} == {"CVE-2021-3711"}
    # The Alpine record has no score and no CVE record was supplied.
    assert {f.severity for f in findings} == {SeverityClass.UNSCORED}
    assert summarise("t", "3.14", inventory, findings).colour == ScanColour.YELLOW


# --- severity -------------------------------------------------------------------------


def test_alias_severity_fallback() -> None:
    by_id = {a.id: a for a in fixture_advisories("debian")}
    debian, cve = by_id["DEBIAN-CVE-2026-28388"], by_id["CVE-2026-28388"]
    assert related_ids(debian) == {"CVE-2026-28388"}
    assert severity_of(debian, {}) == (None, None, SeverityClass.UNSCORED)
    assert severity_of(debian, {cve.id: cve}) == (7.5, V31, SeverityClass.CRITICAL)
    # The Debian record alone, without its CVE record, gives an unscored finding.
    (finding,) = match([component()], [debian])
    assert finding.severity == SeverityClass.UNSCORED and finding.cvss_score is None
    (finding,) = match([component()], [debian], {cve.id: cve})
    assert finding.severity == SeverityClass.CRITICAL


def test_own_severity_wins_and_the_highest_score_is_taken() -> None:
    own = record(
        severity=[
            {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"},  # 5.0
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:N/A:L"},  # 4.0
            {
                "type": "CVSS_V4",
                "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            },  # 9.3
            {"type": "CVSS_V3", "score": "not a vector"},
        ],
        aliases=["CVE-2099-0001"],
    )
    alias = parse_record(
        {
            "id": "CVE-2099-0001",
            "modified": "2026-01-01T00:00:00Z",
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
        }
    )
    score, vector, severity = severity_of(own, {alias.id: alias})
    assert (score, severity) == (9.3, SeverityClass.CRITICAL)
    assert vector is not None and vector.startswith("CVSS:4.0/")
    v2_only = record(severity=[{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:N/A:N"}])
    assert severity_of(v2_only) == (5.0, "AV:N/AC:L/Au:N/C:P/I:N/A:N", SeverityClass.MAJOR)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (None, SeverityClass.UNSCORED),
        (0.0, SeverityClass.UNSCORED),
        (0.1, SeverityClass.MINOR),
        (3.9, SeverityClass.MINOR),
        (4.0, SeverityClass.MAJOR),
        (6.9, SeverityClass.MAJOR),
        (7.0, SeverityClass.CRITICAL),
        (10.0, SeverityClass.CRITICAL),
    ],
)
def test_class_boundaries(score: float | None, expected: SeverityClass) -> None:
    assert classify(score) == expected


@pytest.mark.parametrize(
    ("vector", "score", "expected"),
    [
        ("CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:L/A:L", 3.9, SeverityClass.MINOR),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:N/A:L", 4.0, SeverityClass.MAJOR),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:R/S:C/C:N/I:L/A:H", 6.9, SeverityClass.MAJOR),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:H", 7.0, SeverityClass.CRITICAL),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, SeverityClass.UNSCORED),
    ],
)
def test_class_boundaries_from_real_vectors(
    vector: str, score: float, expected: SeverityClass
) -> None:
    advisory = record(severity=[{"type": "CVSS_V3", "score": vector}])
    got_score, _vector, got_class = severity_of(advisory)
    assert (got_score, got_class) == (score, expected)


# --- versions and ranges --------------------------------------------------------------


def affected(version: str, events: list[dict[str, str]], ecosystem: str = "Debian:12") -> bool:
    (package,) = record(ecosystem=ecosystem, events=events).affected
    return affected_range(package, version, ecosystem) is not None


def test_debian_epochs_and_tildes() -> None:
    fix = [{"introduced": "0"}, {"fixed": "3.0.17-1~deb12u3"}]
    assert affected("3.0.17-1~deb12u2", fix)
    assert not affected("3.0.17-1~deb12u3", fix)
    assert not affected("3.0.17-1", fix)  # ~ sorts before the end of the string
    assert affected("3.0.17~rc1-1", fix)
    epoch_fix = [{"introduced": "0"}, {"fixed": "1.2.14-1"}]
    assert not affected("1:1.2.13.dfsg-1", epoch_fix)  # epoch 1 outranks any epoch-0 version
    assert affected("1:1.2.13.dfsg-1", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}])


def test_alpine_revisions_compare_as_numbers() -> None:
    fix = [{"introduced": "0"}, {"fixed": "1.2.2-r10"}]
    assert affected("1.2.2-r3", fix, "Alpine:v3.14")
    assert not affected("1.2.2-r10", fix, "Alpine:v3.14")
    assert affected("1.1.1k-r0", [{"introduced": "0"}, {"fixed": "1.1.1l-r0"}], "Alpine:v3.14")
    assert not affected("1.1.1l-r0", [{"introduced": "0"}, {"fixed": "1.1.1l-r0"}], "Alpine:v3.14")


def test_several_introduced_fixed_pairs_and_last_affected() -> None:
    events = [
        {"introduced": "0"},
        {"fixed": "1.0-2"},
        {"introduced": "2.0-1"},
        {"fixed": "2.0-3"},
    ]
    assert affected("1.0-1", events)
    assert not affected("1.5-1", events)
    assert affected("2.0-2", events)
    assert not affected("2.0-3", events)
    (package,) = record(events=events).affected
    assert affected_range(package, "2.0-2", "Debian:12") == (True, "2.0-3")
    last = [{"introduced": "1.0-1"}, {"last_affected": "1.0-5"}]
    assert affected("1.0-5", last)
    assert not affected("1.0-6", last)
    assert not affected("0.9-1", last)


def test_explicit_versions_list() -> None:
    advisory = record(versions=["3.0.17-1~deb12u2", "3.0.17-1~deb12u1"])
    assert [f.installed_version for f in match([component()], [advisory])] == ["3.0.17-1~deb12u2"]
    assert match([component(version="3.0.18-1~deb12u1")], [advisory]) == []


def test_ecosystem_and_name_rules() -> None:
    events = [{"introduced": "0"}, {"fixed": "3.0.19-1~deb12u2"}]
    installed = [component(), component(name="openssl", source_name=None)]
    assert len(match(installed, [record(ecosystem="Debian", events=events)])) == 2
    assert match(installed, [record(ecosystem="Debian:11", events=events)]) == []
    assert match(installed, [record(ecosystem="Alpine:v3.14", events=events)]) == []
    assert match(installed, [record(name="libssl3", events=events)])[0].package == "libssl3"
    assert match(installed, [record(name="gnutls28", events=events)]) == []


def test_withdrawn_advisories_never_match() -> None:
    events = [{"introduced": "0"}, {"fixed": "3.0.19-1~deb12u2"}]
    advisory = record(events=events, withdrawn="2026-02-01T00:00:00Z")
    assert match([component()], [advisory]) == []


def test_one_finding_per_cve_and_package_and_deterministic_order() -> None:
    events = [{"introduced": "0"}, {"fixed": "9.9-1"}]
    dsa = record("DSA-9999-1", events=events, upstream=["CVE-2099-0002"])
    debian_cve = record(
        "DEBIAN-CVE-2099-0002",
        events=events,
        upstream=["CVE-2099-0002"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:N/I:N/A:L"}],
    )
    minor = record(
        "DEBIAN-CVE-2099-0001",
        events=events,
        upstream=["CVE-2099-0001"],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:L/A:L"}],
    )
    critical = record(
        "DEBIAN-CVE-2099-0003",
        events=events,
        upstream=["CVE-2099-0003"],
        severity=[{"type": "CVSS_V3", "score": V31}],
    )
    installed = [component("openssl", "3.0.17-1~deb12u2", source_name=None), component()]
    findings = match(installed, [minor, dsa, debian_cve, critical])
    assert [(f.severity.value, f.cve_id, f.package, f.advisory_id) for f in findings] == [
        ("critical", "CVE-2099-0003", "libssl3", "DEBIAN-CVE-2099-0003"),
        ("critical", "CVE-2099-0003", "openssl", "DEBIAN-CVE-2099-0003"),
        ("major", "CVE-2099-0002", "libssl3", "DEBIAN-CVE-2099-0002"),
        ("major", "CVE-2099-0002", "openssl", "DEBIAN-CVE-2099-0002"),
        ("minor", "CVE-2099-0001", "libssl3", "DEBIAN-CVE-2099-0001"),
        ("minor", "CVE-2099-0001", "openssl", "DEBIAN-CVE-2099-0001"),
    ]
    assert findings == match(list(reversed(installed)), [critical, debian_cve, dsa, minor])


def test_cve_id_choice() -> None:
    assert cve_id(record("GHSA-xxxx", aliases=["PYSEC-1", "CVE-2024-1"])) == "CVE-2024-1"
    assert cve_id(record("DEBIAN-CVE-2024-2", upstream=["CVE-2024-2"])) == "CVE-2024-2"
    assert cve_id(record("DSA-5000-1")) == "DSA-5000-1"


def test_unparsable_versions_do_not_match() -> None:
    advisory = record(events=[{"introduced": "0"}, {"fixed": "not a version!"}])
    assert match([component()], [advisory]) == []
    assert match([component(version="???")], [record(events=[{"introduced": "0"}])]) == []


# --- summary colours ------------------------------------------------------------------


def finding(severity: SeverityClass) -> Finding:
    return Finding(
        advisory_id="X",
        cve_id="CVE-X",
        package="p",
        installed_version="1",
        ecosystem="Debian:12",
        severity=severity,
        layer_index=0,
        layer_digest="sha256:" + "0" * 64,
    )


@pytest.mark.parametrize(
    ("severities", "colour"),
    [
        ([], ScanColour.GREEN),
        ([SeverityClass.UNSCORED], ScanColour.YELLOW),
        ([SeverityClass.MINOR, SeverityClass.UNSCORED], ScanColour.YELLOW),
        ([SeverityClass.MAJOR, SeverityClass.MINOR], ScanColour.ORANGE),
        ([SeverityClass.MINOR, SeverityClass.CRITICAL, SeverityClass.MAJOR], ScanColour.RED),
    ],
)
def test_summary_colour(severities: list[SeverityClass], colour: ScanColour) -> None:
    inventory = Inventory(
        ref="oci:x:1",
        digest="sha256:" + "a" * 64,
        os_id="debian",
        os_version="12",
        ecosystem="Debian:12",
        layers=[],
        components=[],
    )
    summary = summarise("free", "1", inventory, [finding(s) for s in severities])
    assert summary.colour == colour
    assert sum(summary.counts.values()) == len(severities)
