"""Certification of a product: best-practices review, plugin API suite, sign-off, badge."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from models.identity import Actor


class CertificationKind(StrEnum):
    CONTAINER = "container"  # Docker Certified Container
    PLUGIN = "plugin"  # Docker Certified Plugin: the container checks plus the API suite


class CertificationState(StrEnum):
    REVIEWING = "reviewing"
    AWAITING_SIGN_OFF = "awaiting_sign_off"
    CERTIFIED = "certified"
    WITHDRAWN = "withdrawn"


@dataclass
class CheckOutcome:
    """One check on one subject (an image tag, or the plugin endpoint)."""

    id: str
    title: str
    passed: bool
    reason: str
    fix_url: str = ""
    subject: str = ""  # "Standard/1.1" or "plugin"
    waivable: bool = True  # a clean scan cannot be waived
    details: list[str] = field(default_factory=list)  # e.g. the offending paths (bounded)


@dataclass
class ImageToReview:
    tier: str
    tag: str
    image_ref: str
    digest: str
    tags: list[str]  # every tag of the tier, for the unique-tag check


@dataclass
class ReviewRequest:
    certification_id: str
    image: ImageToReview


@dataclass
class ReviewResult:
    digest: str
    checks: list[CheckOutcome]


@dataclass
class PluginSuiteRequest:
    certification_id: str
    endpoint: str


@dataclass
class Badge:
    kind: CertificationKind
    submission_id: str
    revision: int
    certified_by: str
    at: datetime
    waivers: dict[str, str] = field(default_factory=dict)  # carried to a re-review
    plugin_endpoint: str | None = None


@dataclass
class ReReviewRequest:
    """A new revision of a certified product: review it again before the badge carries over."""

    product: str
    submission_id: str
    revision: int
    badge: Badge
    open_findings: list[str] = field(default_factory=list)


@dataclass
class CertificationInput:
    certification_id: str
    product: str
    product_name: str
    publisher_id: str
    publisher_name: str
    publisher_email: str
    publisher_members: list[str]
    submission_id: str
    revision: int
    kind: CertificationKind
    images: list[ImageToReview]
    open_findings: list[str]  # critical/major CVEs without a valid exception
    requested_by: str
    plugin_endpoint: str | None = None
    # A re-review of a new revision: certified without a moderator when nothing fails
    # beyond the checks the previous sign-off waived.
    carry_over: Badge | None = None


@dataclass
class SignOff:
    actor: Actor
    waivers: dict[str, str] = field(default_factory=dict)  # check id -> why it is acceptable
    comment: str = ""


@dataclass
class BadgeGrant:
    product: str
    badge: Badge


@dataclass
class CertificationStatus:
    certification_id: str
    product: str
    kind: CertificationKind
    state: CertificationState
    checks: list[CheckOutcome]
    waivers: dict[str, str]
    failing: list[str]  # ids of failing checks not waived
    signed_off_by: str | None = None
