"""The whole path to a badge on a real dev server: a published product, a container
certification reviewed check by check, a refused sign-off, waivers, the badge on the
listing, hidden while on hold, suspended by a new revision until re-reviewed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.certification import (
    CertificationInput,
    CertificationKind,
    CertificationState,
    ImageToReview,
    SignOff,
)
from models.listing import FindingsReport, ListingAction, RevisionReport
from models.submission import Decision, DecisionKind, SubmissionState
from notifications.mail_sink import MailSink
from persistence.certification_reviews import CertificationReviews
from persistence.store import Store
from tests.support import (
    ALICE,
    MIA,
    copy_examples,
    eventually,
    load_manifest,
    load_profile,
    running_worker,
    seed,
    settings_for,
    start_submission,
    submission_input,
    wait_for_state,
)
from workflows.certification import CertificationWorkflow, certification_id_for
from workflows.listing import ListingWorkflow, listing_workflow_id
from workflows.submission import SubmissionWorkflow


async def test_container_certification_to_badge(
    dev_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder = copy_examples(tmp_path)
    profile = load_profile(folder)
    product = f"acme-cert-{uuid.uuid4().hex[:6]}"
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await Store.open(db_url)
    await seed(store, profile)
    settings = settings_for(db_url, mail_sink, f"cert-{product}")
    client = dev_env.client
    try:
        async with running_worker(client, store, settings):
            manifest = load_manifest(folder, "1.1", product=product)
            sub = submission_input(f"{product}-1", profile, manifest, settings)
            handle = await start_submission(client, sub, settings.task_queue)
            st = await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
            await handle.execute_update(
                SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE)
            )
            await handle.result()
            listing = client.get_workflow_handle(listing_workflow_id(product))

            async def listing_status() -> Any:
                try:
                    return await listing.query(ListingWorkflow.status)
                except Exception:  # noqa: BLE001 - not started yet
                    return None

            await eventually(listing_status)
            (scan,) = st.scans
            cert_id = certification_id_for(product, "container", sub.submission_id, 1)
            cert = await client.start_workflow(
                CertificationWorkflow.run,
                CertificationInput(
                    certification_id=cert_id,
                    product=product,
                    product_name=manifest.name,
                    publisher_id=profile.id,
                    publisher_name=profile.legal_name,
                    publisher_email=profile.email,
                    publisher_members=[ALICE.name],
                    submission_id=sub.submission_id,
                    revision=1,
                    kind=CertificationKind.CONTAINER,
                    images=[
                        ImageToReview(scan.tier, scan.tag, scan.image_ref, scan.digest, ["1.1"])
                    ],
                    open_findings=[],
                    requested_by=ALICE.name,
                ),
                id=cert_id,
                task_queue=settings.task_queue,
            )

            async def reviewed() -> Any:
                status = await cert.query(CertificationWorkflow.status)
                return status if status.state == CertificationState.AWAITING_SIGN_OFF else None

            review = await eventually(reviewed)
            by_id = {c.id: c for c in review.checks}
            assert by_id["clean-scan"].passed
            # The example image has a user and a vendor label, but no license or full labels.
            assert not by_id["required-labels"].passed and "name" in by_id["required-labels"].reason
            assert review.failing and all(not by_id[i].passed for i in review.failing)
            stored = await CertificationReviews(store).for_digest(scan.digest)
            assert [r["digest"] for r in stored] == [scan.digest]

            with pytest.raises(WorkflowUpdateFailedError, match="update"):
                await cert.execute_update(CertificationWorkflow.sign_off, SignOff(MIA))
            with pytest.raises(WorkflowUpdateFailedError):
                await cert.execute_update(CertificationWorkflow.sign_off, SignOff(ALICE))
            with pytest.raises(WorkflowUpdateFailedError):
                await cert.execute_update(
                    CertificationWorkflow.sign_off,
                    SignOff(MIA, {i: "" for i in review.failing}),
                )
            waivers = {i: f"accepted for the pilot: {i}" for i in review.failing}
            signed = await cert.execute_update(
                CertificationWorkflow.sign_off, SignOff(MIA, waivers)
            )
            assert signed.state == CertificationState.CERTIFIED and signed.failing == []
            await cert.result()

            async def badged() -> Any:
                status = await listing.query(ListingWorkflow.status)
                return status if status.badges else None

            live = await eventually(badged)
            assert [b.kind for b in live.badges] == [CertificationKind.CONTAINER]
            assert live.badges[0].certified_by == MIA.name

            # A listing on hold loses its badge until restored.
            held = await listing.execute_update(ListingWorkflow.hold, ListingAction(MIA, "audit"))
            assert held.badges == []
            restored = await listing.execute_update(
                ListingWorkflow.restore, ListingAction(MIA, "audit done")
            )
            assert [b.kind for b in restored.badges] == [CertificationKind.CONTAINER]

            # A new revision is re-reviewed before the badge carries over.
            await listing.signal(
                ListingWorkflow.publish_revision,
                RevisionReport(
                    1, f"{product}-2", [FindingsReport("1.1", scan.digest, [], "revision")]
                ),
            )

            # The re-review starts by itself; the same image fails nothing beyond what
            # was waived, so the badge carries over to the new revision.
            async def carried() -> Any:
                status = await listing.query(ListingWorkflow.status)
                fresh = [b for b in status.badges if b.submission_id == f"{product}-2"]
                return status if fresh else None

            later = await eventually(carried, timeout=60)
            assert later.suspended_badges == []
            assert later.badges[0].certified_by == MIA.name
            re_review = client.get_workflow_handle(
                certification_id_for(product, "container", f"{product}-2", 1)
            )
            assert (await re_review.query(CertificationWorkflow.status)).state == (
                CertificationState.CERTIFIED
            )
        audit = [e.action for e in await store.list_audit(subject_id=product)]
        assert "certification_reviewed" in audit and "certified" in audit
        assert "badge_granted" in audit and "certification_carried_over" in audit
    finally:
        await store.close()


async def _plugin_certification(
    dev_env: WorkflowEnvironment, tmp_path: Path, mail_sink: MailSink, endpoint: str, allow: bool
) -> Any:
    folder = copy_examples(tmp_path)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await Store.open(db_url)
    await seed(store, load_profile(folder))
    changes = {"scanner_allowed_networks": ["127.0.0.0/8"]} if allow else {}
    settings = settings_for(db_url, mail_sink, f"plug-{uuid.uuid4().hex[:8]}", **changes)
    image = load_manifest(folder, "1.1").tiers[0].source.repository + ":1.1"
    cert_id = f"certification-plugin-{uuid.uuid4().hex[:8]}"
    try:
        async with running_worker(dev_env.client, store, settings):
            handle = await dev_env.client.start_workflow(
                CertificationWorkflow.run,
                CertificationInput(
                    certification_id=cert_id,
                    product="acme-volume",
                    product_name="Acme Volume",
                    publisher_id="acme",
                    publisher_name="Acme",
                    publisher_email="store@acme.example.com",
                    publisher_members=[ALICE.name],
                    submission_id="acme-volume-1",
                    revision=1,
                    kind=CertificationKind.PLUGIN,
                    images=[ImageToReview("Standard", "1.1", image, "", ["1.1"])],
                    open_findings=[],
                    requested_by=ALICE.name,
                    plugin_endpoint=endpoint,
                ),
                id=cert_id,
                task_queue=settings.task_queue,
            )

            async def reviewed() -> Any:
                st = await handle.query(CertificationWorkflow.status)
                return st if st.state == CertificationState.AWAITING_SIGN_OFF else None

            status = await eventually(reviewed)
            image_failures = {c.id for c in status.checks if not c.passed and c.subject != "plugin"}
            waivers = {i: "pilot" for i in image_failures}
            signed: bool | str = True
            try:
                await handle.execute_update(CertificationWorkflow.sign_off, SignOff(MIA, waivers))
            except WorkflowUpdateFailedError as err:
                signed = str(err.cause)
            return status, signed
    finally:
        await store.close()


async def test_plugin_certification_runs_the_api_suite(
    dev_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path: Path
) -> None:
    from tests.plugins.broken_volume import KNOWN_FAILURES, BrokenVolumePlugin
    from tests.plugins.reference_volume import ReferenceVolumePlugin
    from tests.plugins.server import PluginServer

    with PluginServer(ReferenceVolumePlugin(tmp_path / "ref")) as good:
        status, signed = await _plugin_certification(
            dev_env, tmp_path / "a", mail_sink, good.url, allow=True
        )
    plugin = [c for c in status.checks if c.subject == "plugin"]
    assert plugin and all(c.passed for c in plugin)
    assert signed is True

    with PluginServer(BrokenVolumePlugin(tmp_path / "bad")) as bad:
        status, signed = await _plugin_certification(
            dev_env, tmp_path / "b", mail_sink, bad.url, allow=True
        )
    failing = {
        c.id.removeprefix("plugin-")
        for c in status.checks
        if c.subject == "plugin" and not c.passed
    }
    assert failing == set(KNOWN_FAILURES)
    assert isinstance(signed, str) and "cannot sign off" in signed  # API failures cannot be waived

    # A loopback endpoint is refused unless the operator allows that network.
    with PluginServer(ReferenceVolumePlugin(tmp_path / "ref2")) as good:
        status, _ = await _plugin_certification(
            dev_env, tmp_path / "c", mail_sink, good.url, allow=False
        )
    refused = next(c for c in status.checks if c.id == "plugin-endpoint")
    assert not refused.passed and "private or local address" in refused.reason
