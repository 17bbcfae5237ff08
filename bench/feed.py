"""Advisory feed at scale: N published listings, an advisory affecting a fraction of them.

    .venv/bin/python -m bench.feed --listings 10000 --affected 0.01 [--db sqlite|postgres]

Starts a real Temporal dev server (the venv's ``temporal`` binary, in-memory
state), an SMTP sink, a fresh store and one worker process (``bench.feed_worker``:
``worker.build_worker`` alone in a process of its own, so that its memory can
be read from /proc without the benchmark's client in it). Then:

1. seed: N published listings written through the Store and PublishedInventory
   APIs (publisher, submission row, scan report, listing, inventory), as the
   publish activity leaves them, without running N submissions. Every image
   carries the real packages of the example image plus filler packages
   (``--packages`` in all); the affected fraction also carries ``libxml2`` at a
   version the new advisory affects. Ten listings per publisher.
2. listings: one ListingWorkflow per listing, started by signal-with-start with
   a clean RevisionReport, as ``announce_revision`` does; done when every
   ``revision_published`` audit row is written. Then one untimed feed run with
   an advisory no image carries (warm-up; it must match nothing).
3. feed (b): a new OSV record (critical CVSS vector) in a folder; the clock runs
   from starting AdvisoryFeedWorkflow on that folder until the audit table
   holds a ``clock_started`` row for every affected listing. Also shown: the
   same span in workflow time (the latest row's ``at``), and until the
   publishers' emails are in the sink. Any clock on a listing the advisory
   does not affect fails the run.
4. query (a): ``PublishedInventory.affected_by([advisory id])`` alone, the
   indexed query that finds the affected tags: median of several runs, and the
   database's plan for it (PostgreSQL: with its own execution time).
5. all clocks: a critical finding signalled to every listing; done when every
   listing has a ``clock_started`` row and every email is in. The worker's
   resident memory (VmRSS, VmHWM) is read at each step; its workflow cache
   (``max_cached_workflows``) bounds how many listings it holds in memory.

Exits 1 with a one-line reason when anything fails, also when a phase stops
making progress (``--stall``), naming the worker's last logged error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any, TextIO

from sqlalchemy import event, func, text
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from bench.submissions import (
    BenchError,
    _positive_float,
    _positive_int,
    add_database_options,
    bounded,
    database_url,
    output_to,
    temporal_binary,
)
from logs import configure
from models.activity_io import AffectedResult, FeedRequest
from models.listing import FindingsReport, ListingInput, RevisionReport, SlaPolicy
from models.onboarding import PublisherProfile
from models.records import ListingRecord, PublishedTag, SubmissionRecord, TagScan
from models.scan import Component, Finding, ScanColour, ScanSummary, SeverityClass
from notifications.mail_sink import MailSink
from persistence.published_inventory import PublishedInventory
from persistence.store import Store
from persistence.tables import AuditRow, PublishedPackageRow
from scanner.interface import BuiltinScanner
from settings import Settings
from tests.support import EXAMPLES, ROOT, load_manifest, load_profile
from workflows.advisory_feed import AdvisoryFeedWorkflow
from workflows.listing import ListingWorkflow, listing_workflow_id

TAG = "1.0"
EXAMPLE_IMAGE = f"oci:{EXAMPLES / 'images' / 'acme-db'}:1.1"  # real Debian 12 packages
LISTINGS_PER_PUBLISHER = 10
FEED_CVE = "CVE-2026-99101"  # the advisory the feed brings (invented for the benchmark)
FEED_ADVISORY = f"DEBIAN-{FEED_CVE}"
ALL_CVE = "CVE-2026-99102"  # the finding signalled to every listing in the last phase
AFFECTED_PACKAGE = "libxml2"
AFFECTED_VERSION = "2.9.14+dfsg-1.3~deb12u1"
FIXED_VERSION = "2.9.14+dfsg-1.3~deb12u2"
CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8


# ------------------------------------------------------------------ process memory


@dataclass
class Memory:
    """Resident set of a process now and at its peak, in KiB (from /proc/PID/status)."""

    rss_kib: int
    peak_kib: int

    def __str__(self) -> str:
        return f"{self.rss_kib / 1024:.0f} MiB (peak {self.peak_kib / 1024:.0f} MiB)"


def memory_of(pid: int | None) -> Memory | None:
    """VmRSS and VmHWM of ``pid``; None where /proc is not available."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    if len(values) != 2:
        return None
    return Memory(values["VmRSS"], values["VmHWM"])


def child_named(name: str) -> int | None:
    """The pid of this process's child whose command is ``name`` (the dev server)."""
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        if ppid == me and comm == name:
            return int(entry.name)
    return None


# ------------------------------------------------------------------ the worker process


class WorkerProcess:
    """``python -m bench.feed_worker`` with the benchmark's settings in its environment."""

    def __init__(self, settings: Settings, log_file: TextIO, log_path: Path) -> None:
        self._settings = settings
        self._log_file = log_file
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.max_cached_workflows = 0
        self.max_concurrent_activities = 0
        self._drain: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOREMOD_")}
        env.update(
            STOREMOD_TEMPORAL_ADDRESS=self._settings.temporal_address,
            STOREMOD_TASK_QUEUE=self._settings.task_queue,
            STOREMOD_DATABASE_URL=self._settings.db_url,
            STOREMOD_SMTP_HOST=self._settings.smtp_host,
            STOREMOD_SMTP_PORT=str(self._settings.smtp_port),
        )
        self._log_file.flush()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.feed_worker",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_file,
        )
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = (await stdout.readline()).decode().strip()
                    if not line or line.startswith(("ready ", "worker failed")):
                        break
                    self._log_file.write(line + "\n")  # anything else belongs in the log
        except TimeoutError:
            raise BenchError(f"the worker process did not start within {timeout:g} s") from None
        if not line.startswith("ready "):
            await self.proc.wait()
            status = self.proc.returncode
            raise BenchError(line or f"the worker process exited with status {status}")
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.max_cached_workflows = int(fields["max_cached_workflows"])
        self.max_concurrent_activities = int(fields["max_concurrent_activities"])
        # Keep reading stdout into the log: an unread pipe fills up and then blocks
        # whatever the worker writes there, the worker with it.
        self._drain = asyncio.create_task(self._copy_to_log(stdout))

    async def _copy_to_log(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self._log_file.write(line.decode(errors="replace"))

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def check_alive(self) -> None:
        """Raise if the worker died: a wait for its work would otherwise run to the timeout."""
        if self.proc is not None and self.proc.returncode is not None:
            raise BenchError(f"the worker process exited with status {self.proc.returncode}")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):  # it may end meanwhile
                    self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            await self._drain  # ends at end of file, which wait() has seen


# ------------------------------------------------------------------ data


@dataclass
class Seed:
    """What the seeding wrote, and what later phases need to address it."""

    products: list[str]
    affected: set[str]
    digests: dict[str, str]
    packages_per_image: int
    inventory_rows: int = 0
    wall: float = 0.0


def product_id(i: int) -> str:
    return f"bench-{i:05d}"


def publisher_id(j: int) -> str:
    return f"bench-pub-{j:04d}"


def affected_indices(n: int, fraction: float) -> set[int]:
    """``round(n * fraction)`` (at least 1) listings, spread evenly over the range."""
    k = max(1, round(n * fraction))
    return {i * n // k for i in range(k)}


def feed_record(
    advisory: str = FEED_ADVISORY, cve: str = FEED_CVE, package: str = AFFECTED_PACKAGE
) -> dict[str, Any]:
    """A new OSV record: ``package`` in Debian 12 before FIXED_VERSION, critical."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema_version": "1.6.0",
        "id": advisory,
        "modified": now,
        "published": now,
        "upstream": [cve],
        "summary": f"{package}: an advisory issued after publication (storemod benchmark)",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": FIXED_VERSION}]}
                ],
            }
        ],
        "severity": [{"type": "CVSS_V3", "score": CRITICAL_VECTOR}],
    }


async def example_scan() -> tuple[dict[str, Any], list[Component]]:
    """The real scan report of the example image (tag 1.1), matched against no advisories."""

    class NoAdvisories:
        async def advisories_for(self, ecosystem: str, names: Any) -> list[Any]:
            return []

        async def advisories_by_ids(self, ids: Any) -> dict[str, Any]:
            return {}

    result = await BuiltinScanner(NoAdvisories()).scan(EXAMPLE_IMAGE)
    return result.report(), list(result.components)


async def seed(store: Store, n: int, fraction: float, packages: int, concurrency: int) -> Seed:
    """N published listings through the Store and PublishedInventory APIs."""
    template, real = await example_scan()
    if packages < len(real):
        raise BenchError(f"--packages must be at least {len(real)} (the example image's)")
    first = real[0]
    filler = [
        Component(
            name=f"bench-pkg-{j:03d}",
            version="1.0-1",
            ecosystem=first.ecosystem,
            purl=f"pkg:deb/debian/bench-pkg-{j:03d}@1.0-1?distro=debian-12",
            layer_index=first.layer_index,
            layer_digest=first.layer_digest,
        )
        for j in range(packages - len(real))
    ]
    vulnerable = Component(
        name=AFFECTED_PACKAGE,
        version=AFFECTED_VERSION,
        ecosystem=first.ecosystem,
        purl=f"pkg:deb/debian/{AFFECTED_PACKAGE}@{AFFECTED_VERSION}?distro=debian-12",
        layer_index=first.layer_index,
        layer_digest=first.layer_digest,
    )
    clean_components = [asdict(c) for c in (*real, *filler)]
    dirty_components = [*clean_components, asdict(vulnerable)]
    clean_names = {c.name for c in (*real, *filler)}
    clean_names |= {c.source_name for c in real if c.source_name}
    dirty_names = clean_names | {AFFECTED_PACKAGE}
    ecosystem = str(template.get("ecosystem") or first.ecosystem)

    base_profile = load_profile(EXAMPLES)
    base_manifest = load_manifest(EXAMPLES, TAG).model_dump(mode="json")
    tier = base_manifest["tiers"][0]["name"]
    hit = affected_indices(n, fraction)
    inventory = PublishedInventory(store)
    result = Seed(
        products=[product_id(i) for i in range(n)],
        affected={product_id(i) for i in hit},
        digests={},
        packages_per_image=packages,
    )

    def profile_for(j: int) -> PublisherProfile:
        return base_profile.model_copy(
            update={
                "id": publisher_id(j),
                "legal_name": f"Bench Publisher {j}",
                "email": f"pub{j}@bench.example.com",
            }
        )

    async def publisher(j: int) -> None:
        await store.register_publisher(profile_for(j), f"bench-member-{j}")

    async def listing(i: int) -> None:
        product, pub = product_id(i), publisher_id(i // LISTINGS_PER_PUBLISHER)
        sub = f"{product}-1"
        digest = "sha256:" + hashlib.sha256(product.encode()).hexdigest()
        image_ref = f"docker://registry.bench.example.com/{product}:{TAG}"
        manifest = {**base_manifest, "product": product, "name": f"Bench {i}"}
        dirty = i in hit
        report = {
            **template,
            "image_ref": image_ref,
            "digest": digest,
            "components": dirty_components if dirty else clean_components,
        }
        await store.upsert_submission(
            SubmissionRecord(
                sub,
                product,
                pub,
                "published",
                1,
                f"bench-member-{i // LISTINGS_PER_PUBLISHER}",
                manifest,
            )
        )
        summary = ScanSummary(
            tier=tier,
            tag=TAG,
            image_ref=image_ref,
            digest=digest,
            os=str(template["os"].get("name") or ""),
            component_count=len(report["components"]),
            colour=ScanColour.GREEN,
        )
        await store.save_scan(sub, 1, summary, report)
        await store.publish_listing(
            ListingRecord(product, pub, sub, 1, manifest, [TagScan(tier, TAG, digest, "green")])
        )
        tag = PublishedTag(product, TAG, tier, digest, image_ref, ecosystem, sub, 1)
        await inventory.replace(product, [(tag, dirty_names if dirty else clean_names)])
        result.digests[product] = digest

    publishers = -(-n // LISTINGS_PER_PUBLISHER)
    started = perf_counter()
    await bounded(publishers, concurrency, publisher, 3600, "seeding publishers")
    await bounded(n, concurrency, listing, 3600, "seeding listings")
    result.wall = perf_counter() - started
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(func.count()).select_from(PublishedPackageRow))
        result.inventory_rows = int(rows.scalar_one())
    return result


# ------------------------------------------------------------------ observing the worker


async def count_audit(store: Store, action: str) -> int:
    """How many audit rows have ``action`` (one indexed count, cheap enough to poll)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(func.count()).select_from(AuditRow).where(col(AuditRow.action) == action)
        )
        return int(rows.scalar_one())


def count_mail(folder: Path) -> int:
    """How many messages the sink holds (not sorted, unlike ``list_mail``)."""
    return sum(1 for _ in folder.glob("*.eml")) if folder.is_dir() else 0


async def query_plan(store: Store, call: Callable[[], Awaitable[Any]]) -> list[str]:
    """The database's plan of the statement of ``call()`` that joins the package indexes,
    as far as it reads ``published_packages``: whether the "indexed query" uses an index."""
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        statements.append((statement, params))

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await call()
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
    # The join of the two package indexes (SQLite's own BEGIN comes through here too).
    joins = [(sql, params) for sql, params in statements if "advisory_packages" in sql]
    if not joins:
        return []
    statement, params = joins[0]
    sqlite = store.dialect == "sqlite"
    async with store.engine.connect() as conn:
        # PostgreSQL runs it too (a read-only SELECT) and reports its own execution time.
        rows = await conn.exec_driver_sql(
            ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) ") + statement,
            params,
        )
        lines = [str(row[-1] if sqlite else row[0]).strip() for row in rows.all()]
    # Only how published_packages is read, and PostgreSQL's execution time.
    reads = ("Scan", "SEARCH", "SCAN")
    return [
        line.removeprefix("->").strip()
        for line in lines
        if line.startswith("Execution Time")
        or ("published_packages" in line and any(word in line for word in reads))
    ]


def last_error(log_path: Path) -> str:
    """The last error the worker logged (JSON lines), in a few words, or ""."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(max(0, log_path.stat().st_size - 1_000_000))
            tail = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(tail):
        if '"level": "error"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            return line[:200]
        exc = entry.get("exc_info")
        detail = exc[1] if isinstance(exc, list) and len(exc) > 1 else ""
        return f"{entry.get('event', '')} {detail}".strip()[:300]
    return ""


async def wait_until(
    check: Callable[[], Awaitable[int]],
    target: int,
    worker: WorkerProcess,
    timeout: float,
    interval: float,
    what: str,
    stall: float,
) -> float:
    """Poll ``check()`` until it reaches ``target``; the perf_counter() when it did.

    Fails early when the count stops moving for ``stall`` seconds: a workflow task
    that keeps failing (the worker logs and retries it) would otherwise look like
    slowness until the timeout.
    """
    started = perf_counter()
    last_value, last_move = -1, started
    while True:
        value = await check()
        now = perf_counter()
        if value >= target:
            return now
        worker.check_alive()
        if value != last_value:
            last_value, last_move = value, now
        if now - last_move > stall or now - started > timeout:
            why = f"no progress for {stall:g} s" if now - started <= timeout else "timed out"
            error = last_error(worker.log_path)
            raise BenchError(
                f"{what}: {value} of {target}, {why}"
                + (f"; last worker error: {error}" if error else "")
            )
        await asyncio.sleep(interval)


# ------------------------------------------------------------------ report


@dataclass
class Report:
    n: int
    db: str
    seed: Seed
    concurrency: int
    max_cached_workflows: int
    max_concurrent_activities: int
    listings_wall: float = 0.0
    feed_to_clocks: float = 0.0  # (b), observed from the audit table
    feed_to_clocks_workflow: float = 0.0  # (b), by the rows' own workflow timestamps
    feed_workflow: float = 0.0
    feed_to_mail: float = 0.0
    feed_tags: int = 0
    query_runs: list[float] = field(default_factory=list)  # (a)
    query_hits: int = 0
    query_plan: list[str] = field(default_factory=list)
    clocked_not_affected: int = 0
    all_signals_wall: float = 0.0
    all_clocks_wall: float = 0.0
    all_mail_wall: float = 0.0
    open_clocks: int = 0
    memory: dict[str, tuple[Memory | None, Memory | None]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        k = len(self.seed.affected)
        query = statistics.median(self.query_runs)
        cached = min(self.n, self.max_cached_workflows)

        def mem(label: str) -> str:
            worker, server = self.memory.get(label, (None, None))
            return f"worker {worker or 'n/a'}, dev server {server or 'n/a'}"

        def delta(before: str, after: str, per: int, what: str) -> str:
            b, a = self.memory.get(before, (None, None))[0], self.memory.get(after, (None, None))[0]
            if a is None or b is None:
                return "n/a"
            kib = a.rss_kib - b.rss_kib
            return f"{kib / 1024:+.1f} MiB = {kib / per:.0f} KiB per {what} ({per})"

        rows = [
            ("listings (N)", str(self.n)),
            ("affected", f"{k} ({k / self.n:.2%})"),
            ("database", self.db),
            ("CPU cores", str(os.cpu_count())),
            ("packages per image", str(self.seed.packages_per_image)),
            ("inventory rows", str(self.seed.inventory_rows)),
            ("seeding (store API)", f"{self.seed.wall:.1f} s"),
            (
                "starting N listings",
                f"{self.listings_wall:.1f} s ({self.n / self.listings_wall:.0f}/s, "
                f"concurrency {self.concurrency})",
            ),
            (
                "(a) affected_by query",
                f"median {query * 1000:.1f} ms  min {min(self.query_runs) * 1000:.1f}  "
                f"max {max(self.query_runs) * 1000:.1f} ({len(self.query_runs)} runs, "
                f"{self.query_hits} tags)",
            ),
            *[("    plan", line) for line in self.query_plan],
            ("(b) feed start -> all clocks", f"{self.feed_to_clocks:.2f} s (audit rows seen)"),
            ("    same, workflow time", f"{self.feed_to_clocks_workflow:.2f} s (latest row's at)"),
            ("    feed workflow done", f"{self.feed_workflow:.2f} s ({self.feed_tags} tags)"),
            ("    all emails in", f"{self.feed_to_mail:.2f} s"),
            ("ratio (b)/(a)", f"{self.feed_to_clocks / query:.0f}"),
            ("not-affected with a clock", str(self.clocked_not_affected)),
            (
                "all-clocks phase",
                f"signals {self.all_signals_wall:.1f} s, clocks {self.all_clocks_wall:.1f} s, "
                f"emails {self.all_mail_wall:.1f} s",
            ),
            ("open clocks", str(self.open_clocks)),
            (
                "worker cache",
                f"max_cached_workflows {self.max_cached_workflows}, "
                f"max_concurrent_activities {self.max_concurrent_activities}",
            ),
            ("memory: worker idle", mem("idle")),
            ("memory: N listings", mem("listings")),
            ("memory: after feed", mem("feed")),
            ("memory: N open clocks", mem("clocks")),
            ("worker: listings vs idle", delta("idle", "listings", cached, "cached workflow")),
            ("worker: clocks vs feed", delta("feed", "clocks", cached, "cached workflow")),
        ]
        width = max(len(key) for key, _ in rows)
        return [f"{key:<{width}}  {value}" for key, value in rows]


# ------------------------------------------------------------------ run


async def run(args: argparse.Namespace) -> Report:
    """Set everything up, run the phases, tear everything down."""
    # SIGTERM cancels like Ctrl-C, so the worker, the dev server and the database
    # are cleaned up either way.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="storemod-bench-")))
        log_path: Path = args.log_file or tmp / "bench.log"
        log_file = stack.enter_context(open(log_path, "a", encoding="utf-8"))  # noqa: SIM115
        configure("json")
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(log_file)
        stack.callback(handler.setStream, sys.stderr)
        runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=LoggingConfig.default.filter,
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                )
            )
        )

        def say(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        say(f"starting Temporal dev server, mail sink, {args.db} store ...")
        with output_to(log_file):
            temporal = await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_binary(),
                data_converter=pydantic_data_converter,
                dev_server_log_level="error",
                runtime=runtime,
            )
        stack.push_async_callback(temporal.shutdown)
        server_pid = child_named("temporal")
        sink = MailSink(tmp / "mail")
        sink.start("127.0.0.1", 0)
        stack.callback(sink.stop)
        assert sink.port is not None

        db_url = await database_url(stack, args.db, tmp, args.pg_url)
        store = await Store.open(db_url)
        stack.push_async_callback(store.close)

        say(f"seeding {args.listings} published listings ...")
        data = await seed(store, args.listings, args.affected, args.packages, args.db_concurrency)
        k = len(data.affected)
        if store.dialect == "postgresql":
            # Fresh bulk rows have no statistics yet; autovacuum would gather them in a
            # live database, so the planner gets them here too (SQLite has none by default).
            async with store.engine.connect() as conn:
                await conn.execute(text("ANALYZE"))

        client: Client = temporal.client
        settings = Settings(
            temporal_address=client.service_client.config.target_host,
            database_url=db_url,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            task_queue=f"bench-feed-{uuid.uuid4().hex[:8]}",
        )
        worker = WorkerProcess(settings, log_file, log_path)
        stack.push_async_callback(worker.stop)
        await worker.start()
        report = Report(
            n=args.listings,
            db=args.db,
            seed=data,
            concurrency=args.concurrency,
            max_cached_workflows=worker.max_cached_workflows,
            max_concurrent_activities=worker.max_concurrent_activities,
        )

        async def mail_count() -> int:
            return count_mail(sink.folder)

        def snapshot(label: str) -> None:
            report.memory[label] = (memory_of(worker.pid), memory_of(server_pid))

        snapshot("idle")

        # ---- N ListingWorkflows, as announce_revision starts them
        say(f"starting {args.listings} ListingWorkflows ...")
        policy = SlaPolicy(reminder_before=settings.sla_reminder_before)

        async def start_listing(i: int) -> None:
            product = data.products[i]
            j = i // LISTINGS_PER_PUBLISHER
            await client.start_workflow(
                ListingWorkflow.run,
                ListingInput(
                    product=product,
                    product_name=f"Bench {i}",
                    publisher_id=publisher_id(j),
                    publisher_name=f"Bench Publisher {j}",
                    publisher_email=f"pub{j}@bench.example.com",
                    policy=policy,
                ),
                id=listing_workflow_id(product),
                task_queue=settings.task_queue,
                start_signal="publish_revision",
                start_signal_args=[
                    RevisionReport(
                        1,
                        f"{product}-1",
                        [FindingsReport(TAG, data.digests[product], [], "revision")],
                    )
                ],
            )

        started = perf_counter()
        await bounded(args.listings, args.concurrency, start_listing, args.timeout, "listings")
        done = await wait_until(
            lambda: count_audit(store, "revision_published"),
            args.listings,
            worker,
            args.timeout,
            0.5,
            "listings recorded",
            args.stall,
        )
        report.listings_wall = done - started
        snapshot("listings")

        # ---- warm-up feed (not timed): an advisory no image carries. The feed runs
        # hourly, so a live worker has it loaded; this also checks it opens no clock.
        warm_dir = tmp / "feed-warm-up"
        warm_dir.mkdir()
        warm = feed_record("BENCH-WARM-UP", "CVE-2026-99100", "bench-absent")
        (warm_dir / "advisory.json").write_text(json.dumps(warm))
        warm_result: AffectedResult = await client.execute_workflow(
            AdvisoryFeedWorkflow.run,
            FeedRequest(str(warm_dir)),
            id=f"bench-feed-warm-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        if warm_result.tags:
            raise BenchError(f"an advisory for an absent package matched {warm_result.tags[:3]}")

        # ---- (b) the feed, from start to every affected clock
        say(f"advisory feed: {FEED_ADVISORY} affects {k} listings ...")
        feed_dir = tmp / "feed"
        feed_dir.mkdir()
        (feed_dir / "advisory.json").write_text(json.dumps(feed_record()))
        if await count_audit(store, "clock_started") or count_mail(sink.folder):
            raise BenchError("clocks or emails exist before the feed ran")
        wall0 = datetime.now(UTC)
        t0 = perf_counter()
        handle = await client.start_workflow(
            AdvisoryFeedWorkflow.run,
            FeedRequest(str(feed_dir)),
            id=f"bench-feed-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        clocks_at = await wait_until(
            lambda: count_audit(store, "clock_started"),
            k,
            worker,
            args.timeout,
            0.02,
            "affected clocks started",
            args.stall,
        )
        result: AffectedResult = await handle.result()
        report.feed_workflow = perf_counter() - t0  # already done, or done just now
        mail_at = await wait_until(
            mail_count,
            k,
            worker,
            args.timeout,
            0.05,
            "publisher emails",
            args.stall,
        )
        report.feed_to_clocks = clocks_at - t0
        report.feed_to_mail = mail_at - t0
        report.feed_tags = len(result.tags)
        expected_tags = {f"{p}:{TAG}" for p in data.affected}
        if set(result.tags) != expected_tags:
            missing = sorted(expected_tags - set(result.tags))[:3]
            extra = sorted(set(result.tags) - expected_tags)[:3]
            raise BenchError(
                f"the feed reported {len(result.tags)} tags, expected {k} "
                f"(missing {missing}, extra {extra})"
            )
        rows = await store.list_audit(action="clock_started")
        feed_rows = [r for r in rows if r.details.get("cve") == FEED_CVE]
        clocked = {r.subject_id for r in feed_rows}
        report.clocked_not_affected = len({r.subject_id for r in rows} - data.affected)
        if clocked != data.affected:
            raise BenchError(
                f"{len(data.affected - clocked)} affected listings have no clock, "
                f"{report.clocked_not_affected} not affected have one"
            )
        report.feed_to_clocks_workflow = (max(r.at for r in feed_rows) - wall0).total_seconds()
        snapshot("feed")

        # ---- (a) the single indexed query, alone, once the worker is quiet
        inventory = PublishedInventory(store)
        say("timing PublishedInventory.affected_by ...")
        await inventory.affected_by([FEED_ADVISORY])  # warm-up: connection, statement cache
        for _ in range(args.query_runs):
            q0 = perf_counter()
            tags = await inventory.affected_by([FEED_ADVISORY])
            report.query_runs.append(perf_counter() - q0)
            if {t.product for t in tags} != data.affected:
                raise BenchError(f"affected_by returned {len(tags)} tags, expected {k}")
            report.query_hits = len(tags)
        report.query_plan = await query_plan(store, lambda: inventory.affected_by([FEED_ADVISORY]))

        # ---- a clock on every listing
        say(f"opening a clock on all {args.listings} listings ...")

        def finding(advisory: str, cve: str, package: str, version: str, fixed: str) -> Finding:
            return Finding(
                advisory_id=advisory,
                cve_id=cve,
                package=package,
                installed_version=version,
                ecosystem="Debian:12",
                severity=SeverityClass.CRITICAL,
                layer_index=0,
                layer_digest="sha256:" + "0" * 64,
                fixed_version=fixed,
                cvss_score=9.8,
                cvss_vector=CRITICAL_VECTOR,
            )

        everyone = finding(ALL_CVE, ALL_CVE, "bench-pkg-000", "1.0-1", "1.0-2")
        # A report holds a tag's complete findings: the affected keep their feed finding.
        feed_finding = finding(
            FEED_ADVISORY, FEED_CVE, AFFECTED_PACKAGE, AFFECTED_VERSION, FIXED_VERSION
        )

        async def signal_listing(i: int) -> None:
            product = data.products[i]
            found = [everyone, feed_finding] if product in data.affected else [everyone]
            await client.get_workflow_handle(listing_workflow_id(product)).signal(
                ListingWorkflow.report_findings,
                FindingsReport(TAG, data.digests[product], found, "rescan"),
            )

        mail_before = count_mail(sink.folder)
        t0 = perf_counter()
        signals_wall, _ = await bounded(
            args.listings, args.concurrency, signal_listing, args.timeout, "signals"
        )
        clocks_at = await wait_until(
            lambda: count_audit(store, "clock_started"),
            args.listings + k,
            worker,
            args.timeout,
            0.5,
            "clocks on every listing",
            args.stall,
        )
        mail_at = await wait_until(
            mail_count,
            mail_before + args.listings,
            worker,
            args.timeout,
            0.5,
            "emails of every clock",
            args.stall,
        )
        report.all_signals_wall = signals_wall
        report.all_clocks_wall = clocks_at - t0
        report.all_mail_wall = mail_at - t0
        snapshot("clocks")

        # The workflows' own word, for a sample (the audit table is the effect, not the state).
        sample = data.products[:: max(1, args.listings // 20)]
        for product in sample:
            st = await client.get_workflow_handle(listing_workflow_id(product)).query(
                ListingWorkflow.status
            )
            want = {ALL_CVE, FEED_CVE} if product in data.affected else {ALL_CVE}
            if {c.cve for c in st.open_clocks} != want:
                raise BenchError(f"{product} has clocks {[c.cve for c in st.open_clocks]}")
        rows = await store.list_audit(action="clock_started")
        report.open_clocks = len(rows)
        stray = {r.subject_id for r in rows if r.details.get("cve") == FEED_CVE} - data.affected
        if stray:
            raise BenchError(f"{len(stray)} listings not affected got a {FEED_CVE} clock")
        say("done; stopping ...")
        return report
    raise AssertionError("unreachable")  # pragma: no cover - keeps mypy's return check happy


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must be in (0, 1], e.g. 0.01 for 1%")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed",
        description="Advisory feed to SLA clocks over N published listings, against the "
        "indexed query alone; worker memory with N open clocks.",
    )
    parser.add_argument(
        "--listings", type=_positive_int, default=10000, help="published listings (10000)"
    )
    parser.add_argument(
        "--affected", type=_fraction, default=0.01, help="fraction the advisory affects (0.01)"
    )
    parser.add_argument(
        "--packages", type=_positive_int, default=100, help="packages per image (100)"
    )
    add_database_options(parser)
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=20,
        help="workflow starts and signals in flight (20)",
    )
    parser.add_argument(
        "--db-concurrency", type=_positive_int, default=8, help="seeding writes in flight (8)"
    )
    parser.add_argument(
        "--query-runs", type=_positive_int, default=7, help="timed runs of the query (7)"
    )
    parser.add_argument(
        "--log-file", type=Path, help="keep the worker's and the dev server's log here"
    )
    parser.add_argument(
        "--timeout", type=_positive_float, default=900.0, help="limit per phase, s (900)"
    )
    parser.add_argument(
        "--stall",
        type=_positive_float,
        default=120.0,
        help="fail when a phase makes no progress this long, s (120)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    try:
        report = asyncio.run(run(args))
    except BenchError as err:
        print(f"bench failed: {err}", file=sys.stderr)
        if args.log_file is None:
            print("(rerun with --log-file PATH to keep the worker and server log)", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a bench reports any failure in one line
        print(f"bench failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
