"""The ``storemod`` command line: publishers, moderators and operators.

Every mistake a user can make ends in a one-line ``error: …`` on stderr and a
non-zero exit, with nothing changed; tracebacks are for bugs only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

# typer vendors click; its exceptions are what a bad command line raises.
from typer._click import exceptions as click_errors

from cli.audit import audit as audit_command
from cli.certify import certify_app
from cli.events import events_app
from cli.listings import clocks as clocks_command
from cli.listings import listing_app
from cli.notices import notices_app
from cli.reports import report as report_command
from cli.session import (
    Session,
    UserError,
    acting_user_name,
    fail,
    load_settings,
    out,
    parse_expiry,
    report_problems,
    run,
    set_acting_user,
)
from logs import configure
from models.identity import Actor, Role
from models.onboarding import ProductManifest
from models.records import AuditEvent
from models.submission import (
    TERMINAL_STATES,
    Decision,
    DecisionKind,
    DecisionResult,
    ExceptionGrant,
    Reason,
    Resubmission,
    SubmissionInput,
    SubmissionState,
    SubmissionStatus,
    Withdrawal,
)
from onboarding.validation import DocumentError, load_document, validate_manifest, validate_profile
from persistence.store import ConflictError, DuplicateError, StoreUnavailable
from workflows.submission import SubmissionWorkflow, workflow_id_for

T = TypeVar("T")

app = typer.Typer(
    name="storemod",
    help="Publishing and moderation pipeline of a container-image store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage users (admins only).", no_args_is_help=True)
publisher_app = typer.Typer(help="Publisher profiles.", no_args_is_help=True)
advisories_app = typer.Typer(help="Vulnerability advisories (OSV).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(publisher_app, name="publisher")
app.add_typer(listing_app, name="listing")
app.add_typer(advisories_app, name="advisories")
app.add_typer(notices_app, name="notices")
app.add_typer(events_app, name="events")
app.add_typer(certify_app, name="certify")


def load_manifest(path: Path) -> ProductManifest:
    raw = load_document(path)
    manifest, problems = validate_manifest(raw, path.resolve().parent)
    if problems or manifest is None:
        report_problems(path, problems)
    return manifest


async def owned_submission(session: Session, submission_id: str, actor: Actor) -> Any:
    """The submission row, if the actor may see it (its publisher's members, moderators)."""
    record = await session.store.get_submission(submission_id)
    if record is None or (
        actor.role == Role.PUBLISHER and actor.publisher_id != record.publisher_id
    ):
        fail(f"no submission {submission_id!r} visible to {actor.name}")
    return record


async def send_update(
    session: Session, actor: Actor, submission_id: str, action: str, update: Any, arg: Any
) -> DecisionResult:
    """Execute a workflow Update; a validator's refusal is printed and audited as refused."""
    record = await owned_submission(session, submission_id, actor)
    if record.state in TERMINAL_STATES:
        why = f"submission {submission_id} is {record.state}; it takes no more decisions"
        await session.audit_refusal(actor, action, submission_id, why)
        fail(f"refused: {why}")
    client = await session.client()
    handle = client.get_workflow_handle(workflow_id_for(submission_id))
    try:
        result: DecisionResult = await handle.execute_update(update, arg)
        return result
    except WorkflowUpdateFailedError as err:
        why = str(err.cause.message if hasattr(err.cause, "message") else err.cause)
        await session.audit_refusal(actor, action, submission_id, why)
        fail(f"refused: {why}")
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            fail(f"submission {submission_id} has no running workflow (it has ended)")
        fail(f"Temporal refused the request: {err.message}")


REASON_PREFIX = re.compile(
    r"^(?P<about>CVE-\d{4}-\d{4,}|[A-Za-z_][\w.\[\]]*)\s*:\s*(?P<text>.+)$", re.S
)


def parse_reason(raw: str) -> Reason:
    """``CVE-…: text`` is about a CVE, ``field.path: text`` about a field, else general."""
    match = REASON_PREFIX.match(raw.strip())
    if not raw.strip():
        fail("a reason cannot be empty")
    if match is None:
        return Reason(text=raw.strip())
    about, text = match["about"], match["text"].strip()
    if about.startswith("CVE-"):
        return Reason(text=text, cve=about)
    return Reason(text=text, field=about)


# ------------------------------------------------------------------ options


@app.callback()
def main_options(
    as_user: str | None = typer.Option(
        None,
        "--as",
        envvar="STOREMOD_AS",
        help="Name of the user who acts (embedded mode).",
    ),
) -> None:
    """storemod: submit, moderate and publish container-image products."""
    set_acting_user(as_user)
    # Commands print their results; only warnings and errors of the libraries are logged.
    configure(load_settings().log_format, level=logging.WARNING)


# ------------------------------------------------------------------ operators


@app.command()
def dev(
    data_dir: Path = typer.Option(
        None, help="State folder (default: STOREMOD_DATA_DIR or ./.storemod)."
    ),
    temporal_port: int = typer.Option(7233, help="gRPC port of the Temporal dev server."),
) -> None:
    """Start the embedded mode: Temporal dev server, worker, SQLite and a mail sink."""
    from embedded.dev import dev_settings, run_dev
    from embedded.temporal_server import DevServerError

    settings = load_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    settings = dev_settings(settings, temporal_port)
    configure(settings.log_format)
    try:
        asyncio.run(run_dev(settings, temporal_port))
    except DevServerError as err:
        fail(str(err))


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal, database and SMTP relay."""
    import worker as worker_module

    worker_module.main()


# ------------------------------------------------------------------ users


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="User name."),
    role: Role = typer.Option(..., help="publisher, moderator or admin."),
    publisher: str = typer.Option(None, help="Publisher id, for publisher members."),
) -> None:
    """Add a user (admins only)."""

    async def body(session: Session) -> None:
        admin = await session.require(Role.ADMIN)
        if not re.fullmatch(r"[a-z][a-z0-9._-]{1,39}", name):
            fail(f"user name {name!r}: use 2-40 lowercase letters, digits, '.', '_' or '-'")
        if role == Role.PUBLISHER:
            if not publisher:
                fail("a publisher user needs --publisher ID")
            if await session.store.get_publisher(publisher) is None:
                fail(f"no publisher {publisher!r}")
        elif publisher:
            fail(f"--publisher is only for publisher users, not {role.value}")
        try:
            await session.store.add_user(name, role, publisher if role == Role.PUBLISHER else None)
        except DuplicateError:
            fail(f"user {name!r} already exists")
        await session.store.append_audit(
            AuditEvent(
                key=f"user/{name}",
                actor=admin.name,
                action="user_added",
                subject_type="user",
                subject_id=name,
                at=datetime.now(UTC),
                details={"role": role.value, "publisher": publisher},
            )
        )
        out.print(f"added {role.value} {name}")

    run(body)


# ------------------------------------------------------------------ publishers


@publisher_app.command("register")
def publisher_register(profile_file: Path = typer.Argument(..., help="Profile YAML file.")) -> None:
    """Register (or update) your publisher profile; you become its member."""

    async def body(session: Session) -> None:
        name = acting_user_name()
        if not name:
            fail("say who acts: --as USER (or STOREMOD_AS=USER)")
        raw = load_document(profile_file)
        profile, problems = validate_profile(raw, profile_file.resolve().parent)
        if problems or profile is None:
            report_problems(profile_file, problems)
        try:
            created = await session.store.register_publisher(profile, name)
        except ConflictError as err:
            fail(str(err))
        await session.store.append_audit(
            AuditEvent(
                key=f"publisher/{profile.id}/{uuid.uuid4()}",
                actor=name,
                action="publisher_registered" if created else "publisher_updated",
                subject_type="publisher",
                subject_id=profile.id,
                at=datetime.now(UTC),
            )
        )
        verb = "registered" if created else "updated"
        out.print(f"{verb} publisher {profile.id} ({profile.legal_name}); {name} is a member")
        out.print(f"next: storemod --as {name} submit examples/manifest.yaml")

    run(body)


@publisher_app.command("show")
def publisher_show(publisher_id: str = typer.Argument(..., help="Publisher id.")) -> None:
    """Show a publisher profile (its members and moderators)."""

    async def body(session: Session) -> None:
        actor = await session.actor()
        if actor.role == Role.PUBLISHER and actor.publisher_id != publisher_id:
            fail(f"no publisher {publisher_id!r} visible to {actor.name}")
        profile = await session.store.get_publisher(publisher_id)
        if profile is None:
            fail(f"no publisher {publisher_id!r}")
        for key, value in profile.model_dump().items():
            out.print(f"{key:>11}: {value}")
        members = await session.store.publisher_members(publisher_id)
        out.print(f"{'members':>11}: {', '.join(members)}")

    run(body)


# ------------------------------------------------------------------ submissions


@app.command()
def submit(manifest_file: Path = typer.Argument(..., help="Product manifest YAML file.")) -> None:
    """Submit a product for moderation; prints the submission id."""

    async def body(session: Session) -> None:
        actor = await session.require(Role.PUBLISHER)
        manifest = load_manifest(manifest_file)
        assert actor.publisher_id is not None
        profile = await session.store.get_publisher(actor.publisher_id)
        if profile is None:
            fail(
                f"publisher {actor.publisher_id} has no profile; run `storemod publisher register`"
            )
        listing = await session.store.get_listing(manifest.product)
        if listing is not None and listing.publisher_id != profile.id:
            fail(f"product id {manifest.product!r} belongs to another publisher")
        pending = await session.store.open_submission_for(manifest.product)
        if pending is not None:
            fail(
                f"product {manifest.product} already has submission {pending.id} "
                f"({pending.state}); use `storemod resubmit {pending.id}`"
            )
        settings = session.settings
        submission_id = await session.store.next_submission_id(manifest.product)
        client = await session.client()
        try:
            await client.start_workflow(
                SubmissionWorkflow.run,
                SubmissionInput(
                    submission_id=submission_id,
                    submitted_by=actor.name,
                    publisher_members=await session.store.publisher_members(profile.id),
                    profile=profile,
                    manifest=manifest,
                    abandon_after=settings.abandon_after,
                    abandon_warning_before=settings.abandon_warning_before,
                ),
                id=workflow_id_for(submission_id),
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            fail(f"submission {submission_id} was already started; check `storemod status`")
        out.print(submission_id)

    run(body)


@app.command()
def status(
    submission_id: str = typer.Argument(..., help="Submission id."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    wait: SubmissionState = typer.Option(
        None, help="Wait (up to --timeout seconds) until the submission reaches this state."
    ),
    timeout: float = typer.Option(120.0, help="Seconds --wait waits at most."),
) -> None:
    """Show a submission: state, decisions, scan findings (its publisher and moderators)."""

    async def body(session: Session) -> None:
        actor = await session.actor()
        await owned_submission(session, submission_id, actor)
        client = await session.client()
        handle = client.get_workflow_handle(workflow_id_for(submission_id))
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                st: SubmissionStatus = await handle.query(SubmissionWorkflow.status)
            except RPCError as err:
                fail(f"cannot read submission {submission_id}: {err.message}")
            if wait is None or st.state == wait:
                break
            if st.state in TERMINAL_STATES or asyncio.get_running_loop().time() > deadline:
                fail(f"submission {submission_id} is {st.state.value}, not {wait.value}")
            await asyncio.sleep(0.5)
        if as_json:
            print(json.dumps(asdict(st), default=str, indent=2))
            return
        print_status(st)

    run(body)


def print_status(st: SubmissionStatus) -> None:
    out.print(f"[bold]{st.submission_id}[/bold]  product {st.product}  publisher {st.publisher_id}")
    out.print(f"state: [bold]{st.state.value}[/bold]  revision {st.revision}")
    for problem in st.problems:
        out.print(f"  problem: {problem}")
    history = Table("when (UTC)", "who", "what", "state", "reasons", title="history")
    for h in st.history:
        reasons = "; ".join(
            f"{r.field or r.cve}: {r.text}" if (r.field or r.cve) else r.text for r in h.reasons
        )
        if h.comment:
            reasons = f"{reasons} {h.comment}".strip()
        history.add_row(h.at.strftime("%Y-%m-%d %H:%M"), h.actor, h.action, h.state.value, reasons)
    out.print(history)
    for scan in st.scans:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(scan.counts.items()) if v) or "clean"
        out.print(
            f"scan {scan.tier}/{scan.tag}: [bold]{scan.colour.value}[/bold] ({counts}); "
            f"{scan.component_count} components, {scan.os}, {scan.digest[:19]}"
        )
        if scan.error:
            out.print(f"  error: {scan.error}")
        if scan.findings:
            table = Table("CVE", "class", "CVSS", "package", "installed", "fixed", "layer")
            for f in scan.findings:
                table.add_row(
                    f.cve_id,
                    f.severity.value,
                    f"{f.cvss_score:.1f}" if f.cvss_score is not None else "-",
                    f.package,
                    f.installed_version,
                    f.fixed_version or "-",
                    str(f.layer_index),
                )
            out.print(table)
    for e in st.exceptions:
        out.print(
            f"exception {e.cve} until {e.expires_at:%Y-%m-%d} by {e.granted_by}: {e.justification}"
        )
    if st.open_findings:
        cves = ", ".join(sorted({f.cve_id for f in st.open_findings}))
        out.print(f"open critical/major findings (block approval): {cves}")


@app.command()
def queue() -> None:
    """The review queue: submissions awaiting a moderator, oldest first (moderators)."""

    async def body(session: Session) -> None:
        await session.require(Role.MODERATOR, Role.ADMIN)
        rows = await session.store.list_submissions(state="awaiting_review")
        if not rows:
            out.print("the review queue is empty")
            return
        table = Table("submission", "product", "publisher", "revision", "waiting since")
        for r in rows:
            since = r.updated_at.strftime("%Y-%m-%d %H:%M") if r.updated_at else ""
            table.add_row(r.id, r.product, r.publisher_id, str(r.revision), since)
        out.print(table)

    run(body)


def _decision_command(kind: DecisionKind) -> Callable[..., None]:
    def decide_cmd(
        submission_id: str = typer.Argument(..., help="Submission id."),
        reason: list[str] = typer.Option(
            [],
            "--reason",
            help="Repeatable. 'FIELD: text' (e.g. 'short_description: too vague'), "
            "'CVE-…: text', or plain text.",
        ),
        comment: str = typer.Option("", help="A note for the publisher."),
    ) -> None:
        async def body(session: Session) -> None:
            actor = await session.actor()
            decision = Decision(
                actor=actor, kind=kind, reasons=[parse_reason(r) for r in reason], comment=comment
            )
            result = await send_update(
                session, actor, submission_id, kind.value, SubmissionWorkflow.decide, decision
            )
            out.print(f"{result.submission_id}: {result.state.value} (revision {result.revision})")

        run(body)

    return decide_cmd


app.command("approve", help="Approve the submission (moderators).")(
    _decision_command(DecisionKind.APPROVE)
)
app.command("request-changes", help="Ask the publisher for changes, with reasons (moderators).")(
    _decision_command(DecisionKind.REQUEST_CHANGES)
)
app.command("reject", help="Reject the submission, with reasons (moderators).")(
    _decision_command(DecisionKind.REJECT)
)


@app.command("grant-exception")
def grant_exception(
    submission_id: str = typer.Argument(..., help="Submission id."),
    cve: str = typer.Argument(..., help="The CVE id to accept."),
    justification: str = typer.Option(..., help="Why the CVE is acceptable."),
    expires: str = typer.Option(..., help="Expiry date (YYYY-MM-DD, UTC) or ISO date-time."),
) -> None:
    """Accept one CVE until an expiry date, with a justification (moderators)."""

    async def body(session: Session) -> None:
        actor = await session.actor()
        grant = ExceptionGrant(
            actor=actor, cve=cve, justification=justification, expires_at=parse_expiry(expires)
        )
        result = await send_update(
            session,
            actor,
            submission_id,
            "grant_exception",
            SubmissionWorkflow.grant_exception,
            grant,
        )
        out.print(f"{result.submission_id}: exception for {cve} granted ({result.state.value})")

    run(body)


@app.command()
def resubmit(
    submission_id: str = typer.Argument(..., help="Submission id."),
    manifest_file: Path = typer.Option(None, "--manifest", help="A new manifest (optional)."),
    note: str = typer.Option("", help="What changed, for the moderator."),
) -> None:
    """Resubmit a fixed revision: new images and/or manifest; it is rescanned (publishers)."""

    async def body(session: Session) -> None:
        actor = await session.actor()
        manifest = load_manifest(manifest_file) if manifest_file is not None else None
        result = await send_update(
            session,
            actor,
            submission_id,
            "resubmit",
            SubmissionWorkflow.resubmit,
            Resubmission(actor=actor, manifest=manifest, note=note),
        )
        out.print(f"{result.submission_id}: revision {result.revision} {result.state.value}")

    run(body)


@app.command()
def withdraw(
    submission_id: str = typer.Argument(..., help="Submission id."),
    reason: str = typer.Option("", help="Why (optional)."),
) -> None:
    """Withdraw a submission (publishers)."""

    async def body(session: Session) -> None:
        actor = await session.actor()
        result = await send_update(
            session,
            actor,
            submission_id,
            "withdraw",
            SubmissionWorkflow.withdraw,
            Withdrawal(actor=actor, reason=reason),
        )
        out.print(f"{result.submission_id}: {result.state.value}")

    run(body)


# ------------------------------------------------------------------ catalog


@advisories_app.command("import")
def advisories_import(
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", help="OSV JSON files, folders or zip exports."
    ),
) -> None:
    """Import OSV advisories in one transaction; a record replaces the stored one only
    when its `modified` is newer. Bad records are named on stderr and skipped: the exit
    code is 0 when the valid ones were imported, 2 when none was valid or a source is
    unreadable (then nothing is imported)."""
    from sqlalchemy.exc import DBAPIError

    from persistence.errors import InvalidInput
    from scanner.osv import FeedSourceError, InvalidAdvisory, read_records

    async def body(session: Session) -> None:
        await session.require(Role.MODERATOR, Role.ADMIN)
        good = []
        bad = 0
        # Everything is read and checked before anything is written.
        for path in paths:
            if not path.exists():
                fail(f"{path} does not exist")
            try:
                for record in read_records(path):
                    if isinstance(record, InvalidAdvisory):
                        bad += 1
                        print(f"skipped {record.advisory_id}: {record.reason}", file=sys.stderr)
                    else:
                        good.append(record)
            except FeedSourceError as err:
                fail(f"{err}; nothing was imported")
        if not good:
            where = ", ".join(str(p) for p in paths)
            if bad:
                fail(f"none of the {bad} records in {where} is valid OSV; nothing was imported")
            fail(f"no OSV records (*.json) found in {where}")
        try:
            outcome = await session.store.import_advisories(good)
        except InvalidInput as err:
            fail(f"{err}; nothing was imported")
        except DBAPIError as err:
            reason = str(err.orig or err).strip().splitlines()[0]
            fail(f"the database refused the import, nothing was imported: {reason}")
        out.print(
            f"imported {outcome.inserted} new, {outcome.updated} updated, "
            f"{outcome.unchanged} unchanged, {bad} skipped"
        )

    run(body)


# ------------------------------------------------------------------ audit


app.command("audit")(audit_command)
app.command("report")(report_command)
app.command("clocks")(clocks_command)


# ------------------------------------------------------------------ scanner (cli/scan.py)

from cli.scan import OutputFormat  # noqa: E402 - kept next to the commands that use it

scanner_app = typer.Typer(help="Scanner adapters (Harbor API).", no_args_is_help=True)
app.add_typer(scanner_app, name="scanner")


@app.command("scan")
def scan(
    ref: str = typer.Argument(
        ..., help="docker://HOST/REPO[:TAG|@sha256:...], oci:PATH[:TAG] or docker-archive:PATH"
    ),
    output: OutputFormat | None = typer.Option(
        None, "--format", help="table (default on a terminal), json or cyclonedx"
    ),
    platform: str | None = typer.Option(
        None, "--platform", help="os/arch to pick in image indexes (linux/amd64), or all"
    ),
) -> None:
    """Scan an image against the stored advisories and print the report."""
    from cli.scan import scan_command

    scan_command(ref, output, platform)


@scanner_app.command("serve")
def scanner_serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
) -> None:
    """Serve the built-in scanner over the Harbor Pluggable Scanner Adapter API v1."""
    from cli.scan import serve_command

    serve_command(host, port)


# ------------------------------------------------------------------ entry


def main() -> None:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except click_errors.NoArgsIsHelpError as err:
        print(err.ctx.get_help() if err.ctx else "see storemod --help")
        sys.exit(0)
    except typer.Abort:
        sys.exit(130)
    except click_errors.UsageError as err:
        hint = f" (see: {err.ctx.command_path} --help)" if err.ctx else ""
        print(f"error: {err.format_message()}{hint}", file=sys.stderr)
        sys.exit(2)
    except click_errors.ClickException as err:
        print(f"error: {err.format_message()}", file=sys.stderr)
        sys.exit(err.exit_code)
    except (UserError, DocumentError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except StoreUnavailable as err:
        print(f"error: database unavailable: {err}", file=sys.stderr)
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
