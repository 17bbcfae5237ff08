"""SubmissionWorkflow on the time-skipping test server, with real activities,
a real SQLite store and a real SMTP sink: validators, abandonment, history."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models.identity import Actor, Role
from models.submission import (
    Decision,
    DecisionKind,
    ExceptionGrant,
    Reason,
    Resubmission,
    SubmissionState,
    Withdrawal,
)
from notifications.mail_sink import MailSink, read_mail
from persistence.store import Store
from tests.support import (
    ABANDON_FAST,
    ALICE,
    MIA,
    VULNERABLE_CVE,
    body_text,
    copy_examples,
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
from workflows.submission import SubmissionWorkflow


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    yield store
    await store.close()


async def _scanned_submission(
    env: WorkflowEnvironment, store: Store, sink: MailSink, tmp_path: Path, **settings_changes
):
    folder = copy_examples(tmp_path)
    profile = load_profile(folder)
    await seed(store, profile)
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", sink, queue, **settings_changes
    )
    inp = submission_input(
        f"acme-db-{uuid.uuid4().hex[:6]}", profile, load_manifest(folder), settings
    )
    return folder, settings, inp


async def test_abandoned_after_warning_when_publisher_never_answers(
    skipping_env: WorkflowEnvironment, sqlite_store: Store, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder, settings, inp = await _scanned_submission(
        skipping_env, sqlite_store, mail_sink, tmp_path, **ABANDON_FAST
    )
    client = skipping_env.client
    async with running_worker(client, sqlite_store, settings):
        handle = await start_submission(client, inp, settings.task_queue)
        await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
        await handle.execute_update(
            SubmissionWorkflow.decide,
            Decision(
                MIA, DecisionKind.REQUEST_CHANGES, [Reason("upgrade OpenSSL", cve=VULNERABLE_CVE)]
            ),
        )
        # result() lets the test server skip the 3 days of waiting.
        final = await handle.result()
        if os.environ.get("STOREMOD_RECORD_HISTORIES"):
            history = await handle.fetch_history()
            (Path(__file__).parent / "histories" / "submission_abandoned.json").write_text(
                json.dumps(json.loads(history.to_json()), indent=1)
            )

    assert final.state == SubmissionState.ABANDONED
    by_action = {h.action: h for h in final.history}
    asked = by_action["request_changes"].at
    # Warning 2 days after the request (3 days - 1 day before), abandonment at 3 days;
    # the clock starts when the workflow takes the decision, milliseconds after it.
    slack = timedelta(seconds=5)
    assert (
        timedelta(days=2)
        <= by_action["abandonment_warning"].at - asked
        <= timedelta(days=2) + slack
    )
    assert timedelta(days=3) <= by_action["abandoned"].at - asked <= timedelta(days=3) + slack

    mail = await wait_for_mail(
        mail_sink.folder, lambda m: any("abandoned" in str(x["Subject"]).lower() for x in m)
    )
    by_subject = {str(m["Subject"]): m for m in mail}
    warnings = [m for s, m in by_subject.items() if s.startswith("[Acme DB] Reply by")]
    assert len(warnings) == 1, list(by_subject)
    deadline = by_action["abandoned"].at.strftime("%Y-%m-%d")
    assert deadline in body_text(warnings[0])
    assert all(m["To"] == inp.profile.email for m in mail)
    row = await sqlite_store.get_submission(inp.submission_id)
    assert row is not None and row.state == "abandoned"


async def test_answer_before_deadline_stops_abandonment(
    skipping_env: WorkflowEnvironment, sqlite_store: Store, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder, settings, inp = await _scanned_submission(
        skipping_env, sqlite_store, mail_sink, tmp_path, **ABANDON_FAST
    )
    client = skipping_env.client
    async with running_worker(client, sqlite_store, settings):
        handle = await start_submission(client, inp, settings.task_queue)
        await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
        await handle.execute_update(
            SubmissionWorkflow.decide,
            Decision(MIA, DecisionKind.REQUEST_CHANGES, [Reason("use 1.1", field="tiers")]),
        )
        await skipping_env.sleep(timedelta(days=2, hours=12))  # warned, not yet abandoned
        await handle.execute_update(
            SubmissionWorkflow.resubmit, Resubmission(ALICE, load_manifest(folder, tag="1.1"))
        )
        st = await wait_for_state(handle, SubmissionState.AWAITING_REVIEW, revision=2)
        assert st.open_findings == []
        await handle.execute_update(SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE))
        final = await handle.result()
    actions = [h.action for h in final.history]
    assert final.state == SubmissionState.PUBLISHED
    assert "abandonment_warning" in actions and "abandoned" not in actions


async def test_refused_updates_leave_no_trace_in_history(
    skipping_env: WorkflowEnvironment, sqlite_store: Store, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder, settings, inp = await _scanned_submission(
        skipping_env, sqlite_store, mail_sink, tmp_path
    )
    client = skipping_env.client
    now = await skipping_env.get_current_time()
    bob = Actor("bob", Role.PUBLISHER, "other")
    refused: list[tuple[Any, Any, str]] = [
        (SubmissionWorkflow.decide, Decision(ALICE, DecisionKind.APPROVE), "only moderators"),
        (SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE), VULNERABLE_CVE),
        (
            SubmissionWorkflow.decide,
            Decision(MIA, DecisionKind.REQUEST_CHANGES),
            "needs at least one reason",
        ),
        (
            SubmissionWorkflow.decide,
            Decision(MIA, DecisionKind.REQUEST_CHANGES, [Reason("x", field="no_such_field")]),
            "not a manifest field",
        ),
        (
            SubmissionWorkflow.grant_exception,
            ExceptionGrant(MIA, VULNERABLE_CVE, "   ", now + timedelta(days=30)),
            "justification",
        ),
        (
            SubmissionWorkflow.grant_exception,
            ExceptionGrant(MIA, VULNERABLE_CVE, "not reachable", now - timedelta(days=1)),
            "not in the future",
        ),
        (
            SubmissionWorkflow.grant_exception,
            ExceptionGrant(MIA, "CVE-1999-0001", "n/a", now + timedelta(days=30)),
            "not among",
        ),
        (SubmissionWorkflow.withdraw, Withdrawal(bob), "not a member"),
        (SubmissionWorkflow.resubmit, Resubmission(MIA), "not a member"),
    ]
    async with running_worker(client, sqlite_store, settings):
        handle = await start_submission(client, inp, settings.task_queue)
        await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
        before = [e.event_type for e in (await handle.fetch_history()).events]
        for update, arg, message in refused:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(update, arg)
            assert message in str(err.value.cause), (message, err.value.cause)
        history = await handle.fetch_history()
        update_events = {
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
        }
        assert not [e for e in history.events if e.event_type in update_events]
        # Queries and refused updates may add workflow tasks, never an update or a decision.
        st = await handle.query(SubmissionWorkflow.status)
        assert st.state == SubmissionState.AWAITING_REVIEW
        assert [h.action for h in st.history] == ["submitted", "scan_started", "scanned"]
        assert len(history.events) >= len(before)

        # An exception with a justification and a future expiry unblocks approval.
        await handle.execute_update(
            SubmissionWorkflow.grant_exception,
            ExceptionGrant(MIA, VULNERABLE_CVE, "not reachable: no TLS", now + timedelta(days=30)),
        )
        await handle.execute_update(SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE))
        final = await handle.result()
    assert final.state == SubmissionState.PUBLISHED
    listing = await sqlite_store.get_listing("acme-db")
    assert listing is not None and listing.tags[0].colour == "red"
    refusals = [a for a in await sqlite_store.list_audit(subject_id=inp.submission_id)]
    assert "exception_granted" in [a.action for a in refusals]


async def test_withdrawn_submission_is_never_published(
    skipping_env: WorkflowEnvironment, sqlite_store: Store, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder, settings, inp = await _scanned_submission(
        skipping_env, sqlite_store, mail_sink, tmp_path
    )
    client = skipping_env.client
    async with running_worker(client, sqlite_store, settings):
        handle = await start_submission(client, inp, settings.task_queue)
        await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
        await handle.execute_update(SubmissionWorkflow.withdraw, Withdrawal(ALICE, "not ready"))
        final = await handle.result()
        # The workflow has ended: no decision can reach it any more.
        with pytest.raises(RPCError):
            await handle.execute_update(
                SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE)
            )
    assert final.state == SubmissionState.WITHDRAWN
    assert await sqlite_store.get_listing("acme-db") is None
    mail = await wait_for_mail(
        mail_sink.folder, lambda m: any("withdrawn" in str(x["Subject"]).lower() for x in m)
    )
    assert len(read_mail(mail_sink.folder)) == len(mail)
