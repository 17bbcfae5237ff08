"""CertificationWorkflow: review an approved or pending product, then a moderator signs off.

One per product, kind and submission revision (``certification-{product}-{kind}-
{submission}-r{revision}``). The best-practices review runs on every published
tag's image (and, for plugins, the API compliance suite on the plugin's
endpoint); a moderator's sign-off is refused while a check fails, unless the
moderator waives that check with a reason. A clean scan cannot be waived. The
signed-off badge goes to the product's ListingWorkflow, which shows it while
the listing is published and suspends it for a new revision until re-reviewed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.effects import RECORD_RETRY, EffectQueue

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        GRANT_BADGE,
        RECORD_AUDIT,
        REVIEW_IMAGE,
        RUN_PLUGIN_SUITE,
        AuditRequest,
    )
    from models.certification import (
        Badge,
        BadgeGrant,
        CertificationInput,
        CertificationKind,
        CertificationState,
        CertificationStatus,
        CheckOutcome,
        PluginSuiteRequest,
        ReviewRequest,
        ReviewResult,
        SignOff,
    )
    from models.identity import Role
    from models.records import AuditEvent

# A badge waits for its listing (a pending submission is not published yet) for at most this long.
_BADGE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
_BADGE_WAIT = timedelta(days=60)


def certification_id_for(product: str, kind: str, submission_id: str, revision: int) -> str:
    return f"certification-{product}-{kind}-{submission_id}-r{revision}"


@workflow.defn
class CertificationWorkflow:
    @workflow.init
    def __init__(self, inp: CertificationInput) -> None:
        self._input = inp
        self._state = CertificationState.REVIEWING
        self._checks: list[CheckOutcome] = []
        self._waivers: dict[str, str] = {}
        self._signed_off_by: str | None = None
        self._effects = EffectQueue()

    @workflow.run
    async def run(self, inp: CertificationInput) -> CertificationStatus:
        drain = asyncio.create_task(self._effects.drain_forever())
        self._audit(
            inp.publisher_members[0] if inp.publisher_members else "", "certification_requested"
        )
        self._checks.append(
            CheckOutcome(
                id="clean-scan",
                title="No open critical or major vulnerability",
                passed=not inp.open_findings,
                reason=(
                    "no critical or major finding without a valid exception"
                    if not inp.open_findings
                    else f"open findings: {', '.join(sorted(inp.open_findings))}"
                ),
                subject="scan",
                waivable=False,
            )
        )
        reviews = await asyncio.gather(
            *(
                workflow.execute_activity(
                    REVIEW_IMAGE,
                    ReviewRequest(inp.certification_id, image),
                    result_type=ReviewResult,
                    start_to_close_timeout=timedelta(minutes=30),
                    heartbeat_timeout=timedelta(minutes=2),
                    retry_policy=RetryPolicy(maximum_attempts=5),
                )
                for image in inp.images
            )
        )
        for review in reviews:
            self._checks.extend(review.checks)
        if inp.kind == CertificationKind.PLUGIN:
            suite = await workflow.execute_activity(
                RUN_PLUGIN_SUITE,
                PluginSuiteRequest(inp.certification_id, inp.plugin_endpoint or ""),
                result_type=ReviewResult,
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
            self._checks.extend(suite.checks)
        self._state = CertificationState.AWAITING_SIGN_OFF
        self._audit("storemod", "certification_reviewed")
        previous = inp.carry_over
        if previous is not None and not self._failing(previous.waivers):
            # Nothing fails beyond what the previous sign-off accepted: the badge carries over.
            self._waivers.update(previous.waivers)
            self._signed_off_by = previous.certified_by
            self._state = CertificationState.CERTIFIED
            self._audit(
                "storemod", "certification_carried_over", f"signed off by {previous.certified_by}"
            )
        await workflow.wait_condition(
            lambda: self._state in (CertificationState.CERTIFIED, CertificationState.WITHDRAWN)
        )
        if self._state == CertificationState.CERTIFIED:
            badge = Badge(
                kind=inp.kind,
                submission_id=inp.submission_id,
                revision=inp.revision,
                certified_by=self._signed_off_by or "",
                at=workflow.now(),
                waivers=dict(self._waivers),
                plugin_endpoint=inp.plugin_endpoint,
            )
            self._effects.call(
                lambda: workflow.execute_activity(
                    GRANT_BADGE,
                    BadgeGrant(inp.product, badge),
                    schedule_to_close_timeout=_BADGE_WAIT,
                    retry_policy=_BADGE_RETRY,
                )
            )
        await workflow.wait_condition(self._effects.idle)
        await workflow.wait_condition(workflow.all_handlers_finished)
        drain.cancel()
        return self.status()

    @workflow.update
    def sign_off(self, sign_off: SignOff) -> CertificationStatus:
        """A moderator certifies the product, waiving failing checks with reasons."""
        self._waivers.update({k: v.strip() for k, v in sign_off.waivers.items()})
        self._signed_off_by = sign_off.actor.name
        self._state = CertificationState.CERTIFIED
        waived = "; ".join(f"{k}: {v}" for k, v in sorted(sign_off.waivers.items()))
        self._audit(sign_off.actor.name, "certified", waived or sign_off.comment)
        return self.status()

    @sign_off.validator
    def _validate_sign_off(self, sign_off: SignOff) -> None:
        if sign_off.actor.role not in (Role.MODERATOR, Role.ADMIN):
            raise ValueError(
                f"{sign_off.actor.name} is a {sign_off.actor.role.value}; only moderators sign off"
            )
        if self._state != CertificationState.AWAITING_SIGN_OFF:
            raise ValueError(f"certification is {self._state.value}, not awaiting sign-off")
        ids = {c.id for c in self._checks}
        for check_id, reason in sign_off.waivers.items():
            if check_id not in ids:
                raise ValueError(f"{check_id} is not a check of this certification")
            if not reason.strip():
                raise ValueError(f"waiving {check_id} needs a reason")
        unwaivable = sorted({c.id for c in self._checks if not c.passed and not c.waivable})
        blocked = [c for c in unwaivable if c in sign_off.waivers]
        if blocked:
            raise ValueError(f"{', '.join(blocked)} cannot be waived")
        failing = self._failing({**self._waivers, **sign_off.waivers})
        if failing:
            raise ValueError(
                f"cannot sign off: failing checks {', '.join(failing)}; fix them or waive each "
                "with a reason"
            )

    @workflow.update
    def withdraw(self, actor_name: str) -> CertificationStatus:
        """The publisher withdraws the request."""
        self._state = CertificationState.WITHDRAWN
        self._audit(actor_name, "certification_withdrawn")
        return self.status()

    @withdraw.validator
    def _validate_withdraw(self, actor_name: str) -> None:
        if actor_name not in self._input.publisher_members:
            raise ValueError(
                f"{actor_name} is not a member of publisher {self._input.publisher_id}"
            )
        if self._state in (CertificationState.CERTIFIED, CertificationState.WITHDRAWN):
            raise ValueError(f"certification is already {self._state.value}")

    @workflow.query
    def status(self) -> CertificationStatus:
        return CertificationStatus(
            certification_id=self._input.certification_id,
            product=self._input.product,
            kind=self._input.kind,
            state=self._state,
            checks=list(self._checks),
            waivers=dict(self._waivers),
            failing=self._failing(self._waivers),
            signed_off_by=self._signed_off_by,
        )

    def _failing(self, waivers: dict[str, str]) -> list[str]:
        return sorted({c.id for c in self._checks if not c.passed and c.id not in waivers})

    def _audit(self, actor: str, action: str, reason: str = "") -> None:
        cid = self._input.certification_id
        self._effects.activity(
            RECORD_AUDIT,
            AuditRequest(
                AuditEvent(
                    key=f"{cid}/{action}",
                    actor=actor,
                    action=action,
                    subject_type="listing",
                    subject_id=self._input.product,
                    at=workflow.now(),
                    reason=reason,
                    details={
                        "certification": cid,
                        "kind": self._input.kind.value,
                        "failing": self._failing(self._waivers),
                        "checks": [
                            {"id": c.id, "subject": c.subject, "passed": c.passed}
                            for c in self._checks
                        ],
                    },
                )
            ),
            RECORD_RETRY,
        )
