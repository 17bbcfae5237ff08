"""Every notice the store sends: its name, subject, the event that sends it, its context keys.

This is the one place listing notices. Each name has a template pair in
``notifications/templates/`` (``NAME.txt.j2`` and ``NAME.html.j2``) and is
rendered by ``notifications.render.render_notice(name, context)``.

The context is a plain dict (it crosses the Temporal activity boundary as JSON).
Every notice needs the COMMON_KEYS; each spec adds its own ``keys`` (required)
and ``optional`` keys (with the default used when absent). Shapes of the
structured keys:

- ``scans``: list of dicts with the fields of ``models.scan.ScanSummary``
  (tier, tag, image_ref, digest, os, component_count, colour, counts, error),
  ``findings`` being dicts of ``models.scan.Finding`` fields (cve_id, package,
  installed_version, fixed_version, cvss_score, cvss_vector, severity,
  layer_index, layer_digest, advisory_id, summary, ...). ``dataclasses.asdict``
  of a ScanSummary fits.
- ``reasons``: list of ``{"field": str | None, "cve": str | None, "text": str}``
  (``dataclasses.asdict`` of ``models.submission.Reason`` fits).
- ``problems``: list of ``{"field": str, "message": str}``.
- ``manifest``: ``ProductManifest.model_dump(mode="json")``.
- ``report`` (monthly_report): ``reports.monthly.MonthlyReport.context()``; ``month``: "YYYY-MM".
- ``reason`` of the ``*_subscriber`` notices is shown through the ``public_reason`` filter:
  anything that names a CVE, an advisory or a severity becomes "a security issue".
- ``comment``, ``justification``, ``expires_at``, ``deadline``, ``listing_url``: strings
  (dates already formatted for people, e.g. "2025-03-01 14:00 UTC").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMMON_KEYS: tuple[str, ...] = (
    "publisher_name",  # legal name of the publisher organisation
    "product",  # product slug
    "product_name",  # display name from the manifest
    "submission_id",
    "revision",  # int: revision of the submission the notice is about
    "actor",  # name of the user (or "store" for the clock) who caused the event
)


@dataclass(frozen=True)
class NoticeSpec:
    """One notice: what sends it, its subject template and the context keys it uses."""

    name: str
    subject: str  # a Jinja2 template rendered with the same context; one line
    event: str  # the event that sends this notice
    keys: tuple[str, ...] = ()  # required beyond COMMON_KEYS
    optional: dict[str, Any] = field(default_factory=dict)  # key -> default

    @property
    def required_keys(self) -> tuple[str, ...]:
        return COMMON_KEYS + self.keys


_SPECS = [
    NoticeSpec(
        name="submission_received",
        subject="[{{ product_name }}] Submission {{ submission_id }} received "
        "(revision {{ revision }})",
        event="a publisher submits a product or resubmits a revision",
        optional={"note": ""},
    ),
    NoticeSpec(
        name="validation_failed",
        subject="[{{ product_name }}] {{ problems | length }} "
        "problem{{ '' if problems | length == 1 else 's' }} to fix in revision {{ revision }}",
        event="the worker's re-validation of a revision (files included) finds problems",
        keys=("problems",),
    ),
    NoticeSpec(
        name="scan_results",
        subject="[{{ product_name }}] Security scan of revision {{ revision }}: "
        "{{ scans | scan_headline }}",
        event="every image of a revision has been scanned",
        keys=("scans",),
    ),
    NoticeSpec(
        name="changes_requested",
        subject="[{{ product_name }}] Changes requested on revision {{ revision }}",
        event="a moderator requests changes",
        keys=("reasons",),
        optional={"comment": ""},
    ),
    NoticeSpec(
        name="approved",
        subject="[{{ product_name }}] Revision {{ revision }} approved",
        event="a moderator approves a revision",
        optional={"comment": ""},
    ),
    NoticeSpec(
        name="rejected",
        subject="[{{ product_name }}] Submission {{ submission_id }} rejected",
        event="a moderator rejects a submission",
        keys=("reasons",),
        optional={"comment": ""},
    ),
    NoticeSpec(
        name="exception_granted",
        subject="[{{ product_name }}] Exception granted for {{ cve }} until {{ expires_at }}",
        event="a moderator grants a CVE exception",
        keys=("cve", "justification", "expires_at"),
    ),
    NoticeSpec(
        name="published",
        subject="[{{ product_name }}] Published in the store",
        event="the listing is created or updated after approval",
        keys=("manifest", "scans"),
        optional={"listing_url": "", "badges": []},
    ),
    NoticeSpec(
        name="withdrawn",
        subject="[{{ product_name }}] Submission {{ submission_id }} withdrawn",
        event="the publisher withdraws a submission",
        optional={"comment": ""},
    ),
    NoticeSpec(
        name="abandonment_warning",
        subject="[{{ product_name }}] Reply by {{ deadline }} or submission "
        "{{ submission_id }} is abandoned",
        event="no publisher answer for (abandon_after - abandon_warning_before)",
        keys=("deadline",),
    ),
    NoticeSpec(
        name="abandoned",
        subject="[{{ product_name }}] Submission {{ submission_id }} abandoned",
        event="no publisher answer for abandon_after",
        optional={"comment": ""},
    ),
    NoticeSpec(
        name="sla_started",
        subject="[{{ product_name }}] {{ severity | capitalize }} {{ cve }}: fix by {{ deadline }}",
        event="a rescan or a new advisory finds a critical or major CVE in a published listing",
        keys=(
            "cve",
            "severity",
            "deadline",
            "package",
            "installed_version",
            "fixed_version",
            "cvss_score",
        ),
    ),
    NoticeSpec(
        name="sla_reminder",
        subject="[{{ product_name }}] Reminder: fix {{ cve }} by {{ deadline }}",
        event="an SLA clock nears its deadline with the finding still open",
        keys=("cve", "severity", "deadline"),
    ),
    NoticeSpec(
        name="listing_hold",
        subject="[{{ product_name }}] Listing on hold until {{ deadline }}",
        event="an SLA deadline is missed, or a moderator holds the listing (to the publisher)",
        keys=("reason", "deadline"),
    ),
    NoticeSpec(
        name="listing_hold_subscriber",
        subject="[{{ product_name }}] On hold in the store",
        event="a listing goes on hold (to each subscriber; no CVE details)",
        keys=("reason",),
    ),
    NoticeSpec(
        name="listing_restored",
        subject="[{{ product_name }}] Listing restored",
        event="a held listing is fixed in time, or a moderator restores it (to the publisher)",
        keys=("reason",),
    ),
    NoticeSpec(
        name="listing_restored_subscriber",
        subject="[{{ product_name }}] Restored in the store",
        event="a held listing is restored (to each subscriber)",
        keys=("reason",),
    ),
    NoticeSpec(
        name="listing_revoked",
        subject="[{{ product_name }}] Listing revoked",
        event="a hold expires unfixed after one month, or a moderator revokes (to the publisher)",
        keys=("reason",),
    ),
    NoticeSpec(
        name="listing_revoked_subscriber",
        subject="[{{ product_name }}] Revoked from the store",
        event="a listing is revoked (to each subscriber)",
        keys=("reason",),
    ),
    NoticeSpec(
        name="monthly_report",
        subject="[{{ publisher_name }}] Store report for {{ month }}",
        event="the monthly report schedule, on the 1st, for the previous month (to the publisher)",
        keys=("month", "report"),
    ),
]

CATALOG: dict[str, NoticeSpec] = {spec.name: spec for spec in _SPECS}
