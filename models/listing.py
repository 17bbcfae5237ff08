"""Inputs, messages and state of ``ListingWorkflow``: a published product's life after approval."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from models.certification import Badge
from models.identity import Actor
from models.scan import Finding, SeverityClass


class ListingState(StrEnum):
    PUBLISHED = "published"
    ON_HOLD = "on_hold"
    REVOKED = "revoked"


class ClockState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class SlaPolicy:
    """The store's promises, in one place (spec step 6); tests shorten none of them."""

    critical: timedelta = timedelta(hours=72)
    major: timedelta = timedelta(days=7)
    reminder_before: timedelta = timedelta(hours=24)
    hold_at_most: timedelta = timedelta(days=30)  # one month on hold, then revoked

    def window(self, severity: SeverityClass) -> timedelta | None:
        if severity == SeverityClass.CRITICAL:
            return self.critical
        if severity == SeverityClass.MAJOR:
            return self.major
        return None


@dataclass
class SlaClock:
    """One CVE's fix deadline on one listing."""

    cve: str
    severity: SeverityClass
    package: str
    installed_version: str
    started_at: datetime
    deadline: datetime
    fixed_version: str | None = None
    cvss_score: float | None = None
    reminded: bool = False
    tags: list[str] = field(default_factory=list)  # the tags that carry the finding


@dataclass
class ListingException:
    cve: str
    justification: str
    expires_at: datetime
    granted_by: str


@dataclass
class FindingsReport:
    """The complete current findings of one published tag (a revision, a rescan or the feed).

    Complete means: a CVE of an open clock that is absent here is fixed (or its
    advisory was withdrawn), and the clock closes.
    """

    tag: str
    digest: str
    findings: list[Finding]
    source: str  # "revision", "rescan" or "feed"


@dataclass
class RevisionReport:
    """A newly approved revision: every tag it publishes, and its moderation exceptions."""

    revision: int
    submission_id: str
    tags: list[FindingsReport]
    exceptions: list["ListingException"] = field(default_factory=list)


@dataclass
class RevisionAnnouncement:
    """What a submission hands to its product's ListingWorkflow once published."""

    product: str
    product_name: str
    publisher_id: str
    publisher_name: str
    publisher_email: str
    revision: RevisionReport


@dataclass
class ListingEvent:
    at: datetime
    actor: str
    action: str
    state: ListingState
    reason: str = ""
    cve: str | None = None


@dataclass
class ListingSnapshot:
    """Everything ``ListingWorkflow`` carries across continue-as-new."""

    state: ListingState
    revision: int
    clocks: list[SlaClock]
    exceptions: list[ListingException]
    findings: dict[str, list[Finding]]  # by tag
    events: list[ListingEvent]
    hold_started_at: datetime | None = None
    revoke_at: datetime | None = None
    badges: list[Badge] = field(default_factory=list)
    suspended_badges: list[Badge] = field(default_factory=list)
    submission_id: str = ""


@dataclass
class ListingInput:
    product: str
    product_name: str
    publisher_id: str
    publisher_name: str
    publisher_email: str
    policy: SlaPolicy = field(default_factory=SlaPolicy)
    snapshot: ListingSnapshot | None = None  # set when continuing as new
    max_events_before_continue: int = 2000


@dataclass
class ListingAction:
    """A moderator's hold, restore or revoke, with a reason."""

    actor: Actor
    reason: str


@dataclass
class ListingExceptionGrant:
    actor: Actor
    cve: str
    justification: str
    expires_at: datetime


@dataclass
class ListingStatus:
    product: str
    state: ListingState
    revision: int
    open_clocks: list[SlaClock]
    exceptions: list[ListingException]
    events: list[ListingEvent]
    hold_started_at: datetime | None
    revoke_at: datetime | None
    badges: list[Badge] = field(default_factory=list)  # shown: certified and not on hold
    suspended_badges: list[Badge] = field(default_factory=list)  # awaiting re-review
