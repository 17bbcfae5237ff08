"""After publication on a real dev server: the advisory feed finds affected listings by
an indexed query and starts exactly one clock; a withdrawn advisory closes it; the
scheduled rescan reports fresh findings; schedules exist once after two starts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from models.activity_io import AffectedResult, FeedRequest, RescanRequest, RescanResult
from models.listing import ListingState
from models.submission import Decision, DecisionKind, SubmissionState
from notifications.mail_sink import MailSink
from persistence.published_inventory import PublishedInventory
from persistence.store import Store
from schedules import ADVISORY_FEED, RESCAN_PUBLISHED, SCHEDULES, ensure_schedules
from tests.imagebuild import write_oci_layout
from tests.support import (
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
from workflows.advisory_feed import AdvisoryFeedWorkflow
from workflows.listing import ListingWorkflow, listing_workflow_id
from workflows.rescan import RescanWorkflow
from workflows.submission import SubmissionWorkflow

FIXTURES = Path(__file__).parent / "fixtures" / "dpkg"
NEW_CVE = "CVE-2026-99001"


def without_openssl(status: str) -> bytes:
    """The real status file minus the OpenSSL stanzas: an image that has no OpenSSL."""
    stanzas = status.strip().split("\n\n")
    kept = [s for s in stanzas if not s.startswith(("Package: libssl3", "Package: openssl"))]
    return ("\n\n".join(kept) + "\n").encode()


def feed_record(modified: str, withdrawn: str | None = None) -> dict[str, Any]:
    """A new OSV advisory against OpenSSL 3.0.22 in Debian 12, as a feed would bring it."""
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": f"DEBIAN-{NEW_CVE}",
        "modified": modified,
        "published": "2026-12-04T00:00:00Z",
        "upstream": [NEW_CVE],
        "summary": "openssl: a test advisory issued after publication",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "openssl"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "3.0.23-1~deb12u1"}],
                    }
                ],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }
    if withdrawn:
        record["withdrawn"] = withdrawn
    return record


async def publish(client: Any, folder: Path, settings: Any, product: str, manifest: Any) -> None:
    inp = submission_input(f"{product}-1", load_profile(folder), manifest, settings)
    handle = await start_submission(client, inp, settings.task_queue)
    await wait_for_state(handle, SubmissionState.AWAITING_REVIEW)
    await handle.execute_update(SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE))
    assert (await handle.result()).state == SubmissionState.PUBLISHED


async def open_clocks(client: Any, product: str) -> list[str] | None:
    try:
        st = await client.get_workflow_handle(listing_workflow_id(product)).query(
            ListingWorkflow.status
        )
    except Exception:  # noqa: BLE001 - not started yet
        return None
    return [c.cve for c in st.open_clocks]


async def test_feed_starts_exactly_one_clock_and_withdrawal_closes_it(
    dev_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path: Path
) -> None:
    folder = copy_examples(tmp_path)
    # Product ids must be unique on the session's shared dev server.
    suffix = uuid.uuid4().hex[:6]
    with_ssl, without_ssl = f"acme-db-{suffix}", f"acme-kv-{suffix}"
    other_image = folder / "images" / "acme-kv"
    write_oci_layout(
        other_image,
        [
            {
                "etc/os-release": (FIXTURES / "os-release").read_bytes(),
                "var/lib/dpkg/status": without_openssl((FIXTURES / "status-fixed").read_text()),
            }
        ],
        tag="2.0",
    )
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await Store.open(db_url)
    await seed(store, load_profile(folder))
    settings = settings_for(db_url, mail_sink, f"feed-{suffix}")
    client = dev_env.client
    try:
        async with running_worker(client, store, settings):
            await publish(
                client, folder, settings, with_ssl, load_manifest(folder, "1.1", product=with_ssl)
            )
            kv = load_manifest(folder, "1.1", product=without_ssl)
            kv.tiers[0].source.repository = f"oci:{other_image}"
            kv.tiers[0].source.tags = ["2.0"]
            await publish(client, folder, settings, without_ssl, kv)
            for product in (with_ssl, without_ssl):

                async def started(p: str = product) -> bool:
                    return await open_clocks(client, p) is not None

                await eventually(started)
                assert await open_clocks(client, product) == []

            inventory = await PublishedInventory(store).tags()
            assert {(t.product, t.tag) for t in inventory} == {
                (with_ssl, "1.1"),
                (without_ssl, "2.0"),
            }

            feed = tmp_path / "feed"
            feed.mkdir()
            (feed / "new.json").write_text(json.dumps(feed_record("2026-12-04T10:00:00Z")))
            result: AffectedResult = await client.execute_workflow(
                AdvisoryFeedWorkflow.run,
                FeedRequest(str(feed)),
                id=f"feed-{suffix}-1",
                task_queue=settings.task_queue,
            )
            assert result.tags == [f"{with_ssl}:1.1"]
            assert await eventually(lambda: open_clocks(client, with_ssl)) == [NEW_CVE]
            assert await open_clocks(client, without_ssl) == []

            # Upstream withdraws the advisory: it stops matching and the clock closes.
            (feed / "new.json").write_text(
                json.dumps(feed_record("2026-12-04T12:00:00Z", withdrawn="2026-12-04T12:00:00Z"))
            )
            await client.execute_workflow(
                AdvisoryFeedWorkflow.run,
                FeedRequest(str(feed)),
                id=f"feed-{suffix}-2",
                task_queue=settings.task_queue,
            )

            async def closed() -> bool:
                return await open_clocks(client, with_ssl) == []

            await eventually(closed)
            st = await client.get_workflow_handle(listing_workflow_id(with_ssl)).query(
                ListingWorkflow.status
            )
            assert st.state == ListingState.PUBLISHED
            assert [e.action for e in st.events if e.cve == NEW_CVE] == [
                "clock_started",
                "clock_closed",
            ]

            # The scheduled rescan re-reads the images: nothing is open with today's advisories.
            rescan: RescanResult = await client.execute_workflow(
                RescanWorkflow.run,
                RescanRequest(),
                id=f"rescan-{suffix}",
                task_queue=settings.task_queue,
            )
            assert rescan.tags >= 2 and rescan.unreadable == []
    finally:
        await store.close()


async def test_schedules_exist_once_after_two_worker_starts(
    dev_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path: Path
) -> None:
    client = dev_env.client
    settings = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
        mail_sink,
        "sched",
        advisory_feed_source=str(tmp_path),
    )
    await ensure_schedules(client, settings)
    await ensure_schedules(client, settings)

    async def listed() -> list[str] | None:
        # Schedule listing is eventually consistent: wait until every schedule shows.
        ids = [s.id async for s in await client.list_schedules()]
        return ids if all(e.schedule_id in ids for e in SCHEDULES) else None

    ids = await eventually(listed)
    for entry in SCHEDULES:
        assert ids.count(entry.schedule_id) == 1, ids
    feed = await client.get_schedule_handle(ADVISORY_FEED.schedule_id).describe()
    assert feed.schedule.spec.intervals[0].every == settings.advisory_feed_interval
    rescan = await client.get_schedule_handle(RESCAN_PUBLISHED.schedule_id).describe()
    assert rescan.schedule.spec.intervals[0].every == settings.rescan_interval

    # No feed configured any more: its schedule is removed, the others stay.
    await ensure_schedules(client, settings.model_copy(update={"advisory_feed_source": None}))

    async def feed_gone() -> list[str] | None:
        ids = [s.id async for s in await client.list_schedules()]
        return ids if ADVISORY_FEED.schedule_id not in ids else None

    ids = await eventually(feed_gone)
    assert RESCAN_PUBLISHED.schedule_id in ids


async def test_feed_url_is_fetched_through_the_address_checks(
    dev_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path: Path
) -> None:
    import functools
    import http.server
    import threading

    import pytest
    from temporalio.exceptions import ApplicationError

    from activities.monitoring import MonitoringActivities

    (tmp_path / "feed.json").write_text(json.dumps(feed_record("2026-12-04T10:00:00Z")))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.json"
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await Store.open(db_url)
    try:
        refused = MonitoringActivities(
            store, dev_env.client, settings_for(db_url, mail_sink, "url")
        )
        with pytest.raises(ApplicationError, match="advisory feed"):
            await refused.import_advisory_feed(FeedRequest(url))
        assert await store.count_advisories() == 0

        allowed = settings_for(db_url, mail_sink, "url", scanner_allowed_networks=["127.0.0.0/8"])
        result = await MonitoringActivities(store, dev_env.client, allowed).import_advisory_feed(
            FeedRequest(url)
        )
        assert result.changed == [f"DEBIAN-{NEW_CVE}"]
    finally:
        server.shutdown()
        await store.close()
