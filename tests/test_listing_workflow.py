"""ListingWorkflow on the time-skipping server: 72 h / 7 d SLA clocks, reminders,
hold, restore, revoke, exceptions, escalation, continue-as-new, and the emails."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.identity import Actor, Role
from models.listing import (
    FindingsReport,
    ListingAction,
    ListingExceptionGrant,
    ListingInput,
    ListingState,
    ListingStatus,
    RevisionReport,
)
from models.records import ListingRecord, SubmissionRecord, TagScan
from models.scan import Finding, SeverityClass
from notifications.mail_sink import MailSink, read_mail
from persistence.store import Store
from reports.events import ConsumerEvent, EventKind
from tests.support import (
    ALICE,
    MIA,
    copy_examples,
    load_profile,
    running_worker,
    settings_for,
)
from workflows.listing import ListingWorkflow, listing_workflow_id

CVE = "CVE-2026-28388"
SUBSCRIBER = "carol@customer.example.com"


def finding(severity: SeverityClass, cve: str = CVE) -> Finding:
    return Finding(
        advisory_id=f"DEBIAN-{cve}",
        cve_id=cve,
        package="libssl3",
        installed_version="3.0.17-1~deb12u2",
        ecosystem="Debian:12",
        severity=severity,
        layer_index=0,
        layer_digest="sha256:" + "0" * 64,
        fixed_version="3.0.19-1~deb12u2",
        cvss_score=7.5 if severity == SeverityClass.CRITICAL else 5.3,
    )


@dataclass
class Listing:
    env: WorkflowEnvironment
    handle: WorkflowHandle[Any, ListingStatus]
    store: Store
    sink: MailSink
    started: datetime

    async def report(self, *findings: Finding) -> None:
        await self.handle.signal(
            ListingWorkflow.report_findings,
            FindingsReport(
                tag="1.1", digest="sha256:" + "1" * 64, findings=list(findings), source="rescan"
            ),
        )

    async def status(self) -> ListingStatus:
        return await self.handle.query(ListingWorkflow.status)

    async def at(self, offset: timedelta) -> ListingStatus:
        """Skip to ``started + offset`` and return the status there."""
        now = await self.env.get_current_time()
        target = self.started + offset
        if target > now:
            await self.env.sleep(target - now)
        return await self.status()

    def mail(self, to: str | None = None) -> list[str]:
        return [
            str(m["Subject"]) for m in read_mail(self.sink.folder) if to is None or m["To"] == to
        ]


@pytest.fixture
async def listing(
    skipping_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path: Path
) -> AsyncIterator[Listing]:
    """A published acme-db listing with one subscriber, its ListingWorkflow started clean."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    profile = load_profile(copy_examples(tmp_path))
    await store.register_publisher(profile, ALICE.name)
    await store.upsert_submission(
        SubmissionRecord(
            "acme-db-1", "acme-db", "acme", "published", 1, ALICE.name, {"name": "Acme DB"}
        )
    )
    await store.publish_listing(
        ListingRecord(
            "acme-db",
            "acme",
            "acme-db-1",
            1,
            {"name": "Acme DB"},
            [TagScan("Standard", "1.1", "sha256:1", "green")],
        )
    )
    # A customer who downloaded it and opted in to notices, and one who did not.
    await store.record_consumer_events(
        [
            ConsumerEvent(
                "dl-1",
                EventKind.DOWNLOAD,
                datetime(2026, 11, 1, tzinfo=UTC),
                SUBSCRIBER,
                "acme-db",
                "Standard",
                customer_type="free",
                notify_opt_in=True,
            ),
            ConsumerEvent(
                "dl-2",
                EventKind.DOWNLOAD,
                datetime(2026, 11, 2, tzinfo=UTC),
                "dan@quiet.example.com",
                "acme-db",
                "Standard",
                customer_type="free",
                notify_opt_in=False,
            ),
        ],
        ingested_by="test",
    )
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", mail_sink, f"tq-{uuid.uuid4().hex[:8]}"
    )
    client = skipping_env.client
    async with running_worker(client, store, settings):
        handle = await client.start_workflow(
            ListingWorkflow.run,
            ListingInput(
                "acme-db",
                "Acme DB",
                "acme",
                profile.legal_name,
                profile.email,
                max_events_before_continue=60,
            ),
            id=listing_workflow_id("acme-db"),
            task_queue=settings.task_queue,
            start_signal="publish_revision",
            start_signal_args=[
                RevisionReport(1, "acme-db-1", [FindingsReport("1.1", "sha256:1", [], "revision")])
            ],
        )
        started = await skipping_env.get_current_time()
        yield Listing(skipping_env, handle, store, mail_sink, started)
    await store.close()


H = timedelta(hours=1)
D = timedelta(days=1)


async def test_critical_finding_reminder_hold_at_72h_then_revoked_a_month_later(
    listing: Listing,
) -> None:
    await listing.report(finding(SeverityClass.CRITICAL))
    st = await listing.at(H)
    (clock,) = st.open_clocks
    assert clock.cve == CVE and clock.deadline - clock.started_at == 72 * H
    assert any(CVE in s for s in listing.mail("store@acme.example.com"))

    st = await listing.at(47 * H)
    assert not st.open_clocks[0].reminded
    st = await listing.at(49 * H)  # reminder 24 h before the deadline
    assert st.open_clocks[0].reminded
    st = await listing.at(72 * H - timedelta(seconds=1))
    assert st.state == ListingState.PUBLISHED  # not a second before
    st = await listing.at(72 * H + timedelta(seconds=1))
    assert st.state == ListingState.ON_HOLD
    hold = next(e for e in st.events if e.action == "hold")
    # A timer fires when due; the workflow task that acts on it comes milliseconds later.
    assert 72 * H <= hold.at - clock.started_at < 72 * H + timedelta(seconds=1)
    assert st.revoke_at is not None and st.revoke_at - hold.at == 30 * D
    row = await listing.store.get_listing("acme-db")
    assert row is not None and row.state == "on_hold"

    final = await listing.handle.result()  # skips the month on hold
    assert final.state == ListingState.REVOKED
    revoke = next(e for e in final.events if e.action == "revoke")
    assert 30 * D <= revoke.at - hold.at < 30 * D + timedelta(seconds=1)
    row = await listing.store.get_listing("acme-db")
    assert row is not None and row.state == "revoked"

    to_publisher = listing.mail("store@acme.example.com")
    to_subscriber = listing.mail(SUBSCRIBER)
    assert len(to_publisher) == 4, to_publisher  # clock started, reminder, hold, revoked
    assert len(to_subscriber) == 2, to_subscriber  # hold, revoked
    bodies = {str(m["Subject"]): m for m in read_mail(listing.sink.folder)}
    for subject, msg in bodies.items():
        if msg["To"] == SUBSCRIBER:
            text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            assert CVE not in text and CVE not in subject  # customers see no CVE details


async def test_fix_at_71h_closes_the_clock_without_hold(listing: Listing) -> None:
    await listing.report(finding(SeverityClass.CRITICAL))
    await listing.at(71 * H)
    await listing.report()  # the fixed image: no finding
    st = await listing.at(80 * H)
    assert st.state == ListingState.PUBLISHED and st.open_clocks == []
    assert [e.action for e in st.events if e.action.startswith(("clock", "hold"))] == [
        "clock_started",
        "clock_reminder",
        "clock_closed",
    ]


async def test_fix_during_hold_restores_the_listing(listing: Listing) -> None:
    await listing.report(finding(SeverityClass.CRITICAL))
    st = await listing.at(73 * H)
    assert st.state == ListingState.ON_HOLD
    await listing.report()
    st = await listing.at(74 * H)
    assert st.state == ListingState.PUBLISHED and st.revoke_at is None
    st = await listing.at(40 * D)
    assert st.state == ListingState.PUBLISHED  # no revocation after a restore
    assert sum("restored" in s.lower() for s in listing.mail(SUBSCRIBER)) == 1


async def test_exception_closes_the_clock_and_its_expiry_restarts_it(listing: Listing) -> None:
    await listing.report(finding(SeverityClass.CRITICAL))
    await listing.at(10 * H)
    expires = listing.started + 5 * D
    await listing.handle.execute_update(
        ListingWorkflow.grant_exception,
        ListingExceptionGrant(MIA, CVE, "TLS is disabled in this image", expires),
    )
    st = await listing.at(4 * D)
    assert st.open_clocks == [] and st.state == ListingState.PUBLISHED
    st = await listing.at(5 * D + H)
    (clock,) = st.open_clocks
    assert expires <= clock.started_at < expires + timedelta(seconds=1)
    assert clock.deadline == clock.started_at + 72 * H


async def test_major_raised_to_critical_moves_the_deadline_earlier(listing: Listing) -> None:
    await listing.report(finding(SeverityClass.MAJOR))
    st = await listing.at(H)
    major = st.open_clocks[0]
    assert major.deadline == major.started_at + 7 * D
    await listing.at(D)
    await listing.report(finding(SeverityClass.CRITICAL))
    st = await listing.at(D + H)
    (clock,) = st.open_clocks
    raised = next(e for e in st.events if e.action == "clock_escalated")
    assert clock.severity == SeverityClass.CRITICAL and clock.started_at == major.started_at
    assert clock.deadline == raised.at + 72 * H < major.deadline
    st = await listing.at(D + 72 * H + H)
    assert st.state == ListingState.ON_HOLD


async def test_clock_survives_continue_as_new(listing: Listing) -> None:
    first_run = (await listing.handle.describe()).run_id
    await listing.report(finding(SeverityClass.CRITICAL))
    (original,) = (await listing.at(H)).open_clocks
    for hour in range(2, 40, 2):  # enough rescans to pass max_events_before_continue
        await listing.at(hour * H)
        await listing.report(finding(SeverityClass.CRITICAL))
    await listing.at(41 * H)
    later = listing.env.client.get_workflow_handle(listing_workflow_id("acme-db"))
    assert (await later.describe()).run_id != first_run
    st = await later.query(ListingWorkflow.status)
    (clock,) = st.open_clocks
    assert clock == original
    await listing.at(72 * H + H)
    st = await later.query(ListingWorkflow.status)
    assert st.state == ListingState.ON_HOLD
    if os.environ.get("STOREMOD_RECORD_HISTORIES"):
        history = await listing.handle.fetch_history()  # the first run, ended by continue-as-new
        (Path(__file__).parent / "histories" / "listing_continued_as_new.json").write_text(
            json.dumps(json.loads(history.to_json()), indent=1)
        )


async def test_manual_hold_restore_revoke_and_refusals(listing: Listing) -> None:
    handle = listing.handle
    refusals: list[tuple[Any, Any, str]] = [
        (ListingWorkflow.hold, ListingAction(MIA, "  "), "a reason is required"),
        (ListingWorkflow.hold, ListingAction(ALICE, "mine"), "only moderators"),
        (ListingWorkflow.restore, ListingAction(MIA, "why not"), "not on hold"),
        (
            ListingWorkflow.grant_exception,
            ListingExceptionGrant(MIA, CVE, "x", listing.started + D),
            "not an open critical/major finding",
        ),
    ]
    for update, arg, message in refusals:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(update, arg)
        assert message in str(err.value.cause)
    st = await handle.execute_update(ListingWorkflow.hold, ListingAction(MIA, "license dispute"))
    assert st.state == ListingState.ON_HOLD
    st = await handle.execute_update(ListingWorkflow.restore, ListingAction(MIA, "settled"))
    assert st.state == ListingState.PUBLISHED
    admin = Actor("root", Role.ADMIN)
    st = await handle.execute_update(ListingWorkflow.revoke, ListingAction(admin, "takedown"))
    assert st.state == ListingState.REVOKED
    final = await handle.result()
    assert [e.action for e in final.events][-3:] == ["hold", "restore", "revoke"]
    assert [e.reason for e in final.events][-3:] == ["license dispute", "settled", "takedown"]


async def test_new_approved_revision_without_the_finding_closes_the_clock(
    listing: Listing,
) -> None:
    await listing.report(finding(SeverityClass.CRITICAL))
    await listing.at(30 * H)
    await listing.handle.signal(
        ListingWorkflow.publish_revision,
        RevisionReport(2, "acme-db-2", [FindingsReport("1.2", "sha256:2", [], "revision")]),
    )
    st = await listing.at(100 * H)
    assert st.state == ListingState.PUBLISHED and st.open_clocks == [] and st.revision == 2
    closed = next(e for e in st.events if e.action == "clock_closed")
    assert closed.cve == CVE and "revision 2" in closed.reason
