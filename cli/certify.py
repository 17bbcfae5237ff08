"""`storemod certify …`: request certification, read the review, sign off."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from certification.eligibility import certification_refusal
from cli.listings import live_status
from cli.session import Session, fail, out, run
from models.certification import (
    CertificationInput,
    CertificationKind,
    CertificationStatus,
    ImageToReview,
    SignOff,
)
from models.identity import Role
from models.onboarding import ProductManifest
from models.records import SubmissionRecord
from models.submission import SubmissionStatus
from workflows.certification import CertificationWorkflow, certification_id_for
from workflows.submission import SubmissionWorkflow, workflow_id_for

certify_app = typer.Typer(
    help="Certification: best-practices review and sign-off.", no_args_is_help=True
)

KIND = typer.Option(..., "--kind", help="container or plugin.")
CERTIFIABLE_STATES = {"awaiting_review", "approved", "published"}


async def _submission(session: Session, submission_id: str) -> SubmissionRecord:
    actor = await session.actor()
    record = await session.store.get_submission(submission_id)
    if record is None or (
        actor.role == Role.PUBLISHER and actor.publisher_id != record.publisher_id
    ):
        fail(f"no submission {submission_id!r} visible to {actor.name}")
    return record


def _cert_id(record: SubmissionRecord, kind: CertificationKind) -> str:
    return certification_id_for(record.product, kind.value, record.id, record.revision)


@certify_app.command("request")
def certify_request(
    submission_id: str = typer.Argument(..., help="An approved or pending submission."),
    kind: CertificationKind = KIND,
    endpoint: str = typer.Option(None, help="The plugin's HTTP endpoint (plugins only)."),
) -> None:
    """Ask for Docker Certified Container or Plugin status (publishers)."""

    async def body(session: Session) -> None:
        actor = await session.require(Role.PUBLISHER)
        record = await _submission(session, submission_id)
        if record.state not in CERTIFIABLE_STATES:
            fail(
                f"submission {submission_id} is {record.state}; certify an approved or pending one"
            )
        manifest = ProductManifest.model_validate(record.manifest)
        refusal = certification_refusal(manifest)
        if refusal:
            fail(f"{manifest.product} cannot be certified: {refusal}")
        if kind == CertificationKind.PLUGIN and not endpoint:
            fail("a plugin certification needs --endpoint URL of the plugin's API")
        if kind == CertificationKind.CONTAINER and endpoint:
            fail("--endpoint is only for plugin certification")
        client = await session.client()
        scans = await session.store.get_scans(record.id, record.revision)
        if record.state == "published":
            live = await live_status(session, record.product)
            open_findings = [c.cve for c in live.open_clocks] if live else []
        else:
            st: SubmissionStatus = await client.get_workflow_handle(
                workflow_id_for(record.id)
            ).query(SubmissionWorkflow.status)
            open_findings = sorted({f.cve_id for f in st.open_findings})
        tier_tags = {t.name: list(t.source.tags) for t in manifest.tiers}
        profile = await session.store.get_publisher(record.publisher_id)
        assert profile is not None
        cert_id = _cert_id(record, kind)
        inp = CertificationInput(
            certification_id=cert_id,
            product=record.product,
            product_name=manifest.name,
            publisher_id=record.publisher_id,
            publisher_name=profile.legal_name,
            publisher_email=profile.email,
            publisher_members=await session.store.publisher_members(record.publisher_id),
            submission_id=record.id,
            revision=record.revision,
            kind=kind,
            images=[
                ImageToReview(s.tier, s.tag, s.image_ref, s.digest, tier_tags.get(s.tier, [s.tag]))
                for s in scans
            ],
            open_findings=open_findings,
            requested_by=actor.name,
            plugin_endpoint=endpoint,
        )
        try:
            await client.start_workflow(
                CertificationWorkflow.run,
                inp,
                id=cert_id,
                task_queue=session.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            what = f"{kind.value} certification of {submission_id} revision {record.revision}"
            fail(f"{what} was already requested")
        out.print(cert_id)

    run(body)


async def _status(session: Session, record: SubmissionRecord, kind: CertificationKind) -> Any:
    client = await session.client()
    handle = client.get_workflow_handle(_cert_id(record, kind))
    try:
        return handle, await handle.query(CertificationWorkflow.status)
    except RPCError:
        fail(f"no {kind.value} certification requested for {record.id} revision {record.revision}")


def print_certification(st: CertificationStatus) -> None:
    out.print(f"[bold]{st.certification_id}[/bold]  {st.kind.value}  state: {st.state.value}")
    table = Table("check", "subject", "result", "reason", "how to fix")
    for c in st.checks:
        result = "pass" if c.passed else ("waived" if c.id in st.waivers else "FAIL")
        found = f" ({', '.join(c.details[:3])}{', …' if len(c.details) > 3 else ''})"
        table.add_row(c.id, c.subject, result, c.reason + (found if c.details else ""), c.fix_url)
    out.print(table)
    for check_id, why in sorted(st.waivers.items()):
        out.print(f"waived {check_id}: {why}")
    if st.failing:
        out.print(f"failing: {', '.join(st.failing)}")
    if st.signed_off_by:
        out.print(f"signed off by {st.signed_off_by}")


@certify_app.command("status")
def certify_status(
    submission_id: str = typer.Argument(..., help="Submission id."), kind: CertificationKind = KIND
) -> None:
    """The review, check by check (its publisher and moderators)."""

    async def body(session: Session) -> None:
        record = await _submission(session, submission_id)
        _, st = await _status(session, record, kind)
        print_certification(st)

    run(body)


@certify_app.command("sign-off")
def certify_sign_off(
    submission_id: str = typer.Argument(..., help="Submission id."),
    kind: CertificationKind = KIND,
    waive: list[str] = typer.Option(
        [], "--waive", help="Repeatable: CHECK-ID=reason, to accept a failing check."
    ),
    comment: str = typer.Option("", help="A note for the publisher."),
) -> None:
    """Certify: refused while a check fails, unless waived with a reason (moderators)."""

    async def body(session: Session) -> None:
        actor = await session.require(Role.MODERATOR, Role.ADMIN)
        waivers: dict[str, str] = {}
        for item in waive:
            check_id, sep, why = item.partition("=")
            if not sep or not check_id.strip():
                fail(f"--waive {item!r}: write CHECK-ID=reason")
            waivers[check_id.strip()] = why
        record = await _submission(session, submission_id)
        handle, _ = await _status(session, record, kind)
        try:
            st = await handle.execute_update(
                CertificationWorkflow.sign_off, SignOff(actor, waivers, comment)
            )
        except WorkflowUpdateFailedError as err:
            why = str(getattr(err.cause, "message", err.cause))
            await session.audit_refusal(actor, "certify", submission_id, why)
            fail(f"refused: {why}")
        out.print(f"{submission_id}: {kind.value} certification {st.state.value}")

    run(body)
