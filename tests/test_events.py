# ruff: noqa: E501  (event rows are kept one per line, as in a real file)
"""Consumer events: row-by-row validation, one transaction, idempotent re-ingestion,
audited as consumer activity, and the subscribers of a product."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from models.records import SubmissionRecord
from persistence.errors import NotFoundError
from persistence.store import Store
from reports.events import EventFileError, EventKind, parse_event, read_events
from tests.test_store import profile

GOOD = [
    '{"event_id": "d1", "kind": "download", "at": "2025-02-01T10:00:00Z", "customer": "Ann@Example.com", "customer_type": "free", "product": "P", "tier": "Free", "notify_opt_in": true}',
    '{"event_id": "p1", "kind": "purchase", "at": "2025-02-01T11:00:00+01:00", "customer": "bob@example.com", "product": "P", "tier": "Pro", "amount": 19.99, "currency": "EUR"}',
]
BAD = [
    '{"event_id": "x1", "kind": "purchase", "at": "2025-02-01T11:00:00", "customer": "bob@example.com", "product": "P", "tier": "Pro", "amount": "9.99", "currency": "EUR"}',
    '{"event_id": "x2", "kind": "gift", "at": "2025-02-01T11:00:00Z", "customer": "bob@example.com", "product": "P"}',
    '{"event_id": "x3", "kind": "refund", "at": "2025-02-01T11:00:00Z", "customer": "bob@example.com", "product": "P", "tier": "Pro", "amount": "-5", "currency": "EUR"}',
    '{"event_id": "x4", "kind": "tax", "at": "2025-02-01T11:00:00Z", "customer": "bob@example.com", "product": "P", "amount": "5", "currency": "euro"}',
    "not json",
    '{"event_id": "x5", "kind": "download", "at": "2025-02-01T11:00:00Z", "customer": "nobody", "customer_type": "free", "product": "P", "tier": "Free"}',
    '{"event_id": "d1", "kind": "download", "at": "2025-02-01T10:00:00Z", "customer": "c@example.com", "customer_type": "paid", "product": "P", "tier": "Pro"}',
    '{"event_id": "x6", "kind": "cancellation", "at": "2025-02-01T11:00:00Z", "customer": "bob@example.com", "product": "P", "tier": "Pro", "amount": "1", "currency": "EUR"}',
]
REASONS = [
    "has no time zone",
    "kind 'gift' is not one of",
    "must be a positive number",
    "3-letter ISO 4217",
    "not valid JSON",
    "is not an email address",
    "event_id d1 repeats line 1",
    "carries no amount",
]


def write(tmp_path: Path, lines: list[str], product: str, name: str = "events.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(line.replace('"P"', json.dumps(product)) for line in lines) + "\n")
    return path


def test_read_events_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    good, bad = read_events(write(tmp_path, GOOD + BAD, "acme-db"))
    assert [(line, e.event_id) for line, e in good] == [(1, "d1"), (2, "p1")]
    purchase = good[1][1]
    assert purchase.amount == Decimal("19.99") and isinstance(purchase.amount, Decimal)
    assert purchase.at.isoformat() == "2025-02-01T10:00:00+00:00"  # UTC
    assert good[0][1].customer == "Ann@example.com" and good[0][1].notify_opt_in
    assert [b.line for b in bad] == list(range(3, 3 + len(BAD)))
    for row, reason in zip(bad, REASONS, strict=True):
        assert reason in row.reason, (row, reason)


def test_csv_is_read_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,kind,at,customer,customer_type,product,tier,amount,currency,notify_opt_in\n"
        "c1,purchase,2025-02-03T04:05:06Z,a@example.com,paid,acme-db,Pro,0.10,USD,\n"
        "c2,download,2025-02-03T04:05:06Z,a@example.com,free,acme-db,Free,,,yes\n"
        "c3,download,2025-02-03T04:05:06Z,a@example.com,free,acme-db,Free,,,perhaps\n"
    )
    good, bad = read_events(path)
    assert [e.event_id for _, e in good] == ["c1", "c2"]
    assert good[0][1].amount == Decimal("0.10") and good[1][1].notify_opt_in
    assert [(b.line, "notify_opt_in must be true or false" in b.reason) for b in bad] == [(4, True)]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="does not exist"):
        read_events(tmp_path / "missing.jsonl")
    (tmp_path / "e.xml").write_text("<x/>")
    with pytest.raises(EventFileError, match=r"\.jsonl .* or \.csv"):
        read_events(tmp_path / "e.xml")


def test_a_float_amount_is_refused() -> None:
    row = {
        "event_id": "f",
        "kind": "tax",
        "at": "2025-01-01T00:00:00Z",
        "customer": "a@example.com",
        "product": "p",
        "amount": 0.1,
        "currency": "EUR",
    }
    with pytest.raises(ValueError, match="not a float"):
        parse_event(row)


async def make_product(store: Store, publisher: str, product: str) -> None:
    await store.register_publisher(profile(publisher), f"member-{publisher}")
    await store.upsert_submission(
        SubmissionRecord(
            id=f"{product}-1",
            product=product,
            publisher_id=publisher,
            state="published",
            revision=1,
            submitted_by=f"member-{publisher}",
            manifest={},
        )
    )


async def test_ingest_is_one_transaction_idempotent_and_audited(
    store: Store, uniq: str, tmp_path: Path
) -> None:
    product = f"prod-{uniq}"
    await make_product(store, f"pub-{uniq}", product)
    lines = [line.replace('"d1"', f'"d1-{uniq}"').replace('"p1"', f'"p1-{uniq}"') for line in GOOD]
    good, bad = read_events(write(tmp_path, lines, product))
    events = [e for _, e in good]
    assert not bad
    # An unknown product anywhere: nothing at all is written.
    other = parse_event({**events[0].as_json(), "event_id": f"z-{uniq}", "product": "nope"})
    with pytest.raises(NotFoundError, match="unknown product"):
        await store.record_consumer_events([*events, other], ingested_by="root")
    assert await store.query_audit(product=product) == []

    assert await store.record_consumer_events(events, ingested_by="root") == 2
    assert await store.record_consumer_events(events, ingested_by="root") == 0
    audit = await store.query_audit(product=product)
    assert [(a.action, a.actor) for a in audit] == [
        ("consumer_download", "Ann@example.com"),
        ("consumer_purchase", "bob@example.com"),
    ]
    assert audit[1].details["amount"] == "19.99" and audit[1].details["ingested_by"] == "root"
    assert [a.key for a in await store.query_audit(publisher=f"pub-{uniq}")] == [
        a.key for a in audit
    ]

    stored = await store.consumer_events(
        f"pub-{uniq}", datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    )
    assert stored == sorted(events, key=lambda e: e.at)
    assert stored[1].kind is EventKind.PURCHASE and stored[1].amount == Decimal("19.99")


async def test_subscribers_of_follow_the_latest_choice(store: Store, uniq: str) -> None:
    product = f"subs-{uniq}"
    await make_product(store, f"spub-{uniq}", product)

    def download(n: int, who: str, at: str, opt: bool) -> object:
        return parse_event(
            {
                "event_id": f"s{n}-{uniq}",
                "kind": "download",
                "at": at,
                "customer": who,
                "customer_type": "free",
                "product": product,
                "tier": "Free",
                "notify_opt_in": opt,
            }
        )

    events = [
        download(1, "zoe@example.com", "2025-01-01T00:00:00Z", True),
        download(2, "amy@example.com", "2025-01-02T00:00:00Z", True),
        download(3, "amy@example.com", "2025-01-03T00:00:00Z", False),  # opted out later
        download(4, "bea@example.com", "2025-01-01T00:00:00Z", False),
        download(5, "bea@example.com", "2025-01-05T00:00:00Z", True),  # opted in later
        download(6, "cat@example.com", "2025-01-05T00:00:00Z", False),
    ]
    await store.record_consumer_events(events, ingested_by="root")  # type: ignore[arg-type]
    assert await store.subscribers_of(product) == ["bea@example.com", "zoe@example.com"]
    assert await store.subscribers_of(f"none-{uniq}") == []
