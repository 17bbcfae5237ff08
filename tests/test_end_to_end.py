"""End to end on a real Temporal dev server, a real worker, PostgreSQL and an aiosmtpd
server: profile, submit, a known CVE found in a real package database, changes
requested, a fixed image resubmitted, approval, the listing published."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.submission import Decision, DecisionKind, Reason, Resubmission, SubmissionState
from notifications.mail_sink import MailSink, read_mail
from persistence.store import Store
from tests.support import (
    ALICE,
    MIA,
    VULNERABLE_CVE,
    body_text,
    copy_examples,
    eventually,
    load_manifest,
    load_profile,
    running_worker,
    seed,
    settings_for,
    start_submission,
    submission_input,
    wait_for_mail,
    wait_for_state,
)
from workflows.listing import ListingWorkflow, listing_workflow_id
from workflows.submission import SubmissionWorkflow


async def _listing_status(handle: Any, expect_revision: int) -> Any:
    try:
        status = await handle.query(ListingWorkflow.status)
    except RPCError:
        return None  # not started yet
    return status if status.revision == expect_revision else None


HISTORIES = Path(__file__).parent / "histories"


async def test_submission_from_profile_to_published_listing(
    dev_env: WorkflowEnvironment, fresh_pg_url: str, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder = copy_examples(tmp_path)
    profile = load_profile(folder)
    store = await Store.open(fresh_pg_url)
    assert store.dialect == "postgresql"
    await seed(store, profile)
    settings = settings_for(fresh_pg_url, mail_sink, f"e2e-{uuid.uuid4().hex[:8]}")
    client = dev_env.client
    try:
        async with running_worker(client, store, settings):
            inp = submission_input("acme-db-1", profile, load_manifest(folder, tag="1.0"), settings)
            handle = await start_submission(client, inp, settings.task_queue)

            # Revision 1: OpenSSL 3.0.17 from a real Debian package database.
            st = await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
            (scan,) = st.scans
            assert scan.colour.value == "red"
            cves = {(f.cve_id, f.package, f.severity.value) for f in scan.findings}
            assert (VULNERABLE_CVE, "libssl3", "critical") in cves
            finding = next(f for f in scan.findings if f.package == "libssl3")
            assert finding.cvss_score == 7.5
            assert finding.cvss_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
            assert finding.installed_version == "3.0.17-1~deb12u2"
            assert finding.fixed_version == "3.0.19-1~deb12u2"
            queue = await eventually(lambda: store.list_submissions(state="awaiting_review"))
            assert [s.id for s in queue] == ["acme-db-1"]

            with pytest.raises(WorkflowUpdateFailedError, match="update"):
                await handle.execute_update(
                    SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE)
                )
            await handle.execute_update(
                SubmissionWorkflow.decide,
                Decision(
                    MIA,
                    DecisionKind.REQUEST_CHANGES,
                    [
                        Reason("rebuild on OpenSSL 3.0.19 or later", cve=VULNERABLE_CVE),
                        Reason("say which SQL dialect it speaks", field="short_description"),
                    ],
                ),
            )
            await wait_for_state(handle, SubmissionState.CHANGES_REQUESTED)

            # Revision 2: the fixed image, and a better description.
            fixed = load_manifest(
                folder,
                tag="1.1",
                short_description="A fast, replicated, PostgreSQL-compatible SQL database.",
            )
            await handle.execute_update(
                SubmissionWorkflow.resubmit, Resubmission(ALICE, fixed, note="OpenSSL 3.0.22")
            )
            st = await wait_for_state(handle, SubmissionState.AWAITING_REVIEW, revision=2)
            assert st.scans[0].colour.value == "green" and st.open_findings == []
            await handle.execute_update(
                SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE, comment="thanks")
            )
            final = await handle.result()
            if os.environ.get("STOREMOD_RECORD_HISTORIES"):
                history = await handle.fetch_history()
                (HISTORIES / "submission_published_announced.json").write_text(
                    json.dumps(json.loads(history.to_json()), indent=1)
                )
            # The published revision now lives on in the product's ListingWorkflow.
            listing_handle = client.get_workflow_handle(listing_workflow_id("acme-db"))
            live = await eventually(
                lambda: _listing_status(listing_handle, expect_revision=2), timeout=30
            )
            assert live.state.value == "published" and live.open_clocks == []

        assert final.state == SubmissionState.PUBLISHED
        assert [h.action for h in final.history] == [
            "submitted",
            "scan_started",
            "scanned",
            "request_changes",
            "resubmitted",
            "scan_started",
            "scanned",
            "approve",
            "published",
        ]
        listing = await store.get_listing("acme-db")
        assert listing is not None
        assert listing.revision == 2 and listing.submission_id == "acme-db-1"
        assert [(t.tier, t.tag, t.colour) for t in listing.tags] == [("Standard", "1.1", "green")]
        assert listing.manifest["short_description"].startswith("A fast, replicated, PostgreSQL")
        row = await store.get_submission("acme-db-1")
        assert row is not None and row.state == "published" and row.revision == 2
        # The workflow returns only once its audit rows and emails are written.
        actions = [e.action for e in await store.list_audit(subject_id="acme-db-1")]
        assert actions == [h.action for h in final.history]

        mail = await wait_for_mail(
            mail_sink.folder, lambda m: any("Published" in str(x["Subject"]) for x in m)
        )
        subjects = [str(m["Subject"]) for m in mail]
        assert len(set(m["Message-ID"] for m in mail)) == len(mail), subjects
        assert all(m["To"] == profile.email for m in mail)
        by_subject = {str(m["Subject"]): body_text(m) for m in mail}
        assert Counter(s.split("] ", 1)[1].split(":")[0] for s in subjects) == Counter(
            {
                "Submission acme-db-1 received (revision 1)": 1,
                "Security scan of revision 1": 1,
                "Changes requested on revision 1": 1,
                "Security scan of revision 2": 1,
                "Revision 2 approved": 1,
                "Published in the store": 1,
            }
        ), subjects
        scan1 = next(b for s, b in by_subject.items() if "scan of revision 1" in s)
        assert VULNERABLE_CVE in scan1 and "CVSS 7.5" in scan1 and "3.0.19-1~deb12u2" in scan1
        asked = next(b for s, b in by_subject.items() if "Changes requested" in s)
        assert "rebuild on OpenSSL 3.0.19 or later" in asked and VULNERABLE_CVE in asked
        assert "short_description" in asked
        scan2 = next(b for s, b in by_subject.items() if "scan of revision 2" in s)
        assert "GREEN" in scan2 and VULNERABLE_CVE not in scan2

        # A new submission of the same product updates the listing, never duplicates it.
        async with running_worker(client, store, settings):
            again = submission_input(
                "acme-db-2", profile, load_manifest(folder, tag="1.1", name="Acme DB 2"), settings
            )
            h2 = await start_submission(client, again, settings.task_queue)
            await wait_for_state(h2, SubmissionState.AWAITING_REVIEW)
            await h2.execute_update(SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE))
            assert (await h2.result()).state == SubmissionState.PUBLISHED
        listings = await store.list_listings(publisher_id="acme")
        assert [(x.product, x.submission_id, x.manifest["name"]) for x in listings] == [
            ("acme-db", "acme-db-2", "Acme DB 2")
        ]
        assert (
            len(read_mail(mail_sink.folder)) == len(mail) + 4
        )  # received, scan, approved, published
    finally:
        await store.close()
