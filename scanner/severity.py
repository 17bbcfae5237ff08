"""CVSS scores of advisories and the store's severity classes.

| CVSS base score | class    |
|-----------------|----------|
| 7.0 - 10.0      | critical |
| 4.0 - 6.9       | major    |
| 0.1 - 3.9       | minor    |
| none, 0.0       | unscored |

Scores come from the OSV ``severity`` entries (CVSS_V2, CVSS_V3 (3.0/3.1) and
CVSS_V4 vectors), scored with the ``cvss`` library; the highest base score
wins. Distribution records (Debian's in particular) often carry no score, so
``severity_of`` falls back to the records the advisory names in ``aliases`` and
``upstream``, typically the CVE record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import cvss
from cvss.exceptions import CVSSError

from models.advisory import Advisory
from models.scan import SeverityClass

__all__ = ["Severity", "classify", "related_ids", "score_vector", "severity_of"]

Severity = tuple[float | None, str | None, SeverityClass]

CRITICAL_FROM = Decimal("7.0")
MAJOR_FROM = Decimal("4.0")

_SEVERITY_RANK = {
    SeverityClass.CRITICAL: 0,
    SeverityClass.MAJOR: 1,
    SeverityClass.MINOR: 2,
    SeverityClass.UNSCORED: 3,
}


def rank(severity: SeverityClass) -> int:
    """Sort key: critical first, unscored last."""
    return _SEVERITY_RANK[severity]


def classify(score: float | Decimal | None) -> SeverityClass:
    """The store class of a CVSS base score (None or 0.0 is unscored)."""
    if score is None:
        return SeverityClass.UNSCORED
    value = Decimal(str(score))
    if value >= CRITICAL_FROM:
        return SeverityClass.CRITICAL
    if value >= MAJOR_FROM:
        return SeverityClass.MAJOR
    if value > 0:
        return SeverityClass.MINOR
    return SeverityClass.UNSCORED


def score_vector(kind: str, vector: str) -> tuple[Decimal, str] | None:
    """Base score and normalised vector of one OSV severity entry, None if unusable."""
    vector = vector.strip()
    try:
        if kind == "CVSS_V3" and vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = cvss.CVSS3(vector)
            return Decimal(str(v3.base_score)), v3.clean_vector()
        if kind == "CVSS_V4" and vector.startswith("CVSS:4.0/"):
            v4 = cvss.CVSS4(vector)
            return Decimal(str(v4.base_score)), v4.clean_vector()
        if kind == "CVSS_V2":
            v2 = cvss.CVSS2(vector.strip("()"))
            return Decimal(str(v2.base_score)), v2.clean_vector()
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    return None


def _best(entries: Iterable[Mapping[str, Any]]) -> tuple[Decimal, str] | None:
    best: tuple[Decimal, str] | None = None
    for entry in entries:
        kind, vector = entry.get("type"), entry.get("score")
        if not isinstance(kind, str) or not isinstance(vector, str):
            continue
        scored = score_vector(kind, vector)
        if scored is not None and (best is None or scored[0] > best[0]):
            best = scored
    return best


def _own_entries(advisory: Advisory) -> list[Mapping[str, Any]]:
    entries: list[Mapping[str, Any]] = list(advisory.severity)
    # OSV also allows a severity per affected package (Ubuntu and others use it).
    for affected in advisory.raw.get("affected") or []:
        if isinstance(affected, dict) and isinstance(affected.get("severity"), list):
            entries += [e for e in affected["severity"] if isinstance(e, dict)]
    return entries


def related_ids(advisory: Advisory) -> set[str]:
    """Ids of the records whose severity stands in for this one's (aliases, upstream)."""
    upstream = advisory.raw.get("upstream")
    ids = set(advisory.aliases)
    if isinstance(upstream, list):
        ids |= {u for u in upstream if isinstance(u, str)}
    ids.discard(advisory.id)
    return ids


def severity_of(advisory: Advisory, related: Mapping[str, Advisory] | None = None) -> Severity:
    """``(score, vector, class)`` of an advisory.

    The advisory's own CVSS entries come first; when none is usable the highest
    score among the ``related`` records named in its aliases/upstream is used.
    """
    best = _best(_own_entries(advisory))
    if best is None and related:
        for other_id in sorted(related_ids(advisory)):
            other = related.get(other_id)
            if other is None:
                continue
            scored = _best(_own_entries(other))
            if scored is not None and (best is None or scored[0] > best[0]):
                best = scored
    if best is None:
        return None, None, SeverityClass.UNSCORED
    score, vector = best
    return float(score), vector, classify(score)
