"""Scan requests, inventories and findings exchanged with the scanner."""

from dataclasses import dataclass, field
from enum import StrEnum


class SeverityClass(StrEnum):
    """Store classification of a finding by CVSS base score."""

    CRITICAL = "critical"  # 7.0 - 10.0, fix within 72 h
    MAJOR = "major"  # 4.0 - 6.9, fix within 7 days
    MINOR = "minor"  # 0.1 - 3.9, best effort
    UNSCORED = "unscored"  # no usable CVSS score: shown, never dropped


class ScanColour(StrEnum):
    """Colour of the per-tag scan summary bar on a listing."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


@dataclass
class Component:
    """A package found in an image, and the layer that introduced it."""

    name: str
    version: str
    ecosystem: str  # OSV ecosystem, e.g. "Debian:12", "Alpine:v3.19"
    purl: str
    layer_index: int
    layer_digest: str
    source_name: str | None = None  # Debian source package, when different
    location: str | None = None  # metadata file of a language package (PyPI, npm)


@dataclass
class Layer:
    index: int
    digest: str
    created_by: str | None = None


@dataclass
class Finding:
    """One advisory matching one installed component."""

    advisory_id: str
    cve_id: str  # the CVE alias when the advisory has one, else its own id
    package: str
    installed_version: str
    ecosystem: str
    severity: SeverityClass
    layer_index: int
    layer_digest: str
    fixed_version: str | None = None
    cvss_score: float | None = None
    cvss_vector: str | None = None
    summary: str = ""
    references: list[str] = field(default_factory=list)


@dataclass
class ScanRequest:
    submission_id: str
    revision: int
    tier: str
    tag: str
    image_ref: str  # skopeo-style: "oci:PATH:TAG" or "docker-archive:PATH[:NAME:TAG]"


@dataclass
class ScanSummary:
    """What the workflow keeps of a scan: identity, counts and the findings."""

    tier: str
    tag: str
    image_ref: str
    digest: str
    os: str
    component_count: int
    colour: ScanColour
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # the image could not be scanned: why
