"""Inputs, messages and query results of ``SubmissionWorkflow``."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from models.identity import Actor
from models.onboarding import ProductManifest, PublisherProfile
from models.scan import Finding, ScanSummary


class SubmissionState(StrEnum):
    VALIDATING = "validating"
    SCANNING = "scanning"
    AWAITING_REVIEW = "awaiting_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    ABANDONED = "abandoned"


TERMINAL_STATES = frozenset(
    {
        SubmissionState.PUBLISHED,
        SubmissionState.REJECTED,
        SubmissionState.WITHDRAWN,
        SubmissionState.ABANDONED,
    }
)


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"


@dataclass
class SubmissionInput:
    submission_id: str
    submitted_by: str
    publisher_members: list[str]  # who may act as the publisher on this submission
    profile: PublisherProfile
    manifest: ProductManifest
    abandon_after: timedelta
    abandon_warning_before: timedelta


@dataclass
class Reason:
    """Why a moderator asks for changes: about one manifest field, one CVE, or in general."""

    text: str
    field: str | None = None
    cve: str | None = None


@dataclass
class Decision:
    actor: Actor
    kind: DecisionKind
    reasons: list[Reason] = field(default_factory=list)
    comment: str = ""


@dataclass
class ExceptionGrant:
    actor: Actor
    cve: str
    justification: str
    expires_at: datetime


@dataclass
class Resubmission:
    actor: Actor
    manifest: ProductManifest | None = None  # None: same manifest, images re-pulled and rescanned
    note: str = ""


@dataclass
class Withdrawal:
    actor: Actor
    reason: str = ""


@dataclass
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    state: SubmissionState
    revision: int
    reasons: list[Reason] = field(default_factory=list)
    comment: str = ""


@dataclass
class CveException:
    cve: str
    justification: str
    expires_at: datetime
    granted_by: str


@dataclass
class SubmissionStatus:
    submission_id: str
    product: str
    publisher_id: str
    state: SubmissionState
    revision: int
    history: list[HistoryEntry]
    scans: list[ScanSummary]
    exceptions: list[CveException]
    open_findings: list[Finding]  # critical/major findings not covered by a valid exception
    problems: list[str] = field(default_factory=list)  # validation problems of the last revision


@dataclass
class DecisionResult:
    submission_id: str
    state: SubmissionState
    revision: int
