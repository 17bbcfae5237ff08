"""SubmissionWorkflow: one submission's life from validation to publication.

The workflow holds decisions and timers only. Every side effect (database
mirror, audit row, email) is an activity queued in order on ``_effects`` and
drained by one task, so an Update handler returns as soon as the decision is
applied and a slow SMTP relay never blocks a moderator.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.effects import RECORD_RETRY, EffectQueue

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        ANNOUNCE_REVISION,
        PUBLISH_LISTING,
        RECORD_AUDIT,
        RECORD_SUBMISSION,
        SCAN_IMAGE,
        VALIDATE_SUBMISSION,
        AuditRequest,
        NoticeRequest,
        PublishRequest,
        PublishResult,
        SubmissionSnapshot,
        ValidationRequest,
        ValidationResult,
    )
    from models.identity import Actor, Role
    from models.listing import (
        FindingsReport,
        ListingException,
        RevisionAnnouncement,
        RevisionReport,
    )
    from models.records import AuditEvent
    from models.scan import Finding, ScanRequest, ScanSummary, SeverityClass
    from models.submission import (
        TERMINAL_STATES,
        CveException,
        Decision,
        DecisionKind,
        DecisionResult,
        ExceptionGrant,
        HistoryEntry,
        Reason,
        Resubmission,
        SubmissionInput,
        SubmissionState,
        SubmissionStatus,
        Withdrawal,
    )

SYSTEM_ACTOR = "storemod"
BLOCKING_CLASSES = frozenset({SeverityClass.CRITICAL, SeverityClass.MAJOR})

_SCAN_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


def workflow_id_for(submission_id: str) -> str:
    """The workflow id of a submission: one workflow per submission, ever."""
    return f"submission-{submission_id}"


@workflow.defn
class SubmissionWorkflow:
    """Validation, scan, iterative moderation, publication of one submission."""

    @workflow.init
    def __init__(self, inp: SubmissionInput) -> None:
        self._input = inp
        self._manifest = inp.manifest
        self._state = SubmissionState.VALIDATING
        self._revision = 1
        self._history: list[HistoryEntry] = []
        self._scans: list[ScanSummary] = []
        self._exceptions: list[CveException] = []
        self._problems: list[str] = []
        self._effects = EffectQueue()

    # ---------------------------------------------------------------- run

    @workflow.run
    async def run(self, inp: SubmissionInput) -> SubmissionStatus:
        drain = asyncio.create_task(self._effects.drain_forever())
        self._transition(
            SubmissionState.VALIDATING, inp.submitted_by, "submitted", notice="submission_received"
        )
        while self._state not in TERMINAL_STATES:
            await self._check_and_scan()
            if self._state in TERMINAL_STATES:
                break
            await self._await_moderation_or_publisher()
            if self._state == SubmissionState.APPROVED:
                await self._publish()
        await workflow.wait_condition(self._effects.idle)
        await workflow.wait_condition(workflow.all_handlers_finished)
        drain.cancel()
        return self.status()

    async def _check_and_scan(self) -> None:
        """One revision: validate, then scan every tier's tags, then hand to review."""
        result = await workflow.execute_activity(
            VALIDATE_SUBMISSION,
            ValidationRequest(self._input.submission_id, self._input.profile, self._manifest),
            result_type=ValidationResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RECORD_RETRY,
        )
        if self._state in TERMINAL_STATES:
            return
        self._problems = [f"{p['field']}: {p['message']}" for p in result.problems]
        if result.problems:
            reasons = [Reason(text=p["message"], field=p["field"]) for p in result.problems]
            self._transition(
                SubmissionState.CHANGES_REQUESTED,
                SYSTEM_ACTOR,
                "validation_failed",
                reasons=reasons,
                notice="validation_failed",
            )
            return

        self._transition(SubmissionState.SCANNING, SYSTEM_ACTOR, "scan_started")
        requests = [
            ScanRequest(
                submission_id=self._input.submission_id,
                revision=self._revision,
                tier=tier.name,
                tag=tag,
                image_ref=f"{tier.source.repository}:{tag}",
            )
            for tier in self._manifest.tiers
            for tag in tier.source.tags
        ]
        self._scans = list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        SCAN_IMAGE,
                        req,
                        result_type=ScanSummary,
                        start_to_close_timeout=timedelta(minutes=30),
                        heartbeat_timeout=timedelta(minutes=2),
                        retry_policy=_SCAN_RETRY,
                    )
                    for req in requests
                )
            )
        )
        if self._state in TERMINAL_STATES:
            return
        failed = [s for s in self._scans if s.error]
        if failed:
            reasons = [
                Reason(text=f"image {s.image_ref} could not be scanned: {s.error}", field="tiers")
                for s in failed
            ]
            self._transition(
                SubmissionState.CHANGES_REQUESTED,
                SYSTEM_ACTOR,
                "scan_failed",
                reasons=reasons,
                notice="changes_requested",
            )
            return
        self._transition(
            SubmissionState.AWAITING_REVIEW, SYSTEM_ACTOR, "scanned", notice="scan_results"
        )

    async def _await_moderation_or_publisher(self) -> None:
        """Wait for a decision, a resubmission, a withdrawal, or the abandonment clock."""
        if self._state == SubmissionState.AWAITING_REVIEW:
            await workflow.wait_condition(lambda: self._state != SubmissionState.AWAITING_REVIEW)
        if self._state != SubmissionState.CHANGES_REQUESTED:
            return
        revision = self._revision

        def answered() -> bool:
            return self._state != SubmissionState.CHANGES_REQUESTED or self._revision != revision

        warn_after = self._input.abandon_after - self._input.abandon_warning_before
        try:
            await workflow.wait_condition(answered, timeout=warn_after)
            return
        except TimeoutError:
            deadline = workflow.now() + self._input.abandon_warning_before
            self._transition(
                SubmissionState.CHANGES_REQUESTED,
                SYSTEM_ACTOR,
                "abandonment_warning",
                notice="abandonment_warning",
                extra={"deadline": deadline.isoformat(timespec="minutes")},
            )
        try:
            await workflow.wait_condition(answered, timeout=self._input.abandon_warning_before)
        except TimeoutError:
            self._transition(
                SubmissionState.ABANDONED, SYSTEM_ACTOR, "abandoned", notice="abandoned"
            )

    async def _publish(self) -> None:
        result = await workflow.execute_activity(
            PUBLISH_LISTING,
            PublishRequest(
                submission_id=self._input.submission_id,
                publisher_id=self._input.profile.id,
                revision=self._revision,
                manifest=self._manifest,
                scans=self._scans,
            ),
            result_type=PublishResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RECORD_RETRY,
        )
        self._transition(
            SubmissionState.PUBLISHED,
            SYSTEM_ACTOR,
            "published" if result.created else "listing_updated",
            notice="published",
        )
        # Histories recorded before listings had a workflow of their own end here.
        if workflow.patched("announce-revision-to-listing"):
            self._effects.activity(ANNOUNCE_REVISION, self._announcement())

    def _announcement(self) -> RevisionAnnouncement:
        now = workflow.now()
        return RevisionAnnouncement(
            product=self._manifest.product,
            product_name=self._manifest.name,
            publisher_id=self._input.profile.id,
            publisher_name=self._input.profile.legal_name,
            publisher_email=self._input.profile.email,
            revision=RevisionReport(
                revision=self._revision,
                submission_id=self._input.submission_id,
                tags=[
                    FindingsReport(s.tag, s.digest, list(s.findings), "revision")
                    for s in self._scans
                ],
                exceptions=[
                    ListingException(e.cve, e.justification, e.expires_at, e.granted_by)
                    for e in self._exceptions
                    if e.expires_at > now
                ],
            ),
        )

    # ------------------------------------------------------------ updates

    @workflow.update
    async def decide(self, decision: Decision) -> DecisionResult:
        """A moderator approves, requests changes or rejects the current revision."""
        target = {
            DecisionKind.APPROVE: SubmissionState.APPROVED,
            DecisionKind.REQUEST_CHANGES: SubmissionState.CHANGES_REQUESTED,
            DecisionKind.REJECT: SubmissionState.REJECTED,
        }[decision.kind]
        notice = {
            DecisionKind.APPROVE: "approved",
            DecisionKind.REQUEST_CHANGES: "changes_requested",
            DecisionKind.REJECT: "rejected",
        }[decision.kind]
        self._transition(
            target,
            decision.actor.name,
            decision.kind.value,
            reasons=decision.reasons,
            comment=decision.comment,
            notice=notice,
        )
        return self._result()

    @decide.validator
    def _validate_decision(self, decision: Decision) -> None:
        self._require_moderator(decision.actor)
        self._require_state("decide on", SubmissionState.AWAITING_REVIEW)
        if decision.kind == DecisionKind.APPROVE:
            open_findings = self._open_findings()
            if open_findings:
                cves = ", ".join(sorted({f.cve_id for f in open_findings}))
                raise ValueError(
                    "cannot approve: open critical/major findings without a valid "
                    f"exception: {cves}"
                )
        else:
            if not decision.reasons:
                raise ValueError(f"{decision.kind.value} needs at least one reason")
        for reason in decision.reasons:
            self._check_reason(reason)

    @workflow.update
    async def grant_exception(self, grant: ExceptionGrant) -> DecisionResult:
        """A moderator accepts one CVE until an expiry date, with a justification."""
        self._exceptions = [e for e in self._exceptions if e.cve != grant.cve]
        self._exceptions.append(
            CveException(
                cve=grant.cve,
                justification=grant.justification.strip(),
                expires_at=grant.expires_at,
                granted_by=grant.actor.name,
            )
        )
        self._transition(
            self._state,
            grant.actor.name,
            "exception_granted",
            reasons=[Reason(text=grant.justification.strip(), cve=grant.cve)],
            notice="exception_granted",
            extra={
                "cve": grant.cve,
                "justification": grant.justification.strip(),
                "expires_at": grant.expires_at.isoformat(timespec="minutes"),
            },
        )
        return self._result()

    @grant_exception.validator
    def _validate_exception(self, grant: ExceptionGrant) -> None:
        self._require_moderator(grant.actor)
        self._require_state(
            "grant an exception on",
            SubmissionState.AWAITING_REVIEW,
            SubmissionState.CHANGES_REQUESTED,
        )
        if not grant.justification.strip():
            raise ValueError("an exception needs a justification")
        if grant.expires_at.tzinfo is None:
            raise ValueError("the exception expiry must carry a time zone")
        if grant.expires_at <= workflow.now():
            raise ValueError(
                f"the exception expiry {grant.expires_at.isoformat()} is not in the future"
            )
        known = {f.cve_id for s in self._scans for f in s.findings}
        if grant.cve not in known:
            raise ValueError(f"{grant.cve} is not among this submission's findings")

    @workflow.update
    async def resubmit(self, resubmission: Resubmission) -> DecisionResult:
        """The publisher sends a new revision (new images and/or manifest); it is rescanned."""
        if resubmission.manifest is not None:
            self._manifest = resubmission.manifest
        self._revision += 1
        self._scans = []
        self._transition(
            SubmissionState.VALIDATING,
            resubmission.actor.name,
            "resubmitted",
            comment=resubmission.note,
        )
        return self._result()

    @resubmit.validator
    def _validate_resubmission(self, resubmission: Resubmission) -> None:
        self._require_publisher(resubmission.actor)
        self._require_state(
            "resubmit",
            SubmissionState.AWAITING_REVIEW,
            SubmissionState.CHANGES_REQUESTED,
        )
        if (
            resubmission.manifest is not None
            and resubmission.manifest.product != self._input.manifest.product
        ):
            raise ValueError(
                f"a resubmission cannot change the product id "
                f"({self._input.manifest.product} -> {resubmission.manifest.product})"
            )

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> DecisionResult:
        """The publisher withdraws the submission; nothing is published."""
        self._transition(
            SubmissionState.WITHDRAWN,
            withdrawal.actor.name,
            "withdrawn",
            comment=withdrawal.reason,
            notice="withdrawn",
        )
        return self._result()

    @withdraw.validator
    def _validate_withdrawal(self, withdrawal: Withdrawal) -> None:
        self._require_publisher(withdrawal.actor)
        if self._state in TERMINAL_STATES or self._state == SubmissionState.APPROVED:
            raise ValueError(f"submission is {self._state.value}; it can no longer be withdrawn")

    # -------------------------------------------------------------- query

    @workflow.query
    def status(self) -> SubmissionStatus:
        """State, revision, decision history, scans and open findings."""
        return SubmissionStatus(
            submission_id=self._input.submission_id,
            product=self._manifest.product,
            publisher_id=self._input.profile.id,
            state=self._state,
            revision=self._revision,
            history=list(self._history),
            scans=list(self._scans),
            exceptions=list(self._exceptions),
            open_findings=self._open_findings(),
            problems=list(self._problems),
        )

    # ------------------------------------------------------------ helpers

    def _result(self) -> DecisionResult:
        return DecisionResult(self._input.submission_id, self._state, self._revision)

    def _open_findings(self) -> list[Finding]:
        now = workflow.now()
        excepted = {e.cve for e in self._exceptions if e.expires_at > now}
        return [
            f
            for s in self._scans
            for f in s.findings
            if f.severity in BLOCKING_CLASSES and f.cve_id not in excepted
        ]

    def _require_moderator(self, actor: Actor) -> None:
        if actor.role != Role.MODERATOR:
            raise ValueError(f"{actor.name} is a {actor.role.value}; only moderators may do this")

    def _require_publisher(self, actor: Actor) -> None:
        if actor.role != Role.PUBLISHER or actor.name not in self._input.publisher_members:
            raise ValueError(
                f"{actor.name} is not a member of publisher {self._input.profile.id}; "
                "only its members may act on this submission"
            )

    def _require_state(self, what: str, *allowed: SubmissionState) -> None:
        if self._state not in allowed:
            names = " or ".join(s.value for s in allowed)
            raise ValueError(
                f"cannot {what} submission {self._input.submission_id}: it is "
                f"{self._state.value}, not {names}"
            )

    def _check_reason(self, reason: Reason) -> None:
        if not reason.text.strip():
            raise ValueError("every reason needs a text")
        if reason.cve is not None:
            known = {f.cve_id for s in self._scans for f in s.findings}
            if reason.cve not in known:
                raise ValueError(f"{reason.cve} is not among this submission's findings")
        if reason.field is not None:
            top = reason.field.split(".")[0].split("[")[0]
            if top not in type(self._manifest).model_fields:
                raise ValueError(f"{reason.field} is not a manifest field")

    def _transition(
        self,
        state: SubmissionState,
        actor: str,
        action: str,
        *,
        reasons: list[Reason] | None = None,
        comment: str = "",
        notice: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Apply a state change and queue its mirror, audit row and email, in that order."""
        self._state = state
        entry = HistoryEntry(
            at=workflow.now(),
            actor=actor,
            action=action,
            state=state,
            revision=self._revision,
            reasons=list(reasons or []),
            comment=comment,
        )
        self._history.append(entry)
        seq = len(self._history)
        sid = self._input.submission_id
        workflow.logger.info("submission %s: %s by %s -> %s", sid, action, actor, state.value)
        snapshot = SubmissionSnapshot(
            submission_id=sid,
            product=self._manifest.product,
            publisher_id=self._input.profile.id,
            state=state.value,
            revision=self._revision,
            submitted_by=self._input.submitted_by,
            manifest=self._manifest,
        )
        audit = AuditEvent(
            key=f"{sid}/{seq}",
            actor=actor,
            action=action,
            subject_type="submission",
            subject_id=sid,
            at=entry.at,
            reason="; ".join(_reason_line(r) for r in entry.reasons) or comment,
            details={"state": state.value, "revision": self._revision, **(extra or {})},
        )
        self._effects.activity(RECORD_SUBMISSION, snapshot)
        self._effects.activity(RECORD_AUDIT, AuditRequest(audit))
        if notice is not None:
            context = self._notice_context(entry, extra or {})
            request = NoticeRequest(
                key=f"{sid}/{seq}/{notice}",
                recipient=self._input.profile.email,
                template=notice,
                context=context,
                subject_id=sid,
            )
            self._effects.notice(request)

    def _notice_context(self, entry: HistoryEntry, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "publisher_name": self._input.profile.legal_name,
            "product": self._manifest.product,
            "product_name": self._manifest.name,
            "submission_id": self._input.submission_id,
            "revision": self._revision,
            "actor": entry.actor,
            "state": entry.state.value,
            "reasons": [asdict(r) for r in entry.reasons],
            "comment": entry.comment,
            "problems": [
                {"field": r.field or "", "message": r.text} for r in entry.reasons if r.field
            ],
            "scans": [_scan_dict(s) for s in self._scans],
            "manifest": self._manifest.model_dump(mode="json"),
            "justification": "",
            "expires_at": "",
            "deadline": "",
            **extra,
        }


def _reason_line(reason: Reason) -> str:
    about = reason.field or reason.cve
    return f"{about}: {reason.text}" if about else reason.text


def _scan_dict(scan: ScanSummary) -> dict[str, Any]:
    data = asdict(scan)
    data["colour"] = scan.colour.value
    for finding in data["findings"]:
        finding["severity"] = str(finding["severity"])
    return data
