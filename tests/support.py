"""Building blocks of the workflow tests: example documents, settings, a running worker."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowHandle

from models.identity import Actor, Role
from models.onboarding import ProductManifest, PublisherProfile
from models.submission import SubmissionInput, SubmissionState, SubmissionStatus
from notifications.mail_sink import MailSink, read_mail
from onboarding.validation import load_document, validate_manifest, validate_profile
from persistence.store import Store
from scanner.osv import InvalidAdvisory, read_records
from settings import Settings
from worker import build_worker
from workflows.submission import SubmissionWorkflow, workflow_id_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
VULNERABLE_CVE = "CVE-2026-28388"  # critical (CVSS 7.5) in OpenSSL 3.0.17, fixed in 3.0.19

ALICE = Actor("alice", Role.PUBLISHER, "acme")
MIA = Actor("mia", Role.MODERATOR)


def copy_examples(dest: Path) -> Path:
    """A private copy of examples/ (documents, assets, the OCI image)."""
    target = dest / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def load_profile(folder: Path) -> PublisherProfile:
    profile, problems = validate_profile(load_document(folder / "profile.yaml"), folder)
    assert profile is not None, problems
    return profile


def load_manifest(folder: Path, tag: str = "1.0", **changes: Any) -> ProductManifest:
    raw: Any = load_document(folder / "manifest.yaml")
    raw["tiers"][0]["source"]["tags"] = [tag]
    raw.update(changes)
    manifest, problems = validate_manifest(raw, folder)
    assert manifest is not None, problems
    return manifest


def write_manifest(folder: Path, name: str, tag: str) -> Path:
    """A manifest file next to the examples pointing at another tag."""
    raw: Any = load_document(folder / "manifest.yaml")
    raw["tiers"][0]["source"]["tags"] = [tag]
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def settings_for(db_url: str, sink: MailSink, task_queue: str, **changes: Any) -> Settings:
    assert sink.port is not None
    return Settings(
        database_url=db_url,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        task_queue=task_queue,
        **changes,
    )


async def seed(store: Store, profile: PublisherProfile) -> None:
    """Alice of Acme and moderator Mia, plus the example advisories."""
    await store.register_publisher(profile, ALICE.name)
    if await store.get_user(MIA.name) is None:
        await store.add_user(MIA.name, Role.MODERATOR)
    records = [r for r in read_records(EXAMPLES / "advisories")]
    assert not any(isinstance(r, InvalidAdvisory) for r in records)
    await store.import_advisories([r for r in records if not isinstance(r, InvalidAdvisory)])


def submission_input(
    submission_id: str,
    profile: PublisherProfile,
    manifest: ProductManifest,
    settings: Settings,
) -> SubmissionInput:
    return SubmissionInput(
        submission_id=submission_id,
        submitted_by=ALICE.name,
        publisher_members=[ALICE.name],
        profile=profile,
        manifest=manifest,
        abandon_after=settings.abandon_after,
        abandon_warning_before=settings.abandon_warning_before,
    )


async def start_submission(
    client: Client, inp: SubmissionInput, task_queue: str
) -> WorkflowHandle[Any, SubmissionStatus]:
    return await client.start_workflow(
        SubmissionWorkflow.run,
        inp,
        id=workflow_id_for(inp.submission_id),
        task_queue=task_queue,
    )


async def wait_for_state(
    handle: WorkflowHandle[Any, Any],
    state: SubmissionState,
    timeout: float = 60.0,
    revision: int | None = None,
) -> SubmissionStatus:
    """Poll the status query until the submission reaches ``state``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st: SubmissionStatus = await handle.query(SubmissionWorkflow.status)
        if st.state == state and (revision is None or st.revision == revision):
            return st
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {st.state} (revision {st.revision}), wanted {state}")
        await asyncio.sleep(0.1)


async def wait_for_mail(
    folder: Path, predicate: Callable[[list[EmailMessage]], bool], timeout: float = 30.0
) -> list[EmailMessage]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        mail = read_mail(folder)
        if predicate(mail):
            return mail
        if asyncio.get_running_loop().time() > deadline:
            subjects = [m["Subject"] for m in mail]
            raise AssertionError(f"mail never arrived; have {subjects}")
        await asyncio.sleep(0.1)


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@asynccontextmanager
async def running_worker(client: Client, store: Store, settings: Settings) -> AsyncIterator[None]:
    async with build_worker(client, store, settings):
        yield


ABANDON_FAST = {"abandon_after": timedelta(days=3), "abandon_warning_before": timedelta(days=1)}


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Await ``check()`` until it returns something truthy (the DB mirror lags the workflow)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition never held; last value {value!r}")
        await asyncio.sleep(0.1)
