"""A scan result as a CycloneDX 1.6 SBOM (JSON), with its vulnerabilities."""

from __future__ import annotations

from decimal import Decimal

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from models.scan import Finding, SeverityClass
from scanner.interface import ScanResult

__all__ = ["to_cyclonedx"]

# The store's classes are CVSS bands; CycloneDX names bands the same way NVD does.
_SEVERITY = {
    SeverityClass.CRITICAL: VulnerabilitySeverity.HIGH,  # 7.0+: high or critical
    SeverityClass.MAJOR: VulnerabilitySeverity.MEDIUM,
    SeverityClass.MINOR: VulnerabilitySeverity.LOW,
    SeverityClass.UNSCORED: VulnerabilitySeverity.UNKNOWN,
}


def to_cyclonedx(result: ScanResult) -> str:
    """The SBOM as a JSON string: the image, each component with its purl and layer,
    each finding as a vulnerability affecting that component."""
    bom = Bom()
    bom.metadata.component = CdxComponent(
        name=result.ref,
        version=result.digest,
        type=ComponentType.CONTAINER,
        bom_ref=result.digest or result.ref,
        properties=[Property(name="storemod:os", value=result.os or "unknown")],
    )
    refs: dict[tuple[str, str], str] = {}
    for c in result.components:
        component = CdxComponent(
            name=c.name,
            version=c.version,
            type=ComponentType.LIBRARY,
            purl=PackageURL.from_string(c.purl),
            bom_ref=c.purl,
            properties=[
                Property(name="storemod:layer_index", value=str(c.layer_index)),
                Property(name="storemod:layer_digest", value=c.layer_digest),
                *([Property(name="storemod:location", value=c.location)] if c.location else []),
            ],
        )
        bom.components.add(component)
        refs[(c.name, c.version)] = c.purl
    for finding in result.findings:
        bom.vulnerabilities.add(_vulnerability(finding, refs))
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _vulnerability(finding: Finding, refs: dict[tuple[str, str], str]) -> Vulnerability:
    ratings = []
    if finding.cvss_score is not None:
        vector = finding.cvss_vector or ""
        method = (
            VulnerabilityScoreSource.CVSS_V4
            if vector.startswith("CVSS:4")
            else VulnerabilityScoreSource.CVSS_V3_1
            if vector.startswith("CVSS:3.1")
            else VulnerabilityScoreSource.CVSS_V3
            if vector.startswith("CVSS:3")
            else VulnerabilityScoreSource.CVSS_V2
        )
        ratings.append(
            VulnerabilityRating(
                score=Decimal(str(finding.cvss_score)),
                severity=_SEVERITY[SeverityClass(finding.severity)],
                method=method,
                vector=vector or None,
            )
        )
    else:
        ratings.append(VulnerabilityRating(severity=VulnerabilitySeverity.UNKNOWN))
    target = refs.get((finding.package, finding.installed_version))
    return Vulnerability(
        bom_ref=f"{finding.advisory_id}/{finding.package}@{finding.installed_version}",
        id=finding.cve_id,
        source=VulnerabilitySource(
            name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{finding.advisory_id}")
        ),
        description=finding.summary or None,
        recommendation=f"upgrade to {finding.fixed_version}" if finding.fixed_version else None,
        ratings=ratings,
        affects=[BomTarget(ref=target)] if target else [],
        properties=[
            Property(name="storemod:advisory", value=finding.advisory_id),
            Property(name="storemod:class", value=str(finding.severity)),
            Property(name="storemod:layer_index", value=str(finding.layer_index)),
        ],
    )
