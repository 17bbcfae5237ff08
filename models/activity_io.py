"""Requests and results of the activities the workflows call, by name.

Workflows call activities by their registered name with these types, so the
workflow sandbox never imports the activity code (and its I/O libraries).
"""

from dataclasses import dataclass, field
from typing import Any

from models.onboarding import ProductManifest, PublisherProfile
from models.records import AuditEvent
from models.scan import ScanSummary

VALIDATE_SUBMISSION = "validate_submission"
RECORD_SUBMISSION = "record_submission"
SCAN_IMAGE = "scan_image"
PUBLISH_LISTING = "publish_listing"
RECORD_AUDIT = "record_audit"
SEND_NOTICE = "send_notice"
MARK_NOTICE_SENT = "mark_notice_sent"
RECORD_LISTING_STATE = "record_listing_state"
NOTIFY_SUBSCRIBERS = "notify_subscribers"
ANNOUNCE_REVISION = "announce_revision"
RESCAN_PUBLISHED = "rescan_published"
IMPORT_ADVISORY_FEED = "import_advisory_feed"
MATCH_AFFECTED_LISTINGS = "match_affected_listings"
REVIEW_IMAGE = "review_image"
RUN_PLUGIN_SUITE = "run_plugin_suite"
GRANT_BADGE = "grant_badge"
START_RE_REVIEW = "start_re_review"


@dataclass
class ValidationRequest:
    submission_id: str
    profile: PublisherProfile
    manifest: ProductManifest


@dataclass
class ValidationResult:
    problems: list[dict[str, str]] = field(default_factory=list)  # {"field", "message"}


@dataclass
class SubmissionSnapshot:
    """The database mirror of a submission, written on every state change."""

    submission_id: str
    product: str
    publisher_id: str
    state: str
    revision: int
    submitted_by: str
    manifest: ProductManifest


@dataclass
class PublishRequest:
    submission_id: str
    publisher_id: str
    revision: int
    manifest: ProductManifest
    scans: list[ScanSummary]


@dataclass
class PublishResult:
    created: bool  # False: an existing listing was updated


@dataclass
class AuditRequest:
    event: AuditEvent


@dataclass
class NoticeRequest:
    key: str  # event key; with the recipient it names the notice exactly once
    recipient: str
    template: str
    context: dict[str, Any]
    subject_id: str = ""  # the submission or listing the notice is about, for logs


@dataclass
class NoticeResult:
    """Whether the outbox row could be marked sent after the relay accepted the mail.

    When it could not (the database was down), the workflow marks it with
    ``mark_notice_sent``, retried until the database is back, so a resend never
    happens because of a database outage.
    """

    outbox_key: str
    marked: bool = True


@dataclass
class MarkNoticeRequest:
    outbox_key: str


@dataclass
class ListingStateChange:
    product: str
    state: str


@dataclass
class SubscriberNotice:
    """One notice to every subscriber of a product (downloaded it, opted in to notices)."""

    key: str  # event key; each subscriber's copy is keyed by it and their address
    product: str
    template: str
    context: dict[str, Any]


@dataclass
class RescanRequest:
    product: str | None = None  # None: every published listing


@dataclass
class RescanResult:
    tags: int = 0
    unreadable: list[str] = field(default_factory=list)  # image refs that could not be read


@dataclass
class FeedRequest:
    source: str  # a folder, file or zip of OSV records, or an http(s) URL


@dataclass
class FeedResult:
    changed: list[str] = field(default_factory=list)  # advisory ids new or modified
    skipped: list[str] = field(default_factory=list)  # "ID: reason" of bad records


@dataclass
class AffectedRequest:
    advisory_ids: list[str]


@dataclass
class AffectedResult:
    tags: list[str] = field(default_factory=list)  # "product:tag" re-matched and reported
