"""The audit trail: append-only in the database, purged only by the retention purge and
never before 180 days (the database checks the floor itself), exported with filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from models.records import AuditEvent, SubmissionRecord
from persistence.errors import InvalidInput
from persistence.store import Store
from tests.test_store import profile


def event(key: str, at: datetime, subject: str = "acme-db-1", **kw: object) -> AuditEvent:
    values: dict[str, object] = {
        "key": key,
        "actor": "mia",
        "action": "approve",
        "subject_type": "submission",
        "subject_id": subject,
        "at": at,
    }
    values.update(kw)
    return AuditEvent(**values)  # type: ignore[arg-type]


@pytest.fixture
async def fresh_store(empty_db_url: str) -> AsyncIterator[Store]:
    """A store on a database of its own: a purge must not touch other tests' rows."""
    store = await Store.open(empty_db_url)
    yield store
    await store.close()


NOW = datetime.now(UTC)


async def test_purge_removes_only_rows_older_than_the_retention(fresh_store: Store) -> None:
    store = fresh_store
    ages = {"d400": 400, "d200": 200, "d181": 181, "d179": 179, "d10": 10}
    for key, days in ages.items():
        assert await store.append_audit(event(key, NOW - timedelta(days=days)))

    deleted = await store.purge_audit(timedelta(days=190), actor="storemod", key="purge/1")
    assert deleted == 2
    left = {e.key for e in await store.query_audit()}
    assert left == {"d181", "d179", "d10", "purge/1"}
    [purge] = await store.query_audit(action="audit_purged")
    assert purge.details["deleted"] == 2 and purge.reason == "retention 190 days"
    # The same purge run again (a retried activity) does nothing.
    assert await store.purge_audit(timedelta(days=180), actor="storemod", key="purge/1") == 0
    assert {e.key for e in await store.query_audit()} == left
    assert await store.purge_audit(timedelta(days=180), actor="storemod", key="purge/2") == 1
    assert "d181" not in {e.key for e in await store.query_audit()}
    with pytest.raises(InvalidInput, match="below the floor of 180 days"):
        await store.purge_audit(timedelta(days=179), actor="storemod", key="purge/3")


async def test_database_refuses_deletes_outside_a_purge_and_under_180_days(
    fresh_store: Store,
) -> None:
    store = fresh_store
    await store.append_audit(event("old", NOW - timedelta(days=400)))
    await store.append_audit(event("young", NOW - timedelta(days=100)))
    # A plain DELETE of an old row, without a purge: refused.
    with pytest.raises(DBAPIError, match="append-only"):
        async with store.engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_events WHERE key = 'old'"))
    # Even with a purge gate opened by hand with a cutoff of "now", a row younger than
    # 180 days cannot be deleted: the floor is the database's own.
    insert_purge = text(
        "INSERT INTO audit_purges (actor, retention_days, cutoff, started_at, deleted) "
        "VALUES ('eve', :days, :cutoff, :cutoff, 0)"
    )
    cutoff = NOW if store.dialect == "postgresql" else NOW.replace(tzinfo=None)
    with pytest.raises(DBAPIError, match="older than 180 days"):
        async with store.engine.begin() as conn:
            await conn.execute(insert_purge, {"days": 180, "cutoff": cutoff})
            await conn.execute(text("DELETE FROM audit_events WHERE key = 'young'"))
    # The purge table refuses a retention under the floor.
    with pytest.raises(DBAPIError, match="retention_floor|CHECK constraint"):
        async with store.engine.begin() as conn:
            await conn.execute(insert_purge, {"days": 30, "cutoff": cutoff})
    # UPDATE is refused whatever the age.
    with pytest.raises(DBAPIError, match="append-only"):
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE audit_events SET reason = 'x' WHERE key = 'old'"))
    assert {e.key for e in await store.query_audit()} == {"old", "young"}


async def test_query_audit_filters(fresh_store: Store) -> None:
    store = fresh_store
    await store.register_publisher(profile("acme"), "alice")
    await store.register_publisher(profile("other"), "olga")
    t = datetime(2026, 5, 1, tzinfo=UTC)
    for sid, product, pub in (("acme-db-1", "acme-db", "acme"), ("zed-1", "zed", "other")):
        await store.upsert_submission(
            SubmissionRecord(
                id=sid,
                product=product,
                publisher_id=pub,
                state="validating",
                revision=1,
                submitted_by="alice",
                manifest={},
            )
        )
    rows = [
        event("a1", t, "acme-db-1", action="submitted", actor="alice"),
        event("a2", t + timedelta(days=1), "acme-db-1", action="approve"),
        event(
            "a3",
            t + timedelta(days=2),
            "acme-db",
            subject_type="product",
            action="consumer_download",
            actor="c@x.example",
        ),
        event(
            "a4",
            t + timedelta(days=3),
            "acme",
            subject_type="publisher",
            action="publisher_updated",
            actor="alice",
        ),
        event("z1", t + timedelta(days=1), "zed-1", action="submitted", actor="olga"),
        event("u1", t, "bob", subject_type="user", action="user_added", actor="admin"),
    ]
    for row in rows:
        await store.append_audit(row)

    async def keys(**filters: object) -> list[str]:
        return [e.key for e in await store.query_audit(**filters)]  # type: ignore[arg-type]

    assert await keys(product="acme-db") == ["a1", "a2", "a3"]
    assert await keys(publisher="acme") == ["a1", "a2", "a3", "a4"]
    assert await keys(publisher="other") == ["z1"]
    assert await keys(actor="alice") == ["a1", "a4"]
    assert await keys(action="submitted") == ["a1", "z1"]
    assert await keys(since=t + timedelta(days=1), until=t + timedelta(days=3)) == [
        "a2",
        "z1",
        "a3",
    ]
    assert await keys(publisher="acme", action="approve") == ["a2"]
