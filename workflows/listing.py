"""ListingWorkflow: a published product's life, until revoked.

One workflow per product (id ``listing-{product}``). It receives the complete
findings of every published tag (a newly approved revision, a rescan, the
advisory feed) and keeps one SLA clock per open critical or major CVE: 72 hours
for critical, 7 days for major, from notification. A reminder goes out before
the deadline; a missed deadline puts the listing on hold; a hold that lasts a
month revokes it. A fix, an exception or a withdrawn advisory closes a clock.
The state travels across continue-as-new in a ``ListingSnapshot``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.effects import EffectQueue

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        NOTIFY_SUBSCRIBERS,
        RECORD_AUDIT,
        RECORD_LISTING_STATE,
        START_RE_REVIEW,
        AuditRequest,
        ListingStateChange,
        NoticeRequest,
        SubscriberNotice,
    )
    from models.certification import Badge, ReReviewRequest
    from models.identity import Actor, Role
    from models.listing import (
        FindingsReport,
        ListingAction,
        ListingEvent,
        ListingException,
        ListingExceptionGrant,
        ListingInput,
        ListingSnapshot,
        ListingState,
        ListingStatus,
        RevisionReport,
        SlaClock,
    )
    from models.records import AuditEvent
    from models.scan import Finding, SeverityClass

SYSTEM_ACTOR = "storemod"
_RANK = {SeverityClass.CRITICAL: 2, SeverityClass.MAJOR: 1}


def listing_workflow_id(product: str) -> str:
    """The workflow id of a product's listing: one per product."""
    return f"listing-{product}"


@workflow.defn
class ListingWorkflow:
    """SLA clocks, hold, restore and revoke of one published product."""

    @workflow.init
    def __init__(self, inp: ListingInput) -> None:
        self._input = inp
        snap = inp.snapshot
        self._state = snap.state if snap else ListingState.PUBLISHED
        self._revision = snap.revision if snap else 0
        self._clocks: dict[str, SlaClock] = {c.cve: c for c in snap.clocks} if snap else {}
        self._exceptions: dict[str, ListingException] = (
            {e.cve: e for e in snap.exceptions} if snap else {}
        )
        self._findings: dict[str, list[Finding]] = dict(snap.findings) if snap else {}
        self._events: list[ListingEvent] = list(snap.events) if snap else []
        self._hold_started_at = snap.hold_started_at if snap else None
        self._revoke_at = snap.revoke_at if snap else None
        self._badges: dict[str, Badge] = {b.kind.value: b for b in snap.badges} if snap else {}
        self._suspended: dict[str, Badge] = (
            {b.kind.value: b for b in snap.suspended_badges} if snap else {}
        )
        self._pending: list[FindingsReport | RevisionReport] = []
        self._current_revision: tuple[str, int] | None = (
            (snap.submission_id, snap.revision) if snap else None
        )
        self._changed = False
        self._effects = EffectQueue()

    # ---------------------------------------------------------------- run

    @workflow.run
    async def run(self, inp: ListingInput) -> ListingStatus:
        drain = asyncio.create_task(self._effects.drain_forever())
        while self._state != ListingState.REVOKED:
            due = self._next_due()
            timeout = max(due - workflow.now(), timedelta(0)) if due else None
            with contextlib.suppress(TimeoutError):  # a timeout means something is due
                await workflow.wait_condition(
                    lambda: bool(self._pending) or self._changed, timeout=timeout
                )
            self._changed = False
            while self._pending:
                self._apply_report(self._pending.pop(0))
            self._apply_time()
            if self._should_continue_as_new():
                await workflow.wait_condition(
                    lambda: self._effects.idle() and workflow.all_handlers_finished()
                )
                if not self._pending:
                    drain.cancel()
                    workflow.continue_as_new(
                        ListingInput(
                            product=inp.product,
                            product_name=inp.product_name,
                            publisher_id=inp.publisher_id,
                            publisher_name=inp.publisher_name,
                            publisher_email=inp.publisher_email,
                            policy=inp.policy,
                            snapshot=self._snapshot(),
                            max_events_before_continue=inp.max_events_before_continue,
                        )
                    )
        await workflow.wait_condition(self._effects.idle)
        await workflow.wait_condition(workflow.all_handlers_finished)
        drain.cancel()
        return self.status()

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._input.max_events_before_continue
        )

    # ------------------------------------------------------------ messages

    @workflow.signal
    def publish_revision(self, revision: RevisionReport) -> None:
        """A newly approved revision replaces every tag's findings."""
        self._pending.append(revision)

    @workflow.signal
    def report_findings(self, report: FindingsReport) -> None:
        """The complete current findings of one published tag, from a rescan or the feed."""
        self._pending.append(report)

    @workflow.signal
    def grant_badge(self, badge: Badge) -> None:
        """A signed-off certification of the current revision: its badge shows."""
        if (badge.submission_id, badge.revision) != self._current_revision:
            return  # certified an older revision: the newer one needs its own review
        self._badges[badge.kind.value] = badge
        self._suspended.pop(badge.kind.value, None)
        self._record(badge.certified_by, "badge_granted", f"certified {badge.kind.value}")
        self._changed = True

    @workflow.update
    def hold(self, action: ListingAction) -> ListingStatus:
        """A moderator puts the listing on hold by hand."""
        self._put_on_hold(action.actor.name, action.reason.strip())
        self._changed = True
        return self.status()

    @hold.validator
    def _validate_hold(self, action: ListingAction) -> None:
        self._require_moderator(action.actor, action.reason)
        if self._state != ListingState.PUBLISHED:
            raise ValueError(f"listing {self._input.product} is {self._state.value}, not published")

    @workflow.update
    def restore(self, action: ListingAction) -> ListingStatus:
        """A moderator lifts a hold by hand."""
        self._restore(action.actor.name, action.reason.strip())
        self._changed = True
        return self.status()

    @restore.validator
    def _validate_restore(self, action: ListingAction) -> None:
        self._require_moderator(action.actor, action.reason)
        if self._state != ListingState.ON_HOLD:
            raise ValueError(f"listing {self._input.product} is {self._state.value}, not on hold")
        overdue = sorted(c.cve for c in self._clocks.values() if c.deadline <= workflow.now())
        if overdue:
            raise ValueError(
                f"cannot restore: {', '.join(overdue)} missed the deadline; publish a fixed "
                "revision or grant an exception first"
            )

    @workflow.update
    def revoke(self, action: ListingAction) -> ListingStatus:
        """A moderator revokes the listing: gone from the catalog, kept in the audit."""
        self._revoke(action.actor.name, action.reason.strip())
        self._changed = True
        return self.status()

    @revoke.validator
    def _validate_revoke(self, action: ListingAction) -> None:
        self._require_moderator(action.actor, action.reason)
        if self._state == ListingState.REVOKED:
            raise ValueError(f"listing {self._input.product} is already revoked")

    @workflow.update
    def grant_exception(self, grant: ListingExceptionGrant) -> ListingStatus:
        """Accept one CVE until an expiry: its clock closes, and starts again at expiry."""
        self._exceptions[grant.cve] = ListingException(
            cve=grant.cve,
            justification=grant.justification.strip(),
            expires_at=grant.expires_at,
            granted_by=grant.actor.name,
        )
        self._record(grant.actor.name, "exception_granted", grant.justification.strip(), grant.cve)
        self._reconcile(grant.actor.name)
        self._changed = True
        return self.status()

    @grant_exception.validator
    def _validate_grant(self, grant: ListingExceptionGrant) -> None:
        self._require_moderator(grant.actor, grant.justification)
        if self._state == ListingState.REVOKED:
            raise ValueError(f"listing {self._input.product} is revoked")
        if grant.expires_at.tzinfo is None or grant.expires_at <= workflow.now():
            raise ValueError(f"the exception expiry {grant.expires_at} is not in the future")
        if grant.cve not in self._current_blocking():
            raise ValueError(f"{grant.cve} is not an open critical/major finding of this listing")

    @workflow.query
    def status(self) -> ListingStatus:
        """State, open clocks with deadlines, exceptions and the listing's events."""
        return ListingStatus(
            product=self._input.product,
            state=self._state,
            revision=self._revision,
            open_clocks=sorted(self._clocks.values(), key=lambda c: c.deadline),
            # A listing on hold loses its badges until restored.
            badges=list(self._badges.values()) if self._state == ListingState.PUBLISHED else [],
            suspended_badges=list(self._suspended.values()),
            exceptions=list(self._exceptions.values()),
            events=list(self._events),
            hold_started_at=self._hold_started_at,
            revoke_at=self._revoke_at,
        )

    # ------------------------------------------------------------ the clock

    def _apply_report(self, report: FindingsReport | RevisionReport) -> None:
        if isinstance(report, RevisionReport):
            self._revision = report.revision
            self._current_revision = (report.submission_id, report.revision)
            # A new revision is re-reviewed before a badge carries over.
            self._suspended.update(self._badges)
            self._badges.clear()
            self._findings = {t.tag: list(t.findings) for t in report.tags}
            for exc in report.exceptions:
                if exc.expires_at > workflow.now():
                    self._exceptions[exc.cve] = exc
            self._record(
                SYSTEM_ACTOR,
                "revision_published",
                f"revision {report.revision} of {report.submission_id}",
            )
            self._reconcile(SYSTEM_ACTOR, source=f"revision {report.revision}")
            if self._suspended and workflow.patched("re-review-badges"):
                for badge in sorted(self._suspended.values(), key=lambda b: b.kind.value):
                    self._effects.activity(
                        START_RE_REVIEW,
                        ReReviewRequest(
                            product=self._input.product,
                            submission_id=report.submission_id,
                            revision=report.revision,
                            badge=badge,
                            open_findings=sorted(self._clocks),
                        ),
                    )
            return
        if report.tag not in self._findings:
            return  # a tag this listing no longer publishes
        self._findings[report.tag] = list(report.findings)
        self._reconcile(SYSTEM_ACTOR, source=report.source)

    def _current_blocking(self) -> dict[str, tuple[Finding, list[str]]]:
        """The worst critical/major finding per CVE across tags, with the tags carrying it."""
        worst: dict[str, tuple[Finding, list[str]]] = {}
        for tag, findings in sorted(self._findings.items()):
            for f in findings:
                if f.severity not in _RANK:
                    continue
                if f.cve_id not in worst:
                    worst[f.cve_id] = (f, [tag])
                    continue
                current, tags = worst[f.cve_id]
                if tag not in tags:
                    tags.append(tag)
                if _RANK[f.severity] > _RANK[current.severity]:
                    worst[f.cve_id] = (f, tags)
        return worst

    def _reconcile(self, actor: str, source: str = "") -> None:
        """Open, escalate and close clocks so they match the current findings."""
        now = workflow.now()
        blocking = self._current_blocking()
        for cve in sorted(self._clocks):
            if cve not in blocking:
                self._close_clock(cve, actor, f"no longer found ({source or 'fixed'})")
            elif cve in self._exceptions:
                self._close_clock(cve, actor, "exception granted")
        for cve, (finding, tags) in sorted(blocking.items()):
            if cve in self._exceptions:
                continue
            window = self._input.policy.window(finding.severity)
            assert window is not None
            clock = self._clocks.get(cve)
            if clock is None:
                clock = SlaClock(
                    cve=cve,
                    severity=finding.severity,
                    package=finding.package,
                    installed_version=finding.installed_version,
                    fixed_version=finding.fixed_version,
                    cvss_score=finding.cvss_score,
                    started_at=now,
                    deadline=now + window,
                    tags=tags,
                )
                self._clocks[cve] = clock
                self._record(SYSTEM_ACTOR, "clock_started", f"deadline {_at(clock.deadline)}", cve)
                self._notify_publisher("sla_started", clock=clock)
            elif _RANK[finding.severity] > _RANK[clock.severity]:
                # Raised from major to critical: the earlier of the two deadlines.
                clock.severity = finding.severity
                clock.deadline = min(clock.deadline, now + window)
                clock.reminded = False  # a reminder for the new deadline
                clock.cvss_score = finding.cvss_score
                self._record(
                    SYSTEM_ACTOR, "clock_escalated", f"deadline {_at(clock.deadline)}", cve
                )
                self._notify_publisher("sla_started", clock=clock)
            clock.tags = tags
        if (
            self._state == ListingState.ON_HOLD
            and not self._clocks
            and self._hold_started_at is not None
            and not self._manual_hold()
        ):
            self._restore(actor, "every finding that caused the hold is fixed or excepted")

    def _apply_time(self) -> None:
        """Everything due now: expired exceptions, reminders, holds, revocation."""
        now = workflow.now()
        expired = sorted(cve for cve, e in self._exceptions.items() if e.expires_at <= now)
        for cve in expired:
            del self._exceptions[cve]
            self._record(SYSTEM_ACTOR, "exception_expired", "", cve)
        if expired:
            self._reconcile(SYSTEM_ACTOR, source="exception expired")
        policy = self._input.policy
        for clock in sorted(self._clocks.values(), key=lambda c: c.deadline):
            if not clock.reminded and now >= clock.deadline - policy.reminder_before:
                clock.reminded = True
                if now < clock.deadline:
                    self._record(
                        SYSTEM_ACTOR, "clock_reminder", f"due {_at(clock.deadline)}", clock.cve
                    )
                    self._notify_publisher("sla_reminder", clock=clock)
        missed = sorted(c.cve for c in self._clocks.values() if c.deadline <= now)
        if missed and self._state == ListingState.PUBLISHED:
            self._put_on_hold(SYSTEM_ACTOR, f"missed the fix deadline for {', '.join(missed)}")
        if (
            self._state == ListingState.ON_HOLD
            and self._revoke_at is not None
            and now >= self._revoke_at
        ):
            self._revoke(SYSTEM_ACTOR, "on hold for a month without a fix")

    def _next_due(self) -> datetime | None:
        times: list[datetime] = [e.expires_at for e in self._exceptions.values()]
        for clock in self._clocks.values():
            if not clock.reminded:
                times.append(clock.deadline - self._input.policy.reminder_before)
            if self._state == ListingState.PUBLISHED:
                times.append(clock.deadline)
        if self._state == ListingState.ON_HOLD and self._revoke_at is not None:
            times.append(self._revoke_at)
        return min(times) if times else None

    def _close_clock(self, cve: str, actor: str, why: str) -> None:
        del self._clocks[cve]
        self._record(actor, "clock_closed", why, cve)

    def _manual_hold(self) -> bool:
        holds = [e for e in self._events if e.action == "hold"]
        return bool(holds) and holds[-1].actor != SYSTEM_ACTOR

    # --------------------------------------------------------- transitions

    def _put_on_hold(self, actor: str, reason: str) -> None:
        now = workflow.now()
        self._state = ListingState.ON_HOLD
        self._hold_started_at = now
        self._revoke_at = now + self._input.policy.hold_at_most
        self._record(actor, "hold", reason)
        self._mirror()
        extra = {"reason": reason, "deadline": _at(self._revoke_at)}
        self._notify_publisher("listing_hold", extra=extra)
        self._notify_subscribers("listing_hold_subscriber", {"reason": "a security issue"})

    def _restore(self, actor: str, reason: str) -> None:
        self._state = ListingState.PUBLISHED
        self._hold_started_at = None
        self._revoke_at = None
        self._record(actor, "restore", reason)
        self._mirror()
        self._notify_publisher("listing_restored", extra={"reason": reason})
        self._notify_subscribers("listing_restored_subscriber", {"reason": reason})

    def _revoke(self, actor: str, reason: str) -> None:
        self._state = ListingState.REVOKED
        self._record(actor, "revoke", reason)
        self._mirror()
        self._notify_publisher("listing_revoked", extra={"reason": reason})
        self._notify_subscribers("listing_revoked_subscriber", {"reason": reason})

    # ------------------------------------------------------------ effects

    def _record(self, actor: str, action: str, reason: str, cve: str | None = None) -> None:
        event = ListingEvent(
            at=workflow.now(), actor=actor, action=action, state=self._state, reason=reason, cve=cve
        )
        self._events.append(event)
        product = self._input.product
        self._effects.activity(
            RECORD_AUDIT,
            AuditRequest(
                AuditEvent(
                    key=f"listing/{product}/{workflow.info().run_id}/{len(self._events)}",
                    actor=actor,
                    action=action,
                    subject_type="listing",
                    subject_id=product,
                    at=event.at,
                    reason=reason,
                    details={"state": self._state.value, "cve": cve, "revision": self._revision},
                )
            ),
        )
        workflow.logger.info("listing %s: %s by %s (%s)", product, action, actor, reason)

    def _mirror(self) -> None:
        self._effects.activity(
            RECORD_LISTING_STATE, ListingStateChange(self._input.product, self._state.value)
        )

    def _context(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "publisher_name": self._input.publisher_name,
            "product": self._input.product,
            "product_name": self._input.product_name,
            "submission_id": "",
            "revision": self._revision,
            "actor": SYSTEM_ACTOR,
            **extra,
        }

    def _event_key(self, template: str) -> str:
        return (
            f"listing/{self._input.product}/{workflow.info().run_id}/{len(self._events)}/{template}"
        )

    def _notify_publisher(
        self, template: str, clock: SlaClock | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        data = dict(extra or {})
        if clock is not None:
            data.update(
                cve=clock.cve,
                severity=clock.severity.value,
                deadline=_at(clock.deadline),
                package=clock.package,
                installed_version=clock.installed_version,
                fixed_version=clock.fixed_version or "",
                cvss_score=clock.cvss_score,
            )
        self._effects.notice(
            NoticeRequest(
                key=self._event_key(template),
                recipient=self._input.publisher_email,
                template=template,
                context=self._context(data),
                subject_id=self._input.product,
            )
        )

    def _notify_subscribers(self, template: str, extra: dict[str, Any]) -> None:
        self._effects.activity(
            NOTIFY_SUBSCRIBERS,
            SubscriberNotice(
                key=self._event_key(template),
                product=self._input.product,
                template=template,
                context=self._context(extra),
            ),
        )

    def _snapshot(self) -> ListingSnapshot:
        return ListingSnapshot(
            state=self._state,
            revision=self._revision,
            clocks=list(self._clocks.values()),
            exceptions=list(self._exceptions.values()),
            findings=dict(self._findings),
            events=self._events[-50:],  # recent events travel; the audit table keeps all
            hold_started_at=self._hold_started_at,
            revoke_at=self._revoke_at,
            badges=list(self._badges.values()),
            suspended_badges=list(self._suspended.values()),
            submission_id=self._current_revision[0] if self._current_revision else "",
        )

    def _require_moderator(self, actor: Actor, reason: str) -> None:
        if actor.role not in (Role.MODERATOR, Role.ADMIN):
            raise ValueError(f"{actor.name} is a {actor.role.value}; only moderators may do this")
        if not reason.strip():
            raise ValueError("a reason is required")


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
