"""Monthly reports: a hand-made month whose totals are worked out by hand here, UTC
month boundaries, the email with its CSV, one send per publisher and month, and the
schedule that starts it (created idempotently, then triggered)."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from models.records import SubmissionRecord
from models.reports import MonthlyReportsInput, MonthlyReportsResult
from notifications.mail_sink import MailSink, read_mail
from persistence.store import Store
from reports.events import ConsumerEvent, parse_event
from reports.monthly import MonthError, compute_report, parse_month
from schedules import MONTHLY_REPORTS, SCHEDULES, ensure_schedules
from tests.support import running_worker
from tests.test_store import profile
from workflows.reports import MonthlyReportsWorkflow, month_before

FEE = Decimal("15")


def ev(event_id: str, kind: str, at: str, product: str = "acme-db", **kw: Any) -> ConsumerEvent:
    row: dict[str, Any] = {
        "event_id": event_id,
        "kind": kind,
        "at": at,
        "customer": kw.pop("customer", "c@example.com"),
        "product": product,
    }
    if kind != "tax":
        row["tier"] = kw.pop("tier", "Pro")
    row.update(kw)
    return parse_event(row)


def february() -> list[ConsumerEvent]:
    return [
        # downloads around both ends of February, with offsets
        ev("d1", "download", "2025-01-31T23:59:59Z", customer_type="free"),  # January
        ev("d2", "download", "2025-02-01T00:00:00Z", customer_type="free"),
        ev("d3", "download", "2025-02-01T00:30:00+02:00", customer_type="paid"),  # Jan 31 UTC
        ev("d4", "download", "2025-03-01T00:30:00+02:00", customer_type="paid"),  # Feb 28 UTC
        ev("d5", "download", "2025-02-28T23:59:59Z", customer_type="free"),
        ev("d6", "download", "2025-03-01T00:00:00Z", customer_type="free"),  # March
        ev("d7", "download", "2025-02-14T09:15:00-05:00", customer_type="free"),  # 14:15 UTC
        ev("d8", "download", "2025-02-14T14:45:00Z", customer_type="paid"),
        # money
        ev("p1", "purchase", "2025-02-03T10:00:00Z", amount="19.99", currency="EUR"),
        ev("p2", "purchase", "2025-02-10T10:00:00Z", amount="5.005", currency="EUR"),
        ev("p3", "purchase", "2025-02-11T10:00:00Z", amount="100", currency="USD"),
        ev("p4", "purchase", "2025-01-31T23:00:00Z", amount="50", currency="EUR"),  # January
        ev("r1", "refund", "2025-02-12T10:00:00Z", amount="5.005", currency="EUR"),
        ev("t1", "tax", "2025-02-03T10:00:00Z", amount="3.99", currency="EUR"),
        ev("t2", "tax", "2025-02-11T10:00:00Z", amount="20", currency="USD"),
        ev("c1", "cancellation", "2025-02-20T10:00:00Z"),
        # subscriptions
        ev("sa1", "subscription_start", "2025-01-15T00:00:00Z", subscription="A"),
        ev("sa2", "subscription_end", "2025-02-15T12:00:00Z", subscription="A"),
        ev("sb1", "subscription_start", "2025-02-10T00:00:00Z", subscription="B"),
        ev("sc1", "subscription_start", "2025-02-27T00:00:00Z", subscription="C"),
        ev("sc2", "subscription_end", "2025-03-02T00:00:00Z", subscription="C"),
        ev("sd1", "subscription_start", "2024-12-01T00:00:00Z", subscription="D"),
        ev("sd2", "subscription_end", "2025-01-10T00:00:00Z", subscription="D"),
    ]


# Worked out by hand from february():
EXPECTED_HOURS = [
    {"date": "2025-02-01", "hour": "00", "free": 1, "paid": 0},
    {"date": "2025-02-14", "hour": "14", "free": 1, "paid": 1},
    {"date": "2025-02-28", "hour": "22", "free": 0, "paid": 1},
    {"date": "2025-02-28", "hour": "23", "free": 1, "paid": 0},
]
# EUR: gross 19.99 + 5.005 = 24.995 -> 25.00; refunds 5.005 -> 5.01; taxes 3.99;
# net 25.00 - 5.01 - 3.99 = 16.00; fee 15% = 2.40; amount 13.60.
# USD: gross 100.00, taxes 20.00, net 80.00, fee 12.00, amount 68.00.
EXPECTED_MONEY = {
    "EUR": ("25.00", "5.01", "3.99", "16.00", "2.40", "13.60"),
    "USD": ("100.00", "0.00", "20.00", "80.00", "12.00", "68.00"),
}
# A: Jan 15 00:00 -> Feb 15 12:00 = 31.5 days; B: Feb 10 -> (still active) Mar 1 = 19 days;
# C: Feb 27 -> still active at the end of February = 2 days; D ended in January.
EXPECTED_SUBSCRIPTIONS = [("2025-01-15", "31.5", True), ("2025-02-10", "19.0", False)]
EXPECTED_SUBSCRIPTIONS += [("2025-02-27", "2.0", False)]


def test_month_bounds_are_utc() -> None:
    assert parse_month("2024-12") == (
        datetime(2024, 12, 1, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert month_before(datetime(2025, 1, 1, 0, 30, tzinfo=UTC)) == "2024-12"
    assert month_before(datetime(2025, 3, 1, tzinfo=UTC)) == "2025-02"
    for bad in ("2025-13", "2025-2", "Feb 2025", ""):
        with pytest.raises(MonthError, match="is not YYYY-MM"):
            parse_month(bad)


def test_hand_made_february() -> None:
    report = compute_report("acme", "2025-02", february(), FEE)
    ctx = report.context()
    assert ctx["downloads"] == {"free": 3, "paid": 2, "total": 5}
    assert ctx["downloads_by_hour"] == EXPECTED_HOURS
    assert ctx["counts"] == {"purchases": 3, "cancellations": 1, "refunds": 1, "taxes": 2}
    money = {
        m["currency"]: (m["gross"], m["refunds"], m["taxes"], m["net_sales"], m["fee"], m["amount"])
        for m in ctx["money"]
    }
    assert money == EXPECTED_MONEY
    eur = ctx["money"][0]
    assert eur["arithmetic"] == "25.00 - 5.01 - 3.99 - 2.40 (15% of 16.00) = 13.60 EUR"
    subs = [(s["started"][:10], s["days"], bool(s["ended"])) for s in ctx["subscriptions"]]
    assert subs == EXPECTED_SUBSCRIPTIONS
    rows = list(csv.reader(io.StringIO(report.csv())))
    assert rows[0] == ["section", "item", "detail", "value"]
    assert ["money", "EUR", "amount", "13.60"] in rows
    assert ["downloads_by_hour", "2025-02-28 22:00Z", "paid", "1"] in rows
    assert [
        "subscription",
        "c@example.com acme-db/Pro",
        "2025-02-10 00:00 UTC to active",
        "19.0",
    ] in rows


def test_no_fee_on_a_month_of_refunds() -> None:
    events = [ev("r", "refund", "2025-02-12T10:00:00Z", amount="30", currency="EUR")]
    [eur] = compute_report("acme", "2025-02", events, FEE).money
    assert (eur.net_sales, eur.fee, eur.amount) == (
        Decimal("-30.00"),
        Decimal("0.00"),
        Decimal("-30.00"),
    )


@pytest.fixture
async def report_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'reports.db'}")
    for publisher, product in (("acme", "acme-db"), ("zed", "zed-db")):
        await store.register_publisher(
            profile(publisher, email=f"billing@{publisher}.example"), f"m-{publisher}"
        )
        await store.upsert_submission(
            SubmissionRecord(
                id=f"{product}-1",
                product=product,
                publisher_id=publisher,
                state="published",
                revision=1,
                submitted_by=f"m-{publisher}",
                manifest={},
            )
        )
    others = [
        ev(
            "z1",
            "purchase",
            "2025-02-05T00:00:00Z",
            product="zed-db",
            amount="1000",
            currency="EUR",
        )
    ]
    await store.record_consumer_events([*february(), *others], ingested_by="root")
    yield store
    await store.close()


def reports_in(folder: Path, month: str) -> dict[str, Any]:
    return {
        str(m["To"]): m
        for m in read_mail(folder)
        if f"Store report for {month}" in str(m["Subject"])
    }


async def run_month(client: Client, queue: str, month: str) -> MonthlyReportsResult:
    return await client.execute_workflow(
        MonthlyReportsWorkflow.run,
        MonthlyReportsInput(month=month),
        id=f"monthly-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )


async def test_the_same_month_twice_sends_each_report_once(
    dev_env: WorkflowEnvironment, report_store: Store, mail_sink: MailSink
) -> None:
    from tests.support import settings_for

    queue = f"reports-{uuid.uuid4().hex[:8]}"
    settings = settings_for(report_store_url(report_store), mail_sink, queue, store_fee_percent=FEE)
    async with running_worker(dev_env.client, report_store, settings):
        first = await run_month(dev_env.client, queue, "2025-02")
        assert first.started == ["report-acme-2025-02", "report-zed-2025-02"] and not first.skipped
        second = await run_month(dev_env.client, queue, "2025-02")
        assert second.skipped == first.started and not second.started
    mail = reports_in(mail_sink.folder, "2025-02")
    assert len(read_mail(mail_sink.folder)) == 2 and set(mail) == {
        "billing@acme.example",
        "billing@zed.example",
    }
    acme = mail["billing@acme.example"]
    html = acme.get_body(("html",))
    assert html is not None and "<strong>13.60</strong>" in html.get_content()
    [attachment] = list(acme.iter_attachments())
    assert attachment.get_filename() == "storemod-report-acme-2025-02.csv"
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    assert ["money", "EUR", "amount", "13.60"] in rows and [
        "money",
        "USD",
        "amount",
        "68.00",
    ] in rows
    # The other publisher's sale is in its own report only.
    zed_rows = list(
        csv.reader(io.StringIO(next(mail["billing@zed.example"].iter_attachments()).get_content()))
    )
    assert ["money", "EUR", "gross", "1000.00"] in zed_rows
    assert ["money", "USD", "gross", "100.00"] not in zed_rows


def report_store_url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


async def test_schedules_are_created_idempotently_and_the_monthly_one_reports_last_month(
    dev_env: WorkflowEnvironment, report_store: Store, mail_sink: MailSink
) -> None:
    from tests.support import settings_for

    client = dev_env.client
    queue = f"sched-{uuid.uuid4().hex[:8]}"
    settings = settings_for(report_store_url(report_store), mail_sink, queue)
    suffix = uuid.uuid4().hex[:8]
    mine = [dataclasses.replace(s, schedule_id=f"{s.schedule_id}-{suffix}") for s in SCHEDULES]
    # Schedules switched off in these settings (no advisory feed) are not created.
    enabled = [s.schedule_id for s in mine if s.enabled(settings)]
    assert await ensure_schedules(client, settings, mine) == enabled
    assert await ensure_schedules(client, settings, mine) == enabled  # again: updated
    monthly = client.get_schedule_handle(f"{MONTHLY_REPORTS.schedule_id}-{suffix}")
    try:
        desc = await monthly.describe()
        [calendar] = desc.schedule.spec.calendars
        assert [r.start for r in calendar.day_of_month] == [
            1
        ] and desc.schedule.spec.time_zone_name == "UTC"
        assert desc.info.next_action_times[0].day == 1
        async with running_worker(client, report_store, settings):
            await monthly.trigger()
            for _ in range(100):
                desc = await monthly.describe()
                if desc.info.recent_actions:
                    break
                await asyncio.sleep(0.1)
            started = desc.info.recent_actions[0].action
            assert isinstance(started, ScheduleActionExecutionStartWorkflow)
            result: MonthlyReportsResult = await client.get_workflow_handle(
                started.workflow_id, result_type=MonthlyReportsResult
            ).result()
        expected = month_before(datetime.now(UTC))
        assert result.month == expected
        assert result.started == [f"report-acme-{expected}", f"report-zed-{expected}"]
        assert set(reports_in(mail_sink.folder, expected)) == {
            "billing@acme.example",
            "billing@zed.example",
        }
    finally:
        for schedule_id in enabled:
            await client.get_schedule_handle(schedule_id).delete()
