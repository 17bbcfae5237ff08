"""Nothing lost, nothing twice: a worker killed (SIGKILL) in the middle of a
submission while the SMTP relay is down; a new worker finishes the job once the
relay is back, and every email arrives exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from models.submission import Decision, DecisionKind, Reason, Resubmission, SubmissionState
from notifications.mail_sink import MailSink, read_mail
from persistence.store import Store
from settings import Settings
from tests.conftest import free_port
from tests.conftest_db import asyncpg_dsn, pg_admin_url
from tests.support import (
    ALICE,
    MIA,
    VULNERABLE_CVE,
    copy_examples,
    eventually,
    load_manifest,
    load_profile,
    running_worker,
    seed,
    start_submission,
    submission_input,
    wait_for_mail,
    wait_for_state,
)
from workflows.submission import SubmissionWorkflow

ROOT = Path(__file__).resolve().parents[1]


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_killed_worker_and_smtp_outage_lose_nothing_and_send_nothing_twice(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    folder = copy_examples(tmp_path)
    profile = load_profile(folder)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await Store.open(db_url)
    await seed(store, profile)
    smtp_port = free_port()
    sink = MailSink(tmp_path / "mail")
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "STOREMOD_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "STOREMOD_DATABASE_URL": db_url,
        "STOREMOD_SMTP_PORT": str(smtp_port),
        "STOREMOD_TASK_QUEUE": queue,
        "STOREMOD_LOG_FORMAT": "json",
    }
    client = dev_env.client
    first = start_worker(env)
    second = None
    try:
        settings = Settings(database_url=db_url, smtp_port=smtp_port, task_queue=queue)
        inp = submission_input("acme-db-1", profile, load_manifest(folder), settings)
        handle = await start_submission(client, inp, queue)
        # The relay is down: the scan completes, its emails are stuck in retries.
        await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
        outbox = await eventually(lambda: store.list_notices(failed_only=True))
        assert outbox and all(n.sent_at is None for n in outbox)

        first.send_signal(signal.SIGKILL)
        first.wait()
        sink.start("127.0.0.1", smtp_port)
        second = start_worker(env)

        await handle.execute_update(
            SubmissionWorkflow.decide,
            Decision(MIA, DecisionKind.REQUEST_CHANGES, [Reason("fix it", cve=VULNERABLE_CVE)]),
        )
        await handle.execute_update(
            SubmissionWorkflow.resubmit, Resubmission(ALICE, load_manifest(folder, tag="1.1"))
        )
        await wait_for_state(handle, SubmissionState.AWAITING_REVIEW, revision=2, timeout=120)
        await handle.execute_update(SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE))
        final = await handle.result()
        assert final.state == SubmissionState.PUBLISHED

        mail = await wait_for_mail(
            sink.folder, lambda m: any("Published" in str(x["Subject"]) for x in m), timeout=120
        )
        subjects = Counter(str(m["Subject"]).split(":")[0] for m in read_mail(sink.folder))
        assert subjects == Counter(
            {
                "[Acme DB] Submission acme-db-1 received (revision 1)": 1,
                "[Acme DB] Security scan of revision 1": 1,
                "[Acme DB] Changes requested on revision 1": 1,
                "[Acme DB] Security scan of revision 2": 1,
                "[Acme DB] Revision 2 approved": 1,
                "[Acme DB] Published in the store": 1,
            }
        ), subjects
        assert len({m["Message-ID"] for m in mail}) == len(mail)
        notices = await store.list_notices()
        assert len(notices) == 6 and all(n.sent_at is not None for n in notices)
        assert any(n.attempts > 1 for n in notices)  # the outage really forced retries
        listing = await store.get_listing("acme-db")
        assert listing is not None and listing.revision == 2
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
        sink.stop()
        await store.close()


async def test_database_outage_is_survived_without_duplicates(
    dev_env: WorkflowEnvironment, fresh_pg_url: str, tmp_path: Path
) -> None:
    """PostgreSQL refuses every connection for a while mid-submission; the
    bookkeeping activities retry, and the audit trail ends up complete and single."""
    folder = copy_examples(tmp_path)
    profile = load_profile(folder)
    store = await Store.open(fresh_pg_url)
    await seed(store, profile)
    database = make_url(fresh_pg_url).database
    admin = await asyncpg.connect(asyncpg_dsn(pg_admin_url() or ""))
    sink = MailSink(tmp_path / "mail")
    _, smtp_port = sink.start("127.0.0.1", 0)
    queue = f"dbdown-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=fresh_pg_url, smtp_port=smtp_port, task_queue=queue)
    client = dev_env.client
    try:
        async with running_worker(client, store, settings):
            inp = submission_input("acme-db-1", profile, load_manifest(folder, tag="1.1"), settings)
            handle = await start_submission(client, inp, queue)
            await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
            await eventually(lambda: store.list_submissions(state="awaiting_review"))

            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
            await handle.execute_update(
                SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE)
            )
            await asyncio.sleep(3)  # approval and publication wait on the database
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

            final = await asyncio.wait_for(handle.result(), timeout=120)
        assert final.state == SubmissionState.PUBLISHED
        actions = [e.action for e in await store.list_audit(subject_id="acme-db-1")]
        assert actions == ["submitted", "scan_started", "scanned", "approve", "published"]
        listing = await store.get_listing("acme-db")
        assert listing is not None and listing.tags[0].colour == "green"
        subjects = Counter(str(m["Subject"]).split(":")[0] for m in read_mail(sink.folder))
        assert all(count == 1 for count in subjects.values()) and len(subjects) == 4, subjects
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
        sink.stop()
        await store.close()
