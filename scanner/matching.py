"""Match installed components against OSV advisories.

A component is affected by an advisory when one of the advisory's affected
packages has the component's ecosystem (exactly, or a bare "Debian" for any
Debian release), names the component or its source package (Debian and Alpine
advisories name source packages), and the installed version falls in one of its
ECOSYSTEM ranges or in its explicit ``versions`` list. Versions are compared
with ``univers`` using the distribution's own ordering (epochs, tildes, -rN).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    InvalidVersion,
    PypiVersion,
    SemverVersion,
)

from models.advisory import Advisory, AffectedPackage
from models.scan import Component, Finding
from scanner.severity import rank, severity_of

__all__ = ["affected_range", "cve_id", "match"]

VERSION_CLASSES: dict[str, Any] = {
    "Debian": DebianVersion,
    "Ubuntu": DebianVersion,
    "Alpine": AlpineLinuxVersion,
    "PyPI": PypiVersion,
    "npm": SemverVersion,
}
# OSV range types compared with the ecosystem's own version class (npm uses SEMVER).
ORDERED_RANGES = {"ECOSYSTEM", "SEMVER"}
# univers raises its own InvalidVersion for some schemes, ValueError for others.
_BAD_VERSION = (InvalidVersion, ValueError, TypeError)
SUMMARY_LIMIT = 300


def match(
    components: Iterable[Component],
    advisories: Iterable[Advisory],
    related: Mapping[str, Advisory] | None = None,
) -> list[Finding]:
    """Findings for every (advisory, component) pair that matches, most severe first.

    ``related`` holds the records named in the advisories' aliases/upstream, used
    for their CVSS scores when an advisory has none (the advisories themselves are
    looked up too). Withdrawn advisories never
    match. One CVE affecting one installed package gives one finding, even when
    several advisories (e.g. a DSA and a DEBIAN-CVE record) report it.
    """
    advisories = list(advisories)
    # Records in the same batch can stand in for each other's severity (a CVE
    # record loaded next to the Debian record that names it upstream).
    related = {**{a.id: a for a in advisories}, **(related or {})}
    by_name: dict[str, list[Component]] = defaultdict(list)
    for component in components:
        by_name[component.name].append(component)
        if component.source_name and component.source_name != component.name:
            by_name[component.source_name].append(component)

    findings: dict[tuple[str, str, str], Finding] = {}
    for advisory in advisories:
        if advisory.withdrawn is not None:
            continue
        matched: dict[int, tuple[Component, str | None]] = {}
        for affected in advisory.affected:
            for component in by_name.get(affected.name, []):
                if id(component) in matched or not _same_ecosystem(
                    affected.ecosystem, component.ecosystem
                ):
                    continue
                hit = affected_range(affected, component.version, component.ecosystem)
                if hit is not None:
                    matched[id(component)] = (component, hit[1])
        if not matched:
            continue
        score, vector, severity = severity_of(advisory, related)
        cve = cve_id(advisory)
        for component, fixed in matched.values():
            finding = Finding(
                advisory_id=advisory.id,
                cve_id=cve,
                package=component.name,
                installed_version=component.version,
                ecosystem=component.ecosystem,
                severity=severity,
                layer_index=component.layer_index,
                layer_digest=component.layer_digest,
                fixed_version=fixed,
                cvss_score=score,
                cvss_vector=vector,
                summary=_summary(advisory),
                references=list(advisory.references),
            )
            key = (cve, component.name, component.version)
            kept = findings.get(key)
            if kept is None or _preference(finding) < _preference(kept):
                findings[key] = finding
    return sorted(
        findings.values(),
        key=lambda f: (rank(f.severity), f.cve_id, f.package, f.installed_version, f.advisory_id),
    )


def cve_id(advisory: Advisory) -> str:
    """The advisory's CVE: its first CVE alias or upstream id, else its own id."""
    upstream = advisory.raw.get("upstream")
    candidates = [*advisory.aliases, *(upstream if isinstance(upstream, list) else [])]
    for candidate in [advisory.id, *candidates]:
        if isinstance(candidate, str) and candidate.startswith("CVE-"):
            return candidate
    return advisory.id


def affected_range(
    affected: AffectedPackage, version: str, ecosystem: str
) -> tuple[bool, str | None] | None:
    """``(True, fixed_version)`` when ``version`` is affected, else None.

    ``fixed_version`` is the fix that ends the affected interval the version is
    in, when the advisory names one.
    """
    if version in affected.versions:
        return True, _fix_after(affected, version, ecosystem)
    version_class = VERSION_CLASSES.get(ecosystem.split(":")[0])
    if version_class is None:
        return None
    try:
        installed = version_class(version)
    except _BAD_VERSION:
        return None
    for rng in affected.ranges:
        if rng.type not in ORDERED_RANGES:
            continue
        hit = _in_range(rng.events, installed, version_class)
        if hit is not None:
            return hit
    return None


def _in_range(
    events: list[dict[str, str]], installed: Any, version_class: Any
) -> tuple[bool, str | None] | None:
    parsed: list[tuple[str, Any, str]] = []
    for event in events:
        for kind, value in event.items():
            if kind == "introduced" and value == "0":
                parsed.append((kind, None, value))
                continue
            try:
                parsed.append((kind, version_class(value), value))
            except _BAD_VERSION:
                return None  # a range we cannot read is not evidence either way
    # The OSV evaluation: walk the events in version order, toggling "affected".
    # Only < and > are used: univers' AlpineLinuxVersion implements those with
    # apk's ordering but inherits >= and <= from a plain string comparison.
    affected = False
    for kind, bound, _text in _sorted(parsed):
        if kind == "introduced":
            if bound is None or not installed < bound:
                affected = True
        elif kind in ("fixed", "limit"):
            if not installed < bound:
                affected = False
        elif kind == "last_affected" and installed > bound:
            affected = False
    if not affected:
        return None
    fixes = [(bound, text) for kind, bound, text in parsed if kind == "fixed" and bound > installed]
    return True, min(fixes, key=lambda f: f[0])[1] if fixes else None


def _sorted(parsed: list[tuple[str, Any, str]]) -> list[tuple[str, Any, str]]:
    floor = [e for e in parsed if e[1] is None]
    rest = sorted((e for e in parsed if e[1] is not None), key=lambda e: e[1])
    return floor + rest


def _fix_after(affected: AffectedPackage, version: str, ecosystem: str) -> str | None:
    version_class = VERSION_CLASSES.get(ecosystem.split(":")[0])
    if version_class is None:
        return None
    try:
        installed = version_class(version)
    except _BAD_VERSION:
        return None
    fixes = []
    for rng in affected.ranges:
        for event in rng.events:
            value = event.get("fixed")
            if value is None:
                continue
            try:
                bound = version_class(value)
            except _BAD_VERSION:
                continue
            if bound > installed:
                fixes.append((bound, value))
    return min(fixes, key=lambda f: f[0])[1] if fixes else None


def _same_ecosystem(advisory_ecosystem: str, component_ecosystem: str) -> bool:
    # OSV spells Ubuntu LTS releases "Ubuntu:22.04:LTS"; the OS says "22.04".
    advisory_ecosystem = advisory_ecosystem.removesuffix(":LTS")
    if advisory_ecosystem == component_ecosystem:
        return True
    return ":" not in advisory_ecosystem and component_ecosystem.split(":")[0] == advisory_ecosystem


def _preference(finding: Finding) -> tuple[int, float, str]:
    return (rank(finding.severity), -(finding.cvss_score or 0.0), finding.advisory_id)


def _summary(advisory: Advisory) -> str:
    text = advisory.summary.strip() or advisory.details.strip().split("\n", 1)[0]
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"
