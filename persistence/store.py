"""The store: users, publishers, submissions, scans, advisories, listings, audit, notices.

One ``Store`` per process holds one AsyncEngine. The same code runs on SQLite
(aiosqlite; the embedded mode, a file shared by the worker and the CLI) and on
PostgreSQL (asyncpg; production). Inputs and outputs are the plain types of
``models/``; the SQLModel tables of ``persistence.tables`` never leak out.

Every method is one transaction. Writes that read first take the write lock up
front on SQLite (``BEGIN IMMEDIATE``); on PostgreSQL they rely on unique keys
and ``INSERT ... ON CONFLICT`` so concurrent workers cannot duplicate rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError
from sqlalchemy import func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, delete, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models.advisory import Advisory
from models.identity import Actor, Role
from models.onboarding import PublisherProfile
from models.records import AuditEvent, ListingRecord, NoticeRecord, SubmissionRecord, TagScan
from models.scan import ScanSummary
from persistence.engine import (
    create_engine,
    describe,
    is_unavailable,
    parse_url,
    safe_url,
    write_engine,
)
from persistence.errors import (
    ConflictError,
    DuplicateError,
    InvalidInput,
    NotFoundError,
    SchemaOutOfDate,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)
from persistence.migrate import current_revision, head_revision, upgrade_engine
from persistence.tables import (
    AdvisoryPackageRow,
    AdvisoryRow,
    AuditPurgeRow,
    AuditRow,
    ConsumerEventRow,
    ListingRow,
    NoticeRow,
    PublisherRow,
    ScanRow,
    SubmissionRow,
    UserRow,
)
from reports.events import ConsumerEvent, EventKind
from settings import AUDIT_RETENTION_FLOOR

# A submission in one of these states is finished; any other state is open.
CLOSED_SUBMISSION_STATES = frozenset({"published", "rejected", "withdrawn", "abandoned"})
AUDIT_OUTCOMES = frozenset({"applied", "refused"})

# Bound parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_CHUNK = 500
# Serialises advisory imports on PostgreSQL, so "modified wins" holds across workers.
_IMPORT_LOCK_KEY = 0x53544F5245414456  # "STOREADV"

_scan_adapter: TypeAdapter[ScanSummary] = TypeAdapter(ScanSummary)
_advisory_adapter: TypeAdapter[Advisory] = TypeAdapter(Advisory)

_T = TypeVar("_T")


@dataclass(frozen=True)
class ImportOutcome:
    """What one advisory import did: new records, newer versions stored, the rest skipped."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _aware_opt(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else _aware(value, what)


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    return value


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


# --- conversions between rows and the plain types of models/ ---------------------------


def _actor(row: UserRow) -> Actor:
    return Actor(name=row.name, role=Role(row.role), publisher_id=row.publisher_id)


def _submission(row: SubmissionRow) -> SubmissionRecord:
    return SubmissionRecord(
        id=row.id,
        product=row.product,
        publisher_id=row.publisher_id,
        state=row.state,
        revision=row.revision,
        submitted_by=row.submitted_by,
        manifest=row.manifest,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _listing(row: ListingRow) -> ListingRecord:
    return ListingRecord(
        product=row.product,
        publisher_id=row.publisher_id,
        submission_id=row.submission_id,
        revision=row.revision,
        manifest=row.manifest,
        tags=[TagScan(**tag) for tag in row.tags],
        state=row.state,
        published_at=row.published_at,
        updated_at=row.updated_at,
    )


def _audit(row: AuditRow) -> AuditEvent:
    return AuditEvent(
        key=row.key,
        actor=row.actor,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        at=row.at,
        reason=row.reason,
        details=row.details,
        outcome=row.outcome,
    )


def _notice(row: NoticeRow) -> NoticeRecord:
    return NoticeRecord(
        key=row.key,
        recipient=row.recipient,
        subject=row.subject,
        template=row.template,
        created_at=row.created_at,
        sent_at=row.sent_at,
        attempts=row.attempts,
        last_error=row.last_error,
        failed_at=row.failed_at,
    )


def _consumer_event(row: ConsumerEventRow) -> ConsumerEvent:
    return ConsumerEvent(
        event_id=row.event_id,
        kind=EventKind(row.kind),
        at=row.at,
        customer=row.customer,
        product=row.product,
        tier=row.tier,
        customer_type=row.customer_type,
        amount=None if row.amount is None else Decimal(row.amount),
        currency=row.currency,
        notify_opt_in=row.notify_opt_in,
        subscription=row.subscription,
    )


def _scan_summary(data: Mapping[str, Any]) -> ScanSummary:
    return _scan_adapter.validate_python(data)


def advisory_to_json(advisory: Advisory) -> dict[str, Any]:
    """The JSON form an advisory is stored in."""
    return _advisory_adapter.dump_python(advisory, mode="json")


def advisory_from_json(data: Mapping[str, Any]) -> Advisory:
    """Rebuild an Advisory from its stored JSON, datetimes tz-aware UTC."""
    advisory = _advisory_adapter.validate_python(data)
    # pydantic tags parsed offsets with its own tzinfo class; hand back datetime.UTC.
    advisory.modified = advisory.modified.astimezone(UTC)
    advisory.published = _utc(advisory.published)
    advisory.withdrawn = _utc(advisory.withdrawn)
    return advisory


def _index_rows(advisory: Advisory) -> list[dict[str, str]]:
    pairs = {(pkg.ecosystem, pkg.name) for pkg in advisory.affected if pkg.ecosystem and pkg.name}
    return [
        {"ecosystem": eco, "name": name, "advisory_id": advisory.id} for eco, name in sorted(pairs)
    ]


def _submission_order(row: SubmissionRow) -> tuple[datetime, int, str]:
    """Sort key of a product's submissions: later created_at, then higher n in "{product}-{n}"."""
    _, _, suffix = row.id.rpartition("-")
    return (row.created_at, int(suffix) if suffix.isdigit() else 0, row.id)


class Store:
    """Async access to the store's database; create with ``await Store.open(url)``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = write_engine(engine)
        self._dialect = engine.dialect.name
        self._url = safe_url(engine.url)

    # --- lifecycle --------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url`` (SQLite or PostgreSQL) and, by default, migrate it to head.

        Raises ``StoreConfigError`` for an unusable URL, ``StoreUnavailable`` when the
        database cannot be reached, ``SchemaOutOfDate`` when ``migrate`` is False and
        the schema is not at the version this code expects.
        """
        shown = safe_url(parse_url(url))
        try:
            engine = create_engine(url)
        except OSError as err:
            raise StoreUnavailable(
                f"cannot create the database folder for {shown}: {err}"
            ) from None
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            if migrate:
                await upgrade_engine(engine)
            else:
                current, head = await current_revision(engine), head_revision()
                if current != head:
                    raise SchemaOutOfDate(
                        f"the database at {shown} is at schema revision {current or 'none'}, "
                        f"this code needs {head}: run the migrations"
                    )
        except StoreError:
            await engine.dispose()
            raise
        except (DBAPIError, OSError, TimeoutError) as err:
            await engine.dispose()
            raise StoreUnavailable(f"cannot use the database at {shown}: {describe(err)}") from None
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine (tests and diagnostics)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @asynccontextmanager
    async def _session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction; committed when the block exits normally."""
        try:
            async with (
                AsyncSession(self._writer if write else self._engine, expire_on_commit=False) as s,
                s.begin(),
            ):
                yield s
        except DBAPIError as err:
            if is_unavailable(err):
                raise StoreUnavailable(
                    f"database at {self._url} unavailable: {describe(err)}"
                ) from err
            raise
        except (OSError, TimeoutError) as err:
            raise StoreUnavailable(f"database at {self._url} unavailable: {describe(err)}") from err

    def _insert(self, model: type[SQLModel]) -> Any:
        """A dialect INSERT, which has ``on_conflict_do_nothing/_update`` on both databases."""
        if self._dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    # --- users ------------------------------------------------------------------------

    async def add_user(self, name: str, role: Role, publisher_id: str | None = None) -> Actor:
        """Create a user; a publisher-role user must name its (registered) publisher."""
        name = _name(name, "user name")
        try:
            role = Role(role)
        except ValueError:
            choices = ", ".join(r.value for r in Role)
            raise InvalidInput(f"unknown role {role!r}: use one of {choices}") from None
        if role is Role.PUBLISHER and not publisher_id:
            raise InvalidInput(f"user {name!r} has role publisher but no publisher organisation")
        if role is not Role.PUBLISHER and publisher_id:
            raise InvalidInput(f"user {name!r} is a {role.value}: only publishers join a publisher")
        try:
            async with self._session(write=True) as s:
                if await s.get(UserRow, name) is not None:
                    raise DuplicateError(f"user {name!r} already exists")
                if publisher_id is not None and await s.get(PublisherRow, publisher_id) is None:
                    raise NotFoundError(
                        f"publisher {publisher_id!r} is not registered: register its profile first"
                    )
                s.add(
                    UserRow(
                        name=name, role=role.value, publisher_id=publisher_id, created_at=_now()
                    )
                )
        except IntegrityError:
            # Lost a race with another process adding the same name.
            raise DuplicateError(f"user {name!r} already exists") from None
        return Actor(name=name, role=role, publisher_id=publisher_id)

    async def get_user(self, name: str) -> Actor | None:
        """The user called ``name``, if any."""
        async with self._session() as s:
            row = await s.get(UserRow, name)
            return None if row is None else _actor(row)

    async def list_users(self) -> list[Actor]:
        """Every user, by name."""
        async with self._session() as s:
            rows = (await s.exec(select(UserRow).order_by(col(UserRow.name)))).all()
            return [_actor(row) for row in rows]

    # --- publishers -------------------------------------------------------------------

    async def register_publisher(self, profile: PublisherProfile, member: str) -> bool:
        """Create or update a publisher profile and make ``member`` one of its publishers.

        Returns True when the publisher was created, False when its profile was
        updated. Raises ``ConflictError`` (changing nothing) when ``member`` exists
        with another role or in another publisher.
        """
        member = _name(member, "member name")
        _name(profile.id, "publisher id")
        fields = profile.model_dump()
        now = _now()
        async with self._session(write=True) as s:
            user = await s.get(UserRow, member)
            if user is not None:
                if user.role != Role.PUBLISHER.value:
                    raise ConflictError(
                        f"user {member!r} is a {user.role}, not a publisher: "
                        f"cannot make them a member of {profile.id!r}"
                    )
                if user.publisher_id != profile.id:
                    raise ConflictError(
                        f"user {member!r} is a member of publisher {user.publisher_id!r}, "
                        f"not {profile.id!r}"
                    )
            inserted = await s.exec(
                self._insert(PublisherRow)
                .values(**fields, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(col(PublisherRow.id))
            )
            created = inserted.first() is not None
            if not created:
                await s.exec(
                    update(PublisherRow)
                    .where(col(PublisherRow.id) == profile.id)
                    .values(**{k: v for k, v in fields.items() if k != "id"}, updated_at=now),
                    execution_options={"synchronize_session": False},
                )
            if user is None:
                await s.exec(
                    self._insert(UserRow)
                    .values(
                        name=member,
                        role=Role.PUBLISHER.value,
                        publisher_id=profile.id,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["name"])
                )
        return created

    async def get_publisher(self, publisher_id: str) -> PublisherProfile | None:
        """The stored profile of a publisher, if registered."""
        async with self._session() as s:
            row = await s.get(PublisherRow, publisher_id)
            if row is None:
                return None
            return PublisherProfile.model_validate(
                {name: getattr(row, name) for name in PublisherProfile.model_fields}
            )

    async def publisher_members(self, publisher_id: str) -> list[str]:
        """Names of the publisher's members, sorted."""
        async with self._session() as s:
            rows = await s.exec(
                select(UserRow.name)
                .where(col(UserRow.publisher_id) == publisher_id)
                .order_by(col(UserRow.name))
            )
            return list(rows.all())

    # --- submissions ------------------------------------------------------------------

    async def next_submission_id(self, product: str) -> str:
        """``"{product}-{n}"`` with n = 1 + the product's submissions (skipping ids in use)."""
        product = _name(product, "product")
        async with self._session() as s:
            count = (
                await s.exec(
                    select(func.count())
                    .select_from(SubmissionRow)
                    .where(col(SubmissionRow.product) == product)
                )
            ).one()
            n = count + 1
            while await s.get(SubmissionRow, f"{product}-{n}") is not None:
                n += 1
            return f"{product}-{n}"

    async def upsert_submission(self, rec: SubmissionRecord) -> None:
        """Insert a submission, or update its state, revision, manifest and updated_at."""
        _name(rec.id, "submission id")
        now = _now()
        created_at = _aware_opt(rec.created_at, "created_at") or now
        updated_at = _aware_opt(rec.updated_at, "updated_at") or now
        async with self._session(write=True) as s:
            existing = await s.get(SubmissionRow, rec.id)
            if existing is not None:
                if (existing.product, existing.publisher_id) != (rec.product, rec.publisher_id):
                    raise ConflictError(
                        f"submission {rec.id!r} is for product {existing.product!r} of "
                        f"publisher {existing.publisher_id!r}, not {rec.product!r} of "
                        f"{rec.publisher_id!r}"
                    )
            elif await s.get(PublisherRow, rec.publisher_id) is None:
                raise NotFoundError(f"publisher {rec.publisher_id!r} is not registered")
            await s.exec(
                self._insert(SubmissionRow)
                .values(
                    id=rec.id,
                    product=rec.product,
                    publisher_id=rec.publisher_id,
                    state=rec.state,
                    revision=rec.revision,
                    submitted_by=rec.submitted_by,
                    manifest=rec.manifest,
                    created_at=created_at,
                    updated_at=updated_at,
                )
                .on_conflict_do_update(
                    index_elements=["id"],
                    set_={
                        "state": rec.state,
                        "revision": rec.revision,
                        "manifest": rec.manifest,
                        "updated_at": updated_at,
                    },
                )
            )

    async def get_submission(self, submission_id: str) -> SubmissionRecord | None:
        """One submission by id."""
        async with self._session() as s:
            row = await s.get(SubmissionRow, submission_id)
            return None if row is None else _submission(row)

    async def list_submissions(
        self,
        state: str | None = None,
        publisher_id: str | None = None,
        product: str | None = None,
    ) -> list[SubmissionRecord]:
        """Submissions matching every filter given, oldest first (the review queue)."""
        query = select(SubmissionRow)
        if state is not None:
            query = query.where(col(SubmissionRow.state) == state)
        if publisher_id is not None:
            query = query.where(col(SubmissionRow.publisher_id) == publisher_id)
        if product is not None:
            query = query.where(col(SubmissionRow.product) == product)
        query = query.order_by(col(SubmissionRow.created_at), col(SubmissionRow.id))
        async with self._session() as s:
            return [_submission(row) for row in (await s.exec(query)).all()]

    async def open_submission_for(self, product: str) -> SubmissionRecord | None:
        """The product's submission still in progress (the newest, should there be two)."""
        query = (
            select(SubmissionRow)
            .where(col(SubmissionRow.product) == product)
            .where(col(SubmissionRow.state).not_in(CLOSED_SUBMISSION_STATES))
            .order_by(col(SubmissionRow.created_at).desc(), col(SubmissionRow.id).desc())
            .limit(1)
        )
        async with self._session() as s:
            row = (await s.exec(query)).first()
            return None if row is None else _submission(row)

    # --- scans ------------------------------------------------------------------------

    async def save_scan(
        self, submission_id: str, revision: int, summary: ScanSummary, report: dict[str, Any]
    ) -> None:
        """Store one tag's scan; saving the same (submission, revision, tier, tag) again
        replaces it rather than adding a row, so a retried activity is harmless."""
        data = _scan_adapter.dump_python(summary, mode="json")
        now = _now()
        async with self._session(write=True) as s:
            if await s.get(SubmissionRow, submission_id) is None:
                raise NotFoundError(f"submission {submission_id!r} does not exist")
            await s.exec(
                self._insert(ScanRow)
                .values(
                    submission_id=submission_id,
                    revision=revision,
                    tier=summary.tier,
                    tag=summary.tag,
                    summary=data,
                    report=report,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_update(
                    index_elements=["submission_id", "revision", "tier", "tag"],
                    set_={"summary": data, "report": report, "updated_at": now},
                )
            )

    async def get_scans(self, submission_id: str, revision: int | None = None) -> list[ScanSummary]:
        """The scans of one revision (the latest scanned one when None), in the order saved."""
        async with self._session() as s:
            if revision is None:
                revision = (
                    await s.exec(
                        select(func.max(ScanRow.revision)).where(
                            col(ScanRow.submission_id) == submission_id
                        )
                    )
                ).one()
                if revision is None:
                    return []
            rows = await s.exec(
                select(ScanRow.summary)
                .where(col(ScanRow.submission_id) == submission_id)
                .where(col(ScanRow.revision) == revision)
                .order_by(col(ScanRow.id))
            )
            return [_scan_summary(data) for data in rows.all()]

    async def get_scan_report(
        self, submission_id: str, revision: int, tier: str, tag: str
    ) -> dict[str, Any] | None:
        """The full report saved with one tag's scan."""
        async with self._session() as s:
            row = (
                await s.exec(
                    select(ScanRow.report).where(
                        col(ScanRow.submission_id) == submission_id,
                        col(ScanRow.revision) == revision,
                        col(ScanRow.tier) == tier,
                        col(ScanRow.tag) == tag,
                    )
                )
            ).first()
            return None if row is None else dict(row)

    # --- advisories -------------------------------------------------------------------

    async def import_advisories(self, advisories: Iterable[Advisory]) -> ImportOutcome:
        """Store OSV advisories in one transaction; a record replaces the stored one only
        when its ``modified`` is strictly newer. The package index is rebuilt for each
        replaced advisory."""
        batch = list(advisories)
        # Check and encode everything before writing: a bad record changes nothing.
        encoded: dict[int, dict[str, Any]] = {}
        for adv in batch:
            _name(adv.id, "advisory id")
            _aware(adv.modified, f"advisory {adv.id} modified")
            _aware_opt(adv.published, f"advisory {adv.id} published")
            _aware_opt(adv.withdrawn, f"advisory {adv.id} withdrawn")
            try:
                encoded[id(adv)] = advisory_to_json(adv)
            except PydanticSerializationError as err:
                raise InvalidInput(f"advisory {adv.id} cannot be stored as JSON: {err}") from None
        if not batch:
            return ImportOutcome()
        now = _now()
        async with self._session(write=True) as s:
            if self._dialect == "postgresql":
                conn = await s.connection()
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK_KEY}
                )
            known: dict[str, datetime] = {}
            ids = sorted({adv.id for adv in batch})
            for chunk in _chunks(ids):
                rows = await s.exec(
                    select(AdvisoryRow.id, AdvisoryRow.modified).where(
                        col(AdvisoryRow.id).in_(chunk)
                    )
                )
                known.update({row[0]: row[1] for row in rows.all()})
            new: dict[str, Advisory] = {}
            changed: dict[str, Advisory] = {}
            inserted = updated = unchanged = 0
            for adv in batch:
                stored = known.get(adv.id)
                modified = adv.modified.astimezone(UTC)
                if stored is None:
                    new[adv.id] = adv
                    inserted += 1
                elif modified > stored:
                    (new if adv.id in new else changed)[adv.id] = adv
                    updated += 1
                else:
                    unchanged += 1
                    continue
                known[adv.id] = modified

            def row(adv: Advisory) -> dict[str, Any]:
                return {
                    "id": adv.id,
                    "modified": adv.modified,
                    "withdrawn": adv.withdrawn,
                    "record": encoded[id(adv)],
                    "imported_at": now,
                    "updated_at": now,
                }

            if changed:
                changed_ids = sorted(changed)
                for chunk in _chunks(changed_ids):
                    await s.exec(
                        delete(AdvisoryPackageRow).where(
                            col(AdvisoryPackageRow.advisory_id).in_(chunk)
                        )
                    )
                for chunk in _chunks(changed_ids):
                    # Bulk UPDATE by primary key; imported_at keeps its first value.
                    await s.exec(
                        update(AdvisoryRow),
                        params=[
                            {k: v for k, v in row(changed[i]).items() if k != "imported_at"}
                            for i in chunk
                        ],
                    )
            if new:
                for chunk in _chunks(sorted(new)):
                    await s.exec(insert(AdvisoryRow), params=[row(new[i]) for i in chunk])
            written = (*new.values(), *changed.values())
            index = [entry for adv in written for entry in _index_rows(adv)]
            for entries in _chunks(index):
                await s.exec(insert(AdvisoryPackageRow), params=list(entries))
        return ImportOutcome(inserted=inserted, updated=updated, unchanged=unchanged)

    async def advisories_for(self, ecosystem: str, names: Collection[str]) -> list[Advisory]:
        """Advisories affecting any of ``names`` in ``ecosystem``, found through the
        package index. An index row under the bare ecosystem ("Debian") also matches
        a release-qualified query ("Debian:12"). Withdrawn advisories are included:
        the caller decides what they mean."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        ecosystems = {ecosystem, ecosystem.split(":", 1)[0]}
        found: dict[str, Advisory] = {}
        async with self._session() as s:
            for chunk in _chunks(wanted):
                matching = select(AdvisoryPackageRow.advisory_id).where(
                    col(AdvisoryPackageRow.ecosystem).in_(sorted(ecosystems)),
                    col(AdvisoryPackageRow.name).in_(chunk),
                )
                rows = await s.exec(
                    select(AdvisoryRow.id, AdvisoryRow.record).where(
                        col(AdvisoryRow.id).in_(matching)
                    )
                )
                for adv_id, record in rows.all():
                    if adv_id not in found:
                        found[adv_id] = advisory_from_json(record)
        return [found[i] for i in sorted(found)]

    async def advisories_by_ids(self, ids: Iterable[str]) -> dict[str, Advisory]:
        """The stored advisories among ``ids``, by id (unknown ids are left out)."""
        wanted = sorted(set(ids))
        result: dict[str, Advisory] = {}
        async with self._session() as s:
            for chunk in _chunks(wanted):
                rows = await s.exec(
                    select(AdvisoryRow.id, AdvisoryRow.record).where(col(AdvisoryRow.id).in_(chunk))
                )
                for adv_id, record in rows.all():
                    result[adv_id] = advisory_from_json(record)
        return result

    async def count_advisories(self) -> int:
        """How many advisories are stored."""
        async with self._session() as s:
            return (await s.exec(select(func.count()).select_from(AdvisoryRow))).one()

    # --- listings ---------------------------------------------------------------------

    async def publish_listing(self, rec: ListingRecord) -> bool:
        """Create or update the product's one listing; True when created.

        The stored listing is replaced only by the same or a newer revision: a later
        submission of the product, or a revision at least as high of the same one.
        An older record is ignored (False), so a late retry never rolls back.
        """
        _name(rec.product, "product")
        now = _now()
        published_at = _aware_opt(rec.published_at, "published_at") or now
        updated_at = _aware_opt(rec.updated_at, "updated_at") or now
        tags = [dataclasses.asdict(tag) for tag in rec.tags]
        async with self._session(write=True) as s:
            sub = await s.get(SubmissionRow, rec.submission_id)
            if sub is None:
                raise NotFoundError(f"submission {rec.submission_id!r} does not exist")
            if sub.product != rec.product or sub.publisher_id != rec.publisher_id:
                raise ConflictError(
                    f"submission {rec.submission_id!r} is for product {sub.product!r} of "
                    f"publisher {sub.publisher_id!r}, not {rec.product!r} of {rec.publisher_id!r}"
                )
            values = {
                "publisher_id": rec.publisher_id,
                "submission_id": rec.submission_id,
                "revision": rec.revision,
                "manifest": rec.manifest,
                "tags": tags,
                "state": rec.state,
                "updated_at": updated_at,
            }
            inserted = await s.exec(
                self._insert(ListingRow)
                .values(product=rec.product, published_at=published_at, **values)
                .on_conflict_do_nothing(index_elements=["product"])
                .returning(col(ListingRow.product))
            )
            if inserted.first() is not None:
                return True
            query = select(ListingRow).where(col(ListingRow.product) == rec.product)
            if self._dialect == "postgresql":
                query = query.with_for_update()
            existing = (await s.exec(query)).one()
            if existing.publisher_id != rec.publisher_id:
                raise ConflictError(
                    f"listing {rec.product!r} belongs to publisher {existing.publisher_id!r}"
                )
            if existing.submission_id == rec.submission_id:
                newer = rec.revision >= existing.revision
            else:
                current = await s.get(SubmissionRow, existing.submission_id)
                newer = current is None or _submission_order(sub) > _submission_order(current)
            if newer:
                await s.exec(
                    update(ListingRow)
                    .where(col(ListingRow.product) == rec.product)
                    .values(**values),
                    execution_options={"synchronize_session": False},
                )
            return False

    async def set_listing_state(self, product: str, state: str) -> ListingRecord:
        """Change only the state of a listing (hold, restore, revoke)."""
        async with self._session(write=True) as s:
            result = await s.exec(
                update(ListingRow)
                .where(col(ListingRow.product) == product)
                .values(state=state, updated_at=_now()),
                execution_options={"synchronize_session": False},
            )
            if result.rowcount == 0:
                raise NotFoundError(f"no listing for product {product!r}")
            row = await s.get(ListingRow, product, populate_existing=True)
            assert row is not None
            return _listing(row)

    async def get_listing(self, product: str) -> ListingRecord | None:
        """The product's listing, if published."""
        async with self._session() as s:
            row = await s.get(ListingRow, product)
            return None if row is None else _listing(row)

    async def list_listings(self, publisher_id: str | None = None) -> list[ListingRecord]:
        """All listings (or one publisher's), by product."""
        query = select(ListingRow).order_by(col(ListingRow.product))
        if publisher_id is not None:
            query = query.where(col(ListingRow.publisher_id) == publisher_id)
        async with self._session() as s:
            return [_listing(row) for row in (await s.exec(query)).all()]

    # --- audit ------------------------------------------------------------------------

    async def append_audit(self, ev: AuditEvent) -> bool:
        """Append an audit event; False (and nothing written) when its key is already there."""
        _name(ev.key, "audit key")
        at = _aware(ev.at, "audit event time")
        if ev.outcome not in AUDIT_OUTCOMES:
            raise InvalidInput(f"audit outcome must be 'applied' or 'refused', not {ev.outcome!r}")
        async with self._session(write=True) as s:
            result = await s.exec(
                self._insert(AuditRow)
                .values(
                    key=ev.key,
                    actor=ev.actor,
                    action=ev.action,
                    subject_type=ev.subject_type,
                    subject_id=ev.subject_id,
                    at=at,
                    reason=ev.reason,
                    details=ev.details,
                    outcome=ev.outcome,
                    recorded_at=_now(),
                )
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(col(AuditRow.id))
            )
            return result.first() is not None

    async def list_audit(
        self,
        subject_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Audit events matching every filter, in time order (``since <= at < until``)."""
        return await self.query_audit(
            subject_id=subject_id, actor=actor, action=action, since=since, until=until
        )

    # --- notices outbox ---------------------------------------------------------------

    async def claim_notice(
        self, key: str, recipient: str, subject: str, template: str
    ) -> NoticeRecord:
        """Record an attempt to send the notice ``key`` and return its row.

        The first claim inserts it; every claim of an unsent notice counts one more
        attempt. The caller sends only when ``sent_at`` is None, then calls
        ``mark_notice_sent``: so a retried activity sends the email once.
        """
        _name(key, "notice key")
        _name(recipient, "recipient")
        async with self._session(write=True) as s:
            await s.exec(
                self._insert(NoticeRow)
                .values(
                    key=key,
                    recipient=recipient,
                    subject=subject,
                    template=template,
                    created_at=_now(),
                    attempts=1,
                )
                .on_conflict_do_update(
                    index_elements=["key"],
                    set_={"attempts": col(NoticeRow.attempts) + 1},
                    where=col(NoticeRow.sent_at).is_(None),
                )
            )
            row = await s.get(NoticeRow, key, populate_existing=True)
            assert row is not None
            if row.recipient != recipient:
                raise ConflictError(
                    f"notice {key!r} is addressed to {row.recipient!r}, not {recipient!r}"
                )
            return _notice(row)

    async def mark_notice_sent(self, key: str) -> None:
        """Record that the notice went out (the first time counts)."""
        async with self._session(write=True) as s:
            row = await s.get(NoticeRow, key)
            if row is None:
                raise NotFoundError(f"no notice {key!r}")
            if row.sent_at is None:
                row.sent_at = _now()
                row.last_error = None

    async def record_notice_error(self, key: str, error: str) -> None:
        """Remember why the last attempt to send the notice failed."""
        async with self._session(write=True) as s:
            row = await s.get(NoticeRow, key)
            if row is None:
                raise NotFoundError(f"no notice {key!r}")
            row.last_error = error

    async def get_notice(self, key: str) -> NoticeRecord | None:
        """One notice by key."""
        async with self._session() as s:
            row = await s.get(NoticeRow, key)
            return None if row is None else _notice(row)

    async def list_notices(self, failed_only: bool = False) -> list[NoticeRecord]:
        """Notices in creation order; ``failed_only``: unsent ones whose last attempt failed."""
        query = select(NoticeRow)
        if failed_only:
            query = query.where(
                col(NoticeRow.sent_at).is_(None), col(NoticeRow.last_error).is_not(None)
            )
        query = query.order_by(col(NoticeRow.created_at), col(NoticeRow.key))
        async with self._session() as s:
            return [_notice(row) for row in (await s.exec(query)).all()]

    # --- outbox: stored messages, failures, resends (issue 5) -------------------------

    async def claim_notice_message(
        self, key: str, recipient: str, subject: str, template: str, message: str
    ) -> tuple[NoticeRecord, str]:
        """``claim_notice`` that also keeps the rendered message: the first claim stores
        ``message``, later claims return the stored one, so every attempt (and a resend)
        sends the same bytes, with the same Message-ID and Date."""
        record = await self.claim_notice(key, recipient, subject, template)
        async with self._session(write=True) as s:
            await s.exec(
                update(NoticeRow)
                .where(col(NoticeRow.key) == key, col(NoticeRow.message).is_(None))
                .values(message=message),
                execution_options={"synchronize_session": False},
            )
            stored = (await s.exec(select(NoticeRow.message).where(NoticeRow.key == key))).one()
        return record, stored or message

    async def mark_notice_failed(self, key: str, error: str) -> NoticeRecord:
        """Give up on an unsent notice (retry window over, relay refused): it waits for a
        resend. A notice already sent stays sent."""
        async with self._session(write=True) as s:
            row = await s.get(NoticeRow, key)
            if row is None:
                raise NotFoundError(f"no notice {key!r}")
            if row.sent_at is None:
                row.last_error = error
                if row.failed_at is None:
                    row.failed_at = _now()
            return _notice(row)

    async def list_failed_notices(self) -> list[NoticeRecord]:
        """Notices given up on and not resent yet, oldest first."""
        query = (
            select(NoticeRow)
            .where(col(NoticeRow.failed_at).is_not(None), col(NoticeRow.sent_at).is_(None))
            .order_by(col(NoticeRow.created_at), col(NoticeRow.key))
        )
        async with self._session() as s:
            return [_notice(row) for row in (await s.exec(query)).all()]

    async def begin_resend(self, key: str) -> tuple[NoticeRecord, str]:
        """Take a failed notice back for one resend: (its record, its stored message).

        Only one caller wins: the row leaves the failed state in this transaction,
        so a second concurrent resend gets ``ConflictError``. The caller sends, then
        ``mark_notice_sent`` (or ``mark_notice_failed`` again if the relay is still down).
        """
        async with self._session(write=True) as s:
            row = await s.get(NoticeRow, key)
            if row is None:
                raise NotFoundError(f"no notice {key!r}")
            if row.sent_at is not None:
                raise ConflictError(
                    f"notice {key!r} was already sent at {row.sent_at:%Y-%m-%d %H:%M:%S} UTC"
                )
            if row.failed_at is None:
                raise ConflictError(
                    f"notice {key!r} has not failed: it is still being retried "
                    f"({row.attempts} attempt(s) so far)"
                )
            if row.message is None:
                raise ConflictError(
                    f"notice {key!r} could not even be built ({row.last_error}); "
                    "it cannot be resent as it is"
                )
            row.failed_at = None
            row.attempts += 1
            return _notice(row), row.message

    # --- audit: filtered export and the retention purge (issue 5) --------------------

    async def query_audit(
        self,
        *,
        product: str | None = None,
        publisher: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        subject_id: str | None = None,
    ) -> list[AuditEvent]:
        """Audit events matching every filter, in time order (``since <= at < until``).

        ``product``: events about the product (listing, consumer activity) or about any of
        its submissions. ``publisher``: events about the publisher, its products and their
        submissions.
        """
        query = select(AuditRow)
        if product is not None:
            subs = select(SubmissionRow.id).where(col(SubmissionRow.product) == product)
            query = query.where(
                (col(AuditRow.subject_id) == product) | col(AuditRow.subject_id).in_(subs)
            )
        if publisher is not None:
            subs = select(SubmissionRow.id).where(col(SubmissionRow.publisher_id) == publisher)
            products = select(SubmissionRow.product).where(
                col(SubmissionRow.publisher_id) == publisher
            )
            listed = select(ListingRow.product).where(col(ListingRow.publisher_id) == publisher)
            query = query.where(
                (
                    (col(AuditRow.subject_type) == "publisher")
                    & (col(AuditRow.subject_id) == publisher)
                )
                | col(AuditRow.subject_id).in_(subs)
                | (
                    col(AuditRow.subject_type).in_(["product", "listing"])
                    & (
                        col(AuditRow.subject_id).in_(products)
                        | col(AuditRow.subject_id).in_(listed)
                    )
                )
            )
        if subject_id is not None:
            query = query.where(col(AuditRow.subject_id) == subject_id)
        if actor is not None:
            query = query.where(col(AuditRow.actor) == actor)
        if action is not None:
            query = query.where(col(AuditRow.action) == action)
        if since is not None:
            query = query.where(col(AuditRow.at) >= _aware(since, "since"))
        if until is not None:
            query = query.where(col(AuditRow.at) < _aware(until, "until"))
        query = query.order_by(col(AuditRow.at), col(AuditRow.id))
        async with self._session() as s:
            return [_audit(row) for row in (await s.exec(query)).all()]

    async def purge_audit(self, retention: timedelta, actor: str, key: str) -> int:
        """Delete audit events older than ``retention`` (at least 180 days); return how many.

        One transaction: a purge row opens the database's delete gate, the old rows
        go, the purge row is closed and an ``audit_purged`` event is appended. ``key``
        makes it idempotent: a purge already recorded under ``key`` does nothing (0).
        """
        if retention < AUDIT_RETENTION_FLOOR:
            raise InvalidInput(
                f"audit retention of {retention.days} days is below the floor of "
                f"{AUDIT_RETENTION_FLOOR.days} days"
            )
        _name(key, "purge key")
        now = _now()
        cutoff = now - retention
        async with self._session(write=True) as s:
            done = await s.exec(select(AuditRow.id).where(col(AuditRow.key) == key))
            if done.first() is not None:
                return 0
            purge = AuditPurgeRow(
                actor=actor, retention_days=retention.days, cutoff=cutoff, started_at=now
            )
            s.add(purge)
            await s.flush()
            result = await s.exec(delete(AuditRow).where(col(AuditRow.at) < cutoff))
            deleted = int(result.rowcount or 0)
            purge.finished_at = _now()
            purge.deleted = deleted
            s.add(
                AuditRow(
                    key=key,
                    actor=actor,
                    action="audit_purged",
                    subject_type="audit",
                    subject_id="audit_events",
                    at=now,
                    reason=f"retention {retention.days} days",
                    details={"cutoff": cutoff.isoformat(), "deleted": deleted},
                    outcome="applied",
                    recorded_at=now,
                )
            )
            return deleted

    # --- consumer events (issue 5) ---------------------------------------------------

    async def product_publishers(self, products: Iterable[str]) -> dict[str, str]:
        """product -> publisher id, for the products the store knows (listed or submitted)."""
        wanted = sorted(set(products))
        found: dict[str, str] = {}
        async with self._session() as s:
            for chunk in _chunks(wanted):
                for model in (ListingRow, SubmissionRow):
                    rows = await s.exec(
                        select(model.product, model.publisher_id).where(
                            col(model.product).in_(chunk)
                        )
                    )
                    for product, publisher in rows.all():
                        found.setdefault(product, publisher)
        return found

    async def record_consumer_events(
        self, events: Sequence[ConsumerEvent], ingested_by: str
    ) -> int:
        """Store consumer events and their audit rows in ONE transaction; return how many
        were new. An event id already stored is skipped, so re-ingesting a file adds
        nothing. Raises ``NotFoundError`` (writing nothing) for an unknown product."""
        if not events:
            return 0
        publishers = await self.product_publishers(e.product for e in events)
        unknown = sorted({e.product for e in events} - set(publishers))
        if unknown:
            raise NotFoundError(f"unknown product(s): {', '.join(unknown)}")
        now = _now()
        inserted = 0
        async with self._session(write=True) as s:
            for chunk in _chunks(list(events)):
                result = await s.exec(
                    self._insert(ConsumerEventRow)
                    .values(
                        [
                            {
                                "event_id": e.event_id,
                                "kind": e.kind.value,
                                "at": e.at,
                                "customer": e.customer,
                                "customer_type": e.customer_type,
                                "publisher_id": publishers[e.product],
                                "product": e.product,
                                "tier": e.tier,
                                "amount": None if e.amount is None else str(e.amount),
                                "currency": e.currency,
                                "notify_opt_in": e.notify_opt_in,
                                "subscription": e.subscription,
                                "ingested_by": ingested_by,
                                "ingested_at": now,
                            }
                            for e in chunk
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["event_id"])
                    .returning(col(ConsumerEventRow.event_id))
                )
                new = set(result.scalars().all())
                inserted += len(new)
                audit_rows = [
                    {
                        "key": f"consumer/{e.event_id}",
                        "actor": e.customer,
                        "action": f"consumer_{e.kind.value}",
                        "subject_type": "product",
                        "subject_id": e.product,
                        "at": e.at,
                        "reason": "",
                        "details": {
                            k: v
                            for k, v in e.as_json().items()
                            if k not in {"event_id", "kind", "at", "customer", "product"}
                        }
                        | {"event_id": e.event_id, "ingested_by": ingested_by},
                        "outcome": "applied",
                        "recorded_at": now,
                    }
                    for e in chunk
                    if e.event_id in new
                ]
                if audit_rows:
                    await s.exec(
                        self._insert(AuditRow)
                        .values(audit_rows)
                        .on_conflict_do_nothing(index_elements=["key"])
                    )
        return inserted

    async def consumer_events(
        self, publisher_id: str, start: datetime, end: datetime
    ) -> list[ConsumerEvent]:
        """A publisher's events with ``start <= at < end``, plus its earlier subscription
        starts and ends (a report measures subscriptions that began before the month)."""
        start, end = _aware(start, "start"), _aware(end, "end")
        subscription_kinds = ["subscription_start", "subscription_end"]
        query = (
            select(ConsumerEventRow)
            .where(
                col(ConsumerEventRow.publisher_id) == publisher_id,
                col(ConsumerEventRow.at) < end,
                (col(ConsumerEventRow.at) >= start)
                | col(ConsumerEventRow.kind).in_(subscription_kinds),
            )
            .order_by(col(ConsumerEventRow.at), col(ConsumerEventRow.event_id))
        )
        async with self._session() as s:
            return [_consumer_event(row) for row in (await s.exec(query)).all()]

    async def subscribers_of(self, product: str) -> list[str]:
        """Emails of the customers who downloaded ``product`` and, at their latest
        download, opted in to its notices; sorted."""
        query = (
            select(ConsumerEventRow.customer, ConsumerEventRow.notify_opt_in)
            .where(
                col(ConsumerEventRow.product) == product,
                col(ConsumerEventRow.kind) == "download",
            )
            .order_by(col(ConsumerEventRow.at), col(ConsumerEventRow.event_id))
        )
        latest: dict[str, bool] = {}
        async with self._session() as s:
            for customer, opted in (await s.exec(query)).all():
                latest[customer] = bool(opted)
        return sorted(c for c, opted in latest.items() if opted)

    async def list_publisher_ids(self) -> list[str]:
        """Every registered publisher id, sorted."""
        async with self._session() as s:
            rows = await s.exec(select(PublisherRow.id).order_by(col(PublisherRow.id)))
            return list(rows.all())


__all__ = [
    "CLOSED_SUBMISSION_STATES",
    "ConflictError",
    "DuplicateError",
    "ImportOutcome",
    "InvalidInput",
    "NotFoundError",
    "SchemaOutOfDate",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailable",
    "advisory_from_json",
    "advisory_to_json",
]
