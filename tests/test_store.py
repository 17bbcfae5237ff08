"""The store on real databases: every test using ``store`` runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from models.advisory import Advisory, AffectedPackage, AffectedRange
from models.identity import Actor, Role
from models.onboarding import PublisherProfile
from models.records import AuditEvent, ListingRecord, SubmissionRecord, TagScan
from models.scan import Finding, ScanColour, ScanSummary, SeverityClass
from persistence.errors import (
    ConflictError,
    DuplicateError,
    InvalidInput,
    NotFoundError,
    SchemaOutOfDate,
    StoreConfigError,
    StoreUnavailable,
)
from persistence.migrate import current_revision, head_revision, upgrade
from persistence.store import ImportOutcome, Store
from persistence.tables import metadata
from tests.conftest_db import PgDatabases, asyncpg_dsn

VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# --- helpers --------------------------------------------------------------------------


def profile(pub_id: str, **changes: Any) -> PublisherProfile:
    data: dict[str, Any] = {
        "id": pub_id,
        "legal_name": "Acme Containers Ltd",
        "website": "https://acme.example",
        "phone": "+44 20 7946 0000",
        "email": "store@acme.example",
        "logo": "/srv/logos/acme.png",
        "story": "We ship small images.",
    }
    data.update(changes)
    return PublisherProfile(**data)


async def publisher(store: Store, uniq: str) -> tuple[str, str]:
    """Register a publisher and its first member; returns (publisher id, member name)."""
    pub_id, member = f"acme-{uniq}", f"alice-{uniq}"
    await store.register_publisher(profile(pub_id), member)
    return pub_id, member


def submission(
    sub_id: str, product: str, pub_id: str, *, state: str = "scanning", revision: int = 1, **kw: Any
) -> SubmissionRecord:
    return SubmissionRecord(
        id=sub_id,
        product=product,
        publisher_id=pub_id,
        state=state,
        revision=revision,
        submitted_by="alice",
        manifest={"product": product, "name": product.title(), "tags": ["db"]},
        **kw,
    )


def scan_summary(tier: str = "free", tag: str = "1.0", *, colour: ScanColour = ScanColour.RED):
    return ScanSummary(
        tier=tier,
        tag=tag,
        image_ref=f"oci:/images/app:{tag}",
        digest="sha256:" + "ab" * 32,
        os="debian 12",
        component_count=2,
        colour=colour,
        findings=[
            Finding(
                advisory_id="DSA-1-1",
                cve_id="CVE-2024-0001",
                package="openssl",
                installed_version="3.0.1-1",
                ecosystem="Debian:12",
                severity=SeverityClass.CRITICAL,
                layer_index=0,
                layer_digest="sha256:" + "cd" * 32,
                fixed_version="3.0.2-1",
                cvss_score=9.8,
                cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                summary="bad",
                references=["https://security-tracker.debian.org/CVE-2024-0001"],
            )
        ],
        counts={"critical": 1, "major": 0, "minor": 0, "unscored": 0},
    )


def advisory(
    adv_id: str,
    modified: datetime,
    packages: list[tuple[str, str]],
    *,
    summary: str = "",
    **kw: Any,
) -> Advisory:
    return Advisory(
        id=adv_id,
        modified=modified,
        aliases=[f"CVE-{adv_id}"],
        summary=summary,
        details="details",
        published=modified - timedelta(days=3),
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        affected=[
            AffectedPackage(
                ecosystem=eco,
                name=name,
                ranges=[
                    AffectedRange(type="ECOSYSTEM", events=[{"introduced": "0"}, {"fixed": "2"}])
                ],
                versions=["1.0"],
            )
            for eco, name in packages
        ],
        references=["https://osv.dev/" + adv_id],
        raw={"id": adv_id, "modified": modified.isoformat(), "nested": {"x": [1, 2.5, None]}},
        **kw,
    )


def audit(key: str, subject: str, at: datetime, **kw: Any) -> AuditEvent:
    data: dict[str, Any] = {
        "actor": "mod-1",
        "action": "approve",
        "subject_type": "submission",
        "subject_id": subject,
        "reason": "looks fine",
        "details": {"revision": 2, "fields": ["icon"]},
    }
    data.update(kw)
    return AuditEvent(key=key, at=at, **data)


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is UTC, value.tzinfo


async def scalar(store: Store, sql: str, **params: Any) -> Any:
    async with store.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


# --- opening, configuration, migrations -----------------------------------------------


async def test_open_sqlite_creates_folder_with_wal_foreign_keys_and_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    try:
        assert path.exists()
        assert store.dialect == "sqlite"
        assert await scalar(store, "PRAGMA journal_mode") == "wal"
        assert await scalar(store, "PRAGMA foreign_keys") == 1
        assert await scalar(store, "PRAGMA busy_timeout") >= 5000
    finally:
        await store.close()


async def test_open_rejects_unsupported_urls() -> None:
    with pytest.raises(StoreConfigError, match="unsupported database URL scheme 'mysql'"):
        await Store.open("mysql://root@localhost/db")
    with pytest.raises(StoreConfigError, match="needs a file path"):
        await Store.open("sqlite+aiosqlite://")
    with pytest.raises(StoreConfigError, match="invalid database URL"):
        await Store.open("not a url")


async def test_open_unreachable_postgres_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match=r"cannot use the database at .*127\.0\.0\.1:1/x"):
        await Store.open("postgresql+asyncpg://postgres:secret@127.0.0.1:1/x")
    try:
        await Store.open("postgresql+asyncpg://postgres:secret@127.0.0.1:1/x")
    except StoreUnavailable as err:
        assert "secret" not in str(err)  # passwords never reach messages


async def test_open_missing_postgres_database_is_store_unavailable(pg_url: str) -> None:
    missing = make_url(pg_url).set(database="storemod_no_such_db").render_as_string(False)
    with pytest.raises(StoreUnavailable, match="storemod_no_such_db"):
        await Store.open(missing)


async def test_open_sqlite_in_uncreatable_folder_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="cannot create the database folder"):
        await Store.open(f"sqlite+aiosqlite:///{blocker}/sub/store.db")


async def test_open_without_migrate_refuses_an_unmigrated_database(empty_db_url: str) -> None:
    with pytest.raises(
        SchemaOutOfDate, match=f"schema revision none, this code needs {head_revision()}"
    ):
        await Store.open(empty_db_url, migrate=False)
    await upgrade(empty_db_url)
    store = await Store.open(empty_db_url, migrate=False)
    await store.close()


async def test_open_refuses_a_schema_newer_than_the_code(empty_db_url: str) -> None:
    await upgrade(empty_db_url)
    store = await Store.open(empty_db_url)
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await store.close()
    with pytest.raises(SchemaOutOfDate, match=f"'9999'.*knows revisions up to {head_revision()}"):
        await Store.open(empty_db_url)
    with pytest.raises(
        SchemaOutOfDate, match=f"at schema revision 9999, this code needs {head_revision()}"
    ):
        await Store.open(empty_db_url, migrate=False)


def _diffs(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, metadata))


async def test_migrated_schema_equals_the_sqlmodel_metadata(empty_db_url: str) -> None:
    await upgrade(empty_db_url)
    await upgrade(empty_db_url)  # idempotent
    store = await Store.open(empty_db_url)
    try:
        # The newest migration file is the head this code expects.
        newest = max(p.name.split("_")[0] for p in VERSIONS.glob("0*.py"))
        assert await current_revision(store.engine) == head_revision() == newest
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_diffs) == []
            tables = await conn.run_sync(lambda c: set(metadata.tables))
        assert tables == {
            "users",
            "publishers",
            "submissions",
            "scans",
            "advisories",
            "advisory_packages",
            "listings",
            "audit_events",
            "notices",
            "audit_purges",
            "consumer_events",
            "published_packages",
            "published_tags",
            "certification_reviews",
        }
    finally:
        await store.close()


async def test_concurrent_opens_migrate_once(empty_db_url: str) -> None:
    # Without the migration lock these deadlock or fail on "table already exists".
    stores = await asyncio.wait_for(
        asyncio.gather(*(Store.open(empty_db_url) for _ in range(4))), timeout=60
    )
    try:
        assert await current_revision(stores[0].engine) == head_revision()
        assert await scalar(stores[0], "SELECT count(*) FROM alembic_version") == 1
        await stores[1].add_user("mod", Role.MODERATOR)
        assert await stores[2].get_user("mod") == Actor("mod", Role.MODERATOR)
    finally:
        for store in stores:
            await store.close()


_OPEN_IN_PROCESS = """
import asyncio, sys
from persistence.store import Store
async def main():
    store = await Store.open(sys.argv[1])
    await store.close()
asyncio.run(main())
"""


async def test_concurrent_opens_from_separate_processes(empty_db_url: str) -> None:
    root = Path(__file__).resolve().parents[1]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OPEN_IN_PROCESS,
            empty_db_url,
            cwd=root,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in results]
    store = await Store.open(empty_db_url, migrate=False)
    await store.close()


async def test_postgres_store_survives_killed_connections(pg_url: str, uniq: str) -> None:
    store = await Store.open(pg_url)
    try:
        await store.add_user(f"mod-{uniq}", Role.MODERATOR)
        async with store.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        # The pool's pre-ping replaces the dead connections transparently.
        assert await store.get_user(f"mod-{uniq}") == Actor(f"mod-{uniq}", Role.MODERATOR)
    finally:
        await store.close()


async def test_postgres_outage_mid_run_is_store_unavailable(
    pg_databases: PgDatabases, uniq: str
) -> None:
    url = await pg_databases.create()
    store = await Store.open(url)
    name = make_url(url).database
    admin = await asyncpg.connect(asyncpg_dsn(pg_databases.admin_url))
    try:
        await store.add_user(f"mod-{uniq}", Role.MODERATOR)
        # Simulate the server refusing us: no new connections, existing ones killed.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        with pytest.raises(StoreUnavailable, match=f"database at .*{name} unavailable"):
            await store.get_user(f"mod-{uniq}")
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        # Back: the same Store works again, nothing lost.
        assert await store.get_user(f"mod-{uniq}") == Actor(f"mod-{uniq}", Role.MODERATOR)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await store.close()


# --- users and publishers ---------------------------------------------------------------


async def test_users(store: Store, uniq: str) -> None:
    pub_id, member = await publisher(store, uniq)
    mod = await store.add_user(f"mod-{uniq}", Role.MODERATOR)
    assert mod == Actor(f"mod-{uniq}", Role.MODERATOR, None)
    bob = await store.add_user(f"bob-{uniq}", Role.PUBLISHER, pub_id)
    assert (
        await store.get_user(f"bob-{uniq}") == bob == Actor(f"bob-{uniq}", Role.PUBLISHER, pub_id)
    )
    admin = await store.add_user(f"adm-{uniq}", "admin")  # type: ignore[arg-type]
    assert admin.role is Role.ADMIN
    assert await store.get_user(f"nobody-{uniq}") is None

    users = {u.name: u for u in await store.list_users()}
    assert users[member] == Actor(member, Role.PUBLISHER, pub_id)
    assert users[f"mod-{uniq}"] == mod
    names = [u.name for u in await store.list_users()]
    assert names == sorted(names)

    with pytest.raises(DuplicateError, match=f"user 'mod-{uniq}' already exists"):
        await store.add_user(f"mod-{uniq}", Role.ADMIN)
    with pytest.raises(InvalidInput, match="unknown role 'boss'"):
        await store.add_user(f"x-{uniq}", "boss")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no publisher organisation"):
        await store.add_user(f"x-{uniq}", Role.PUBLISHER)
    with pytest.raises(InvalidInput, match="only publishers join a publisher"):
        await store.add_user(f"x-{uniq}", Role.MODERATOR, pub_id)
    with pytest.raises(NotFoundError, match="publisher 'ghost' is not registered"):
        await store.add_user(f"x-{uniq}", Role.PUBLISHER, "ghost")
    with pytest.raises(InvalidInput, match="user name must be a non-empty string"):
        await store.add_user("  ", Role.ADMIN)
    assert await store.get_user(f"x-{uniq}") is None


async def test_register_publisher_creates_then_updates_every_field(store: Store, uniq: str) -> None:
    pub_id = f"acme-{uniq}"
    first = profile(pub_id)
    assert await store.register_publisher(first, f"alice-{uniq}") is True
    assert await store.get_publisher(pub_id) == first
    assert await store.get_user(f"alice-{uniq}") == Actor(f"alice-{uniq}", Role.PUBLISHER, pub_id)

    changed = profile(
        pub_id,
        legal_name="Acme Holdings",
        website="https://acme.example/new",
        phone="+1 555 0100",
        email="hello@acme.example",
        logo="/srv/logos/acme-2.png",
        story="Now bigger.",
    )
    # Every field of the profile is stored: if PublisherProfile grows a field, this fails.
    assert set(PublisherProfile.model_fields) == {
        "id",
        "legal_name",
        "website",
        "phone",
        "email",
        "logo",
        "story",
    }
    assert await store.register_publisher(changed, f"bob-{uniq}") is False
    assert await store.get_publisher(pub_id) == changed
    assert await store.register_publisher(changed, f"bob-{uniq}") is False  # idempotent
    assert await store.publisher_members(pub_id) == sorted([f"alice-{uniq}", f"bob-{uniq}"])
    assert await store.get_publisher(f"ghost-{uniq}") is None
    assert await store.publisher_members(f"ghost-{uniq}") == []


async def test_register_publisher_conflicts_change_nothing(store: Store, uniq: str) -> None:
    pub_id, member = await publisher(store, uniq)
    other_id = f"other-{uniq}"
    await store.add_user(f"mod-{uniq}", Role.MODERATOR)

    with pytest.raises(ConflictError, match=f"user 'mod-{uniq}' is a moderator, not a publisher"):
        await store.register_publisher(profile(pub_id, legal_name="Changed"), f"mod-{uniq}")
    with pytest.raises(
        ConflictError,
        match=f"user '{member}' is a member of publisher '{pub_id}', not '{other_id}'",
    ):
        await store.register_publisher(profile(other_id), member)

    assert (await store.get_publisher(pub_id)) == profile(pub_id)  # not updated
    assert await store.get_publisher(other_id) is None  # not created
    assert await store.get_user(f"mod-{uniq}") == Actor(f"mod-{uniq}", Role.MODERATOR)


# --- submissions ------------------------------------------------------------------------


async def test_submissions(store: Store, uniq: str) -> None:
    pub_id, _ = await publisher(store, uniq)
    product = f"redis-{uniq}"
    assert await store.next_submission_id(product) == f"{product}-1"

    first = submission(f"{product}-1", product, pub_id, state="in_review")
    await store.upsert_submission(first)
    await store.upsert_submission(first)  # idempotent
    got = await store.get_submission(first.id)
    assert got is not None
    assert (got.id, got.product, got.publisher_id, got.state, got.revision) == (
        first.id,
        product,
        pub_id,
        "in_review",
        1,
    )
    assert got.manifest == first.manifest
    assert_utc(got.created_at)
    assert_utc(got.updated_at)
    assert await store.next_submission_id(product) == f"{product}-2"

    later = T0 + timedelta(days=1)
    moved = submission(
        first.id,
        product,
        pub_id,
        state="changes_requested",
        revision=2,
        created_at=T0,  # ignored on update: the first insert fixed it
        updated_at=later.astimezone(timezone(timedelta(hours=5))),
    )
    # model_dump() (python mode) leaves Decimal and datetime: stored as strings.
    moved.manifest = {"product": product, "price": Decimal("9.99"), "at": T0}
    await store.upsert_submission(moved)
    got2 = await store.get_submission(first.id)
    assert got2 is not None
    assert (got2.state, got2.revision) == ("changes_requested", 2)
    assert got2.manifest == {"product": product, "price": "9.99", "at": T0.isoformat()}
    assert got2.created_at == got.created_at
    assert got2.updated_at == later
    assert_utc(got2.updated_at)
    assert (
        await scalar(store, "SELECT count(*) FROM submissions WHERE product = :p", p=product) == 1
    )

    assert await store.get_submission(f"{product}-404") is None
    with pytest.raises(ConflictError, match="is for product"):
        await store.upsert_submission(submission(first.id, f"other-{uniq}", pub_id))
    with pytest.raises(NotFoundError, match="publisher 'ghost' is not registered"):
        await store.upsert_submission(submission(f"x-{uniq}-1", f"x-{uniq}", "ghost"))
    with pytest.raises(InvalidInput, match="created_at must be timezone-aware"):
        await store.upsert_submission(
            submission(f"y-{uniq}-1", f"y-{uniq}", pub_id, created_at=datetime(2025, 1, 1))
        )


async def test_list_submissions_is_an_oldest_first_queue(store: Store, uniq: str) -> None:
    pub_id, _ = await publisher(store, uniq)
    other_pub, _ = await publisher(store, uniq + "b")
    recs = [
        submission(
            f"c-{uniq}-1", f"c-{uniq}", pub_id, state="in_review", created_at=T0 + timedelta(3)
        ),
        submission(
            f"a-{uniq}-1", f"a-{uniq}", pub_id, state="in_review", created_at=T0 + timedelta(1)
        ),
        submission(
            f"b-{uniq}-1", f"b-{uniq}", pub_id, state="scanning", created_at=T0 + timedelta(2)
        ),
        submission(f"d-{uniq}-1", f"d-{uniq}", other_pub, state="in_review", created_at=T0),
    ]
    for rec in recs:
        await store.upsert_submission(rec)

    ids = [s.id for s in await store.list_submissions(publisher_id=pub_id)]
    assert ids == [f"a-{uniq}-1", f"b-{uniq}-1", f"c-{uniq}-1"]
    queue = [s.id for s in await store.list_submissions(state="in_review", publisher_id=pub_id)]
    assert queue == [f"a-{uniq}-1", f"c-{uniq}-1"]
    everyone = [s.id for s in await store.list_submissions(state="in_review")]
    mine = [i for i in everyone if uniq in i]
    assert mine == [f"d-{uniq}-1", f"a-{uniq}-1", f"c-{uniq}-1"]
    assert [s.id for s in await store.list_submissions(product=f"b-{uniq}")] == [f"b-{uniq}-1"]
    assert await store.list_submissions(state="scanning", product=f"a-{uniq}") == []


async def test_open_submission_for(store: Store, uniq: str) -> None:
    pub_id, _ = await publisher(store, uniq)
    product = f"nginx-{uniq}"
    assert await store.open_submission_for(product) is None
    for n, state in enumerate(["published", "rejected", "withdrawn", "abandoned"], start=1):
        await store.upsert_submission(
            submission(f"{product}-{n}", product, pub_id, state=state, created_at=T0 + timedelta(n))
        )
    assert await store.open_submission_for(product) is None
    assert await store.next_submission_id(product) == f"{product}-5"
    await store.upsert_submission(
        submission(f"{product}-5", product, pub_id, state="in_review", created_at=T0 + timedelta(9))
    )
    found = await store.open_submission_for(product)
    assert found is not None and found.id == f"{product}-5"


# --- scans ------------------------------------------------------------------------------


async def test_scans_round_trip_and_latest_revision(store: Store, uniq: str) -> None:
    pub_id, _ = await publisher(store, uniq)
    sub_id = f"app-{uniq}-1"
    await store.upsert_submission(submission(sub_id, f"app-{uniq}", pub_id))
    assert await store.get_scans(sub_id) == []

    r1 = scan_summary("free", "1.0")
    await store.save_scan(sub_id, 1, r1, {"layers": [{"index": 0}], "tool": "storemod"})
    r2a = scan_summary("free", "1.1", colour=ScanColour.GREEN)
    r2a.findings, r2a.counts = [], {}
    r2b = scan_summary("pro", "1.1", colour=ScanColour.YELLOW)
    r2b.error = "layer 3 unreadable"
    await store.save_scan(sub_id, 2, r2a, {"rev": 2, "tier": "free"})
    await store.save_scan(sub_id, 2, r2b, {"rev": 2, "tier": "pro"})

    assert await store.get_scans(sub_id, 1) == [r1]
    latest = await store.get_scans(sub_id)
    assert latest == [r2a, r2b]
    assert latest[1].colour is ScanColour.YELLOW
    assert (await store.get_scans(sub_id, 1))[0].findings[0].severity is SeverityClass.CRITICAL
    assert await store.get_scan_report(sub_id, 1, "free", "1.0") == {
        "layers": [{"index": 0}],
        "tool": "storemod",
    }
    assert await store.get_scan_report(sub_id, 2, "pro", "1.1") == {"rev": 2, "tier": "pro"}
    assert await store.get_scan_report(sub_id, 3, "pro", "1.1") is None
    assert await store.get_scans(sub_id, 7) == []


async def test_save_scan_is_idempotent(store: Store, uniq: str) -> None:
    pub_id, _ = await publisher(store, uniq)
    sub_id = f"app-{uniq}-1"
    await store.upsert_submission(submission(sub_id, f"app-{uniq}", pub_id))
    summary = scan_summary()
    for _ in range(3):  # a retried activity
        await store.save_scan(sub_id, 1, summary, {"attempt": "same"})
    rescanned = scan_summary(colour=ScanColour.ORANGE)
    await store.save_scan(sub_id, 1, rescanned, {"attempt": "last"})
    count = await scalar(store, "SELECT count(*) FROM scans WHERE submission_id = :s", s=sub_id)
    assert count == 1
    assert await store.get_scans(sub_id, 1) == [rescanned]
    assert await store.get_scan_report(sub_id, 1, "free", "1.0") == {"attempt": "last"}
    with pytest.raises(NotFoundError, match=f"submission 'nope-{uniq}' does not exist"):
        await store.save_scan(f"nope-{uniq}", 1, summary, {})


# --- advisories -------------------------------------------------------------------------


async def test_import_advisories_round_trip_faithfully(store: Store, uniq: str) -> None:
    before = await store.count_advisories()
    adv = advisory(
        f"DSA-{uniq}",
        datetime(2024, 5, 1, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        [("Debian:12", "openssl"), ("Debian:11", "openssl")],
        summary="openssl: bad",
        withdrawn=datetime(2024, 6, 1, tzinfo=UTC),
    )
    bare = advisory(f"GHSA-{uniq}", T0, [("PyPI", "requests")])
    outcome = await store.import_advisories([adv, bare])
    assert outcome == ImportOutcome(inserted=2, updated=0, unchanged=0)
    assert await store.count_advisories() == before + 2

    got = await store.advisories_by_ids([adv.id, bare.id, "missing"])
    assert set(got) == {adv.id, bare.id}
    assert got[adv.id] == adv
    assert got[bare.id] == bare
    for field in ("modified", "published", "withdrawn"):
        assert_utc(getattr(got[adv.id], field))
    assert got[adv.id].modified == datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)
    assert got[adv.id].affected[0].ranges[0] == AffectedRange(
        "ECOSYSTEM", [{"introduced": "0"}, {"fixed": "2"}]
    )
    assert got[adv.id].raw["nested"] == {"x": [1, 2.5, None]}
    assert await store.import_advisories([]) == ImportOutcome()


async def test_import_advisories_modified_wins(store: Store, uniq: str) -> None:
    name = f"libfoo-{uniq}"
    v1 = advisory(f"OSV-{uniq}", T0, [("Debian:12", name)], summary="v1")
    assert await store.import_advisories([v1]) == ImportOutcome(1, 0, 0)

    older = advisory(f"OSV-{uniq}", T0 - timedelta(seconds=1), [("Debian:12", name)], summary="old")
    same = advisory(f"OSV-{uniq}", T0, [("Debian:12", name)], summary="same time, new text")
    assert await store.import_advisories([older, same]) == ImportOutcome(0, 0, 2)
    assert (await store.advisories_by_ids([v1.id]))[v1.id].summary == "v1"

    # Newer: replaces the record and rebuilds its index (libfoo gone, libbar in).
    v2 = advisory(f"OSV-{uniq}", T0 + timedelta(hours=1), [("Alpine:v3.19", f"libbar-{uniq}")])
    v2.summary = "v2"
    assert await store.import_advisories([v2]) == ImportOutcome(0, 1, 0)
    assert (await store.advisories_by_ids([v1.id]))[v1.id] == v2
    assert await store.advisories_for("Debian:12", [name]) == []
    assert [a.id for a in await store.advisories_for("Alpine:v3.19", [f"libbar-{uniq}"])] == [v1.id]
    rows = await scalar(
        store, "SELECT count(*) FROM advisory_packages WHERE advisory_id = :i", i=v1.id
    )
    assert rows == 1

    # Within one batch, in order: a new record then two newer versions of it.
    new_id = f"NEW-{uniq}"
    batch = [
        advisory(new_id, T0, [("npm", f"a-{uniq}")], summary="1"),
        advisory(new_id, T0 + timedelta(1), [("npm", f"b-{uniq}")], summary="2"),
        advisory(new_id, T0 - timedelta(1), [("npm", f"c-{uniq}")], summary="stale"),
    ]
    assert await store.import_advisories(batch) == ImportOutcome(1, 1, 1)
    assert (await store.advisories_by_ids([new_id]))[new_id].summary == "2"
    assert [a.id for a in await store.advisories_for("npm", [f"b-{uniq}"])] == [new_id]
    assert await store.advisories_for("npm", [f"a-{uniq}", f"c-{uniq}"]) == []


_BOOM_TRIGGER = {
    "sqlite": [
        """CREATE TRIGGER boom_{u} BEFORE INSERT ON advisory_packages
           WHEN NEW.name = 'boom-{u}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END""",
    ],
    "postgresql": [
        """CREATE FUNCTION boom_{u}() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.name = 'boom-{u}' THEN RAISE EXCEPTION 'injected failure'; END IF;
           RETURN NEW; END $$""",
        """CREATE TRIGGER boom_{u} BEFORE INSERT ON advisory_packages
           FOR EACH ROW EXECUTE FUNCTION boom_{u}()""",
    ],
}
_BOOM_DROP = {
    "sqlite": ["DROP TRIGGER boom_{u}"],
    "postgresql": ["DROP TRIGGER boom_{u} ON advisory_packages", "DROP FUNCTION boom_{u}()"],
}


async def test_import_advisories_is_one_transaction(store: Store, uniq: str) -> None:
    kept = advisory(f"KEEP-{uniq}", T0, [("PyPI", f"p-{uniq}")], summary="kept")
    await store.import_advisories([kept])
    count = await store.count_advisories()
    newer = advisory(f"KEEP-{uniq}", T0 + timedelta(1), [("PyPI", f"q-{uniq}")], summary="newer")
    fresh = advisory(f"FRESH-{uniq}", T0, [("PyPI", f"r-{uniq}")])
    # The index rows are written last: failing there must undo the rows written before.
    failing = advisory(f"FAIL-{uniq}", T0, [("PyPI", f"boom-{uniq}")])
    async with store.engine.begin() as conn:
        for sql in _BOOM_TRIGGER[store.dialect]:
            await conn.execute(text(sql.format(u=uniq)))
    try:
        with pytest.raises(DBAPIError, match="injected failure"):
            await store.import_advisories([fresh, newer, failing])
    finally:
        async with store.engine.begin() as conn:
            for sql in _BOOM_DROP[store.dialect]:
                await conn.execute(text(sql.format(u=uniq)))
    assert await store.count_advisories() == count
    assert (await store.advisories_by_ids([kept.id]))[kept.id] == kept
    assert [a.id for a in await store.advisories_for("PyPI", [f"p-{uniq}"])] == [kept.id]
    assert await store.advisories_by_ids([fresh.id, failing.id]) == {}


async def test_import_advisories_refuses_bad_records_before_writing(
    store: Store, uniq: str
) -> None:
    count = await store.count_advisories()
    good = advisory(f"GOOD-{uniq}", T0, [("PyPI", f"g-{uniq}")])
    odd = advisory(f"ODD-{uniq}", T0, [])
    odd.raw = {"unserialisable": object()}
    with pytest.raises(InvalidInput, match=f"advisory ODD-{uniq} cannot be stored as JSON"):
        await store.import_advisories([good, odd])
    naive = advisory(f"NAIVE-{uniq}", datetime(2025, 1, 1), [])
    with pytest.raises(
        InvalidInput, match=f"advisory NAIVE-{uniq} modified must be timezone-aware"
    ):
        await store.import_advisories([good, naive])
    assert await store.count_advisories() == count


async def test_advisories_for_uses_the_index_and_bare_ecosystems(store: Store, uniq: str) -> None:
    pkg = f"zlib-{uniq}"
    await store.import_advisories(
        [
            advisory(f"A-{uniq}", T0, [("Debian", pkg)]),  # bare: every Debian release
            advisory(f"B-{uniq}", T0, [("Debian:12", pkg)]),
            advisory(f"C-{uniq}", T0, [("Debian:11", pkg)]),
            advisory(f"D-{uniq}", T0, [("Alpine:v3.19", pkg), ("Debian:12", f"other-{uniq}")]),
        ]
    )
    ids = [a.id for a in await store.advisories_for("Debian:12", [pkg])]
    assert ids == [f"A-{uniq}", f"B-{uniq}"]
    ids = [a.id for a in await store.advisories_for("Debian", [pkg])]
    assert ids == [f"A-{uniq}"]  # a bare query does not widen to releases
    both = await store.advisories_for("Debian:12", [pkg, f"other-{uniq}", f"none-{uniq}"])
    assert [a.id for a in both] == [f"A-{uniq}", f"B-{uniq}", f"D-{uniq}"]
    assert await store.advisories_for("Debian:12", []) == []

    # More names than one IN (...) chunk holds: the match sits in a later chunk.
    many = [f"pkg{i:04d}-{uniq}" for i in range(1200)] + [pkg]
    assert [a.id for a in await store.advisories_for("Debian:12", many)] == [
        f"A-{uniq}",
        f"B-{uniq}",
    ]


async def test_advisories_for_searches_the_index_not_the_table(sqlite_url: str, uniq: str) -> None:
    store = await Store.open(sqlite_url)
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "advisory_packages" in statement:
            statements.append((statement, params))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await store.import_advisories([advisory(f"IDX-{uniq}", T0, [("Go", f"m-{uniq}")])])
        statements.clear()
        assert len(await store.advisories_for("Go", [f"m-{uniq}"])) == 1
        assert len(statements) == 1
        sql, params = statements[0]
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        async with store.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            cursor = await raw.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " | ".join(str(row[3]) for row in await cursor.fetchall())
        assert "SEARCH advisory_packages USING" in plan, plan
        assert "SEARCH advisories USING" in plan, plan
        assert "SCAN advisories" not in plan and "SCAN advisory_packages" not in plan, plan
    finally:
        if event.contains(store.engine.sync_engine, "before_cursor_execute", capture):
            event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        await store.close()


# --- listings ---------------------------------------------------------------------------


async def test_publish_listing_upserts_by_product(store: Store, uniq: str) -> None:
    pub_id, _ = await publisher(store, uniq)
    product = f"pg-{uniq}"
    sub1, sub2 = f"{product}-1", f"{product}-2"
    await store.upsert_submission(submission(sub1, product, pub_id, created_at=T0))
    tags = [TagScan("free", "16", "sha256:" + "1" * 64, "green", {"minor": 0})]

    def listing(sub_id: str, revision: int, colour: str = "green") -> ListingRecord:
        return ListingRecord(
            product=product,
            publisher_id=pub_id,
            submission_id=sub_id,
            revision=revision,
            manifest={"name": f"PG {sub_id} r{revision}"},
            tags=[TagScan("free", "16", "sha256:" + "1" * 64, colour, {"minor": revision})],
        )

    assert await store.publish_listing(listing(sub1, 2)) is True
    got = await store.get_listing(product)
    assert got is not None
    assert (got.submission_id, got.revision, got.state) == (sub1, 2, "published")
    assert got.tags == [TagScan("free", "16", "sha256:" + "1" * 64, "green", {"minor": 2})]
    assert tags[0].tag == got.tags[0].tag
    assert_utc(got.published_at)
    assert_utc(got.updated_at)

    assert await store.publish_listing(listing(sub1, 2)) is False  # retry: same row
    assert await store.publish_listing(listing(sub1, 3, "yellow")) is False
    assert (await store.get_listing(product)).revision == 3  # type: ignore[union-attr]
    assert await store.publish_listing(listing(sub1, 1, "red")) is False  # older: ignored
    got = await store.get_listing(product)
    assert got is not None and got.revision == 3 and got.tags[0].colour == "yellow"

    # A later submission of the product supersedes, even at revision 1...
    await store.upsert_submission(submission(sub2, product, pub_id, created_at=T0 + timedelta(9)))
    assert await store.publish_listing(listing(sub2, 1)) is False
    got = await store.get_listing(product)
    assert got is not None and (got.submission_id, got.revision) == (sub2, 1)
    # ...and a late retry from the earlier submission never rolls it back.
    assert await store.publish_listing(listing(sub1, 9)) is False
    got = await store.get_listing(product)
    assert got is not None and (got.submission_id, got.revision) == (sub2, 1)
    count = await scalar(store, "SELECT count(*) FROM listings WHERE product = :p", p=product)
    assert count == 1

    held = await store.set_listing_state(product, "held")
    stored = await store.get_listing(product)
    assert held.state == "held" and stored is not None and stored.state == "held"
    assert [x.product for x in await store.list_listings(publisher_id=pub_id)] == [product]
    assert product in [x.product for x in await store.list_listings()]
    assert await store.get_listing(f"none-{uniq}") is None
    with pytest.raises(NotFoundError, match="no listing"):
        await store.set_listing_state(f"none-{uniq}", "held")
    with pytest.raises(NotFoundError, match="does not exist"):
        await store.publish_listing(listing(f"{product}-77", 1))


# --- audit ------------------------------------------------------------------------------


async def test_append_audit_is_idempotent_and_ordered(store: Store, uniq: str) -> None:
    subject = f"sub-{uniq}"
    later = audit(f"k2-{uniq}", subject, T0 + timedelta(hours=2), action="reject", actor="mod-2")
    earlier = audit(f"k1-{uniq}", subject, T0 + timedelta(hours=1))
    refused = audit(
        f"k3-{uniq}",
        subject,
        (T0 + timedelta(hours=3)).astimezone(timezone(timedelta(hours=-7))),
        outcome="refused",
        actor=f"eve-{uniq}",
    )
    assert await store.append_audit(later) is True
    assert await store.append_audit(earlier) is True
    assert await store.append_audit(refused) is True
    assert await store.append_audit(later) is False  # same key: a no-op
    changed = audit(f"k2-{uniq}", subject, T0, reason="rewritten")
    assert await store.append_audit(changed) is False  # never overwrites either

    events = await store.list_audit(subject_id=subject)
    assert [e.key for e in events] == [f"k1-{uniq}", f"k2-{uniq}", f"k3-{uniq}"]
    assert events[1] == later
    assert events[2].outcome == "refused"
    for e in events:
        assert_utc(e.at)
    assert events[2].at == T0 + timedelta(hours=3)

    assert [e.key for e in await store.list_audit(subject_id=subject, action="reject")] == [
        f"k2-{uniq}"
    ]
    assert [e.key for e in await store.list_audit(actor=f"eve-{uniq}")] == [f"k3-{uniq}"]
    window = await store.list_audit(
        subject_id=subject, since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=3)
    )
    assert [e.key for e in window] == [f"k2-{uniq}"]
    with pytest.raises(InvalidInput, match="audit outcome must be 'applied' or 'refused'"):
        await store.append_audit(audit(f"k4-{uniq}", subject, T0, outcome="maybe"))
    with pytest.raises(InvalidInput, match="audit event time must be timezone-aware"):
        await store.append_audit(audit(f"k5-{uniq}", subject, datetime(2025, 1, 1)))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'tampered' WHERE key = :key",
        "DELETE FROM audit_events WHERE key = :key",
    ],
)
async def test_database_refuses_audit_update_and_delete(
    store: Store, uniq: str, statement: str
) -> None:
    ev = audit(f"t-{uniq}", f"sub-{uniq}", T0)
    assert await store.append_audit(ev)
    with pytest.raises(DBAPIError, match="audit events are append-only"):
        async with store.engine.begin() as conn:
            await conn.execute(text(statement), {"key": ev.key})
    assert await store.list_audit(subject_id=f"sub-{uniq}") == [ev]


async def test_postgres_refuses_audit_truncate(pg_url: str) -> None:
    store = await Store.open(pg_url)
    try:
        with pytest.raises(DBAPIError, match="audit events are append-only"):
            async with store.engine.begin() as conn:
                await conn.execute(text("TRUNCATE audit_events"))
    finally:
        await store.close()


# --- notices outbox ---------------------------------------------------------------------


async def test_notice_outbox(store: Store, uniq: str) -> None:
    key = f"hold:{uniq}:bob@example.com"
    first = await store.claim_notice(key, "bob@example.com", "Listing on hold", "hold.txt")
    assert (first.key, first.recipient, first.subject, first.template) == (
        key,
        "bob@example.com",
        "Listing on hold",
        "hold.txt",
    )
    assert (first.attempts, first.sent_at, first.last_error) == (1, None, None)
    assert_utc(first.created_at)

    await store.record_notice_error(key, "SMTP 451 try later")
    again = await store.claim_notice(key, "bob@example.com", "Listing on hold", "hold.txt")
    assert (again.attempts, again.last_error) == (2, "SMTP 451 try later")
    assert again.created_at == first.created_at
    failed = [n.key for n in await store.list_notices(failed_only=True)]
    assert key in failed

    await store.mark_notice_sent(key)
    sent = await store.get_notice(key)
    assert sent is not None and sent.sent_at is not None and sent.last_error is None
    assert_utc(sent.sent_at)
    await store.mark_notice_sent(key)  # idempotent: the first time counts
    assert (await store.get_notice(key)).sent_at == sent.sent_at  # type: ignore[union-attr]
    # A retried activity claims again, sees it sent, and does not count an attempt.
    after = await store.claim_notice(key, "bob@example.com", "Listing on hold", "hold.txt")
    assert (after.attempts, after.sent_at) == (2, sent.sent_at)
    assert key not in [n.key for n in await store.list_notices(failed_only=True)]

    other = f"hold:{uniq}:carol@example.com"
    await store.claim_notice(other, "carol@example.com", "Listing on hold", "hold.txt")
    mine = [n.key for n in await store.list_notices() if uniq in n.key]
    assert mine == [key, other]
    assert await store.get_notice(f"none-{uniq}") is None
    with pytest.raises(ConflictError, match="is addressed to 'bob@example.com'"):
        await store.claim_notice(key, "mallory@example.com", "x", "hold.txt")
    with pytest.raises(NotFoundError, match="no notice"):
        await store.mark_notice_sent(f"none-{uniq}")
    with pytest.raises(NotFoundError, match="no notice"):
        await store.record_notice_error(f"none-{uniq}", "x")


async def test_claim_notice_concurrently_counts_every_attempt(store: Store, uniq: str) -> None:
    key = f"race:{uniq}"
    claims = await asyncio.gather(
        *(store.claim_notice(key, "a@example.com", "s", "t.txt") for _ in range(5))
    )
    assert sorted(c.attempts for c in claims) == [1, 2, 3, 4, 5]
    assert (await store.get_notice(key)).attempts == 5  # type: ignore[union-attr]


def test_sqlite_file_is_shared_with_plain_sqlite(sqlite_url: str) -> None:
    # The embedded database is an ordinary SQLite file in WAL mode.
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"audit_events", "advisories", "alembic_version"} <= tables
