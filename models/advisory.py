"""Vulnerability advisories in the OSV schema (https://ossf.github.io/osv-schema/)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class AffectedRange:
    type: str  # ECOSYSTEM, SEMVER or GIT
    events: list[dict[str, str]]  # {"introduced": v} / {"fixed": v} / {"last_affected": v}


@dataclass
class AffectedPackage:
    ecosystem: str  # e.g. "Debian:12", "Alpine:v3.19"
    name: str
    ranges: list[AffectedRange] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


@dataclass
class Advisory:
    id: str
    modified: datetime
    aliases: list[str] = field(default_factory=list)
    summary: str = ""
    details: str = ""
    published: datetime | None = None
    withdrawn: datetime | None = None
    severity: list[dict[str, str]] = field(default_factory=list)  # {"type": .., "score": ..}
    affected: list[AffectedPackage] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # the record as imported
