"""Happy-path submission throughput, as a ratio to bare empty workflows measured in the same run.

    .venv/bin/python -m bench.submissions --n 50 [--concurrency 10] [--db sqlite|postgres]

Starts a real Temporal dev server (the venv's ``temporal`` binary), a real SMTP
sink, a fresh database and one worker (``worker.build_worker`` plus the empty
baseline workflow). Then, after one warm-up run of each kind (not counted):

- baseline: N empty workflows, at most ``--concurrency`` in flight, each
  started and awaited; run once before and once after the submissions, so
  a change in machine load during the run shows (both figures are printed)
  and the ratio uses both;
- storemod: N submissions of the example product (one product id each, image
  tag 1.1, which has no blocking finding), at most ``--concurrency`` in flight,
  each started, polled until ``awaiting_review``, approved and awaited until
  ``published``.

Both phases use the same bound, so the ratio compares like with like. History
events, activities and emails are counted after the timed phases, so counting
does not slow them. Exits 1 with a one-line reason when anything fails.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, TextIO, TypeVar
from unittest import mock

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import worker
from bench.empty import EmptyWorkflow
from logs import configure
from models.onboarding import ProductManifest, PublisherProfile
from models.submission import (
    TERMINAL_STATES,
    Decision,
    DecisionKind,
    SubmissionInput,
    SubmissionState,
    SubmissionStatus,
)
from notifications.mail_sink import MailSink, list_mail
from persistence.store import Store
from settings import Settings
from tests.support import (
    MIA,
    ROOT,
    copy_examples,
    load_manifest,
    load_profile,
    seed,
    settings_for,
    start_submission,
    submission_input,
)
from workflows.submission import SubmissionWorkflow

CLEAN_TAG = "1.1"  # the example image tag without critical/major findings
DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

T = TypeVar("T")


class BenchError(Exception):
    """The benchmark could not run or a submission did not go as expected."""


@dataclass
class Env:
    """What both phases share: the client, the worker's queue, the store, the examples."""

    client: Client
    task_queue: str
    store: Store
    settings: Settings
    profile: PublisherProfile
    folder: Path
    poll_interval: float


@dataclass
class SubmissionRun:
    """One measured submission."""

    handle: WorkflowHandle[Any, SubmissionStatus]
    product: str
    to_review: float  # seconds from start_workflow to seeing awaiting_review
    to_published: float  # seconds from sending the approval to the published result


@dataclass
class HistoryCounts:
    events: int
    activities: int


# ------------------------------------------------------------------ helpers


def temporal_binary() -> str:
    """The ``temporal`` CLI of this virtualenv (or on PATH)."""
    for candidate in (Path(sys.prefix) / "bin" / "temporal", ROOT / ".venv" / "bin" / "temporal"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("temporal")
    if found is None:
        raise BenchError("the temporal binary is not installed; run `bash scripts/test.sh` first")
    return found


@contextmanager
def output_to(file: TextIO) -> Iterator[None]:
    """Point file descriptors 1 and 2 at ``file`` meanwhile, so a child started now writes there."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


async def bounded(
    n: int, concurrency: int, job: Callable[[int], Awaitable[T]], timeout: float, what: str
) -> tuple[float, list[T]]:
    """Run ``job(0..n-1)`` with at most ``concurrency`` in flight; wall seconds and results.

    The first failure cancels the rest: a broken run is reported, not measured.
    """
    gate = asyncio.Semaphore(concurrency)

    async def gated(i: int) -> T:
        async with gate:
            return await job(i)

    started = perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(gated(i)) for i in range(n)]
    except TimeoutError:
        raise BenchError(f"{what} did not finish within {timeout:g} s") from None
    except ExceptionGroup as group_error:
        first = _first_leaf(group_error)
        if isinstance(first, BenchError):
            raise first from None
        if isinstance(first, RPCError) and first.status == RPCStatusCode.UNAVAILABLE:
            raise BenchError(
                f"{what} failed: the Temporal server stopped answering ({first})"
            ) from first
        raise BenchError(f"{what} failed: {type(first).__name__}: {first}") from first
    return perf_counter() - started, [t.result() for t in tasks]


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def history_counts(handle: WorkflowHandle[Any, Any]) -> HistoryCounts:
    history = await handle.fetch_history()
    scheduled = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return HistoryCounts(
        events=len(history.events),
        activities=sum(1 for e in history.events if e.event_type == scheduled),
    )


# ------------------------------------------------------------------ phases


async def empty_workflow(env: Env, run_id: str, i: int) -> WorkflowHandle[Any, Any]:
    handle = await env.client.start_workflow(
        EmptyWorkflow.run, id=f"bench-empty-{run_id}-{i}", task_queue=env.task_queue
    )
    await handle.result()
    return handle


async def wait_for_review(env: Env, handle: WorkflowHandle[Any, SubmissionStatus]) -> None:
    """Poll the status query until awaiting_review; fail at once on any other resting state."""
    while True:
        st: SubmissionStatus = await handle.query(SubmissionWorkflow.status)
        if st.state == SubmissionState.AWAITING_REVIEW:
            if st.open_findings:
                cves = ", ".join(sorted({f.cve_id for f in st.open_findings}))
                raise BenchError(
                    f"{st.submission_id}: tag {CLEAN_TAG} has open findings ({cves}); "
                    "the happy path needs a clean image"
                )
            return
        if st.state in TERMINAL_STATES or st.state == SubmissionState.CHANGES_REQUESTED:
            detail = "; ".join(st.problems) or (st.history[-1].action if st.history else "")
            raise BenchError(f"{st.submission_id} went to {st.state.value} ({detail})")
        await asyncio.sleep(env.poll_interval)


async def submission(env: Env, inp: SubmissionInput) -> SubmissionRun:
    started = perf_counter()
    handle = await start_submission(env.client, inp, env.task_queue)
    await wait_for_review(env, handle)
    reviewed = perf_counter()
    await handle.execute_update(SubmissionWorkflow.decide, Decision(MIA, DecisionKind.APPROVE))
    final = await handle.result()
    done = perf_counter()
    if final.state != SubmissionState.PUBLISHED:
        raise BenchError(f"{inp.submission_id} ended {final.state.value}, not published")
    return SubmissionRun(handle, inp.manifest.product, reviewed - started, done - reviewed)


def inputs(env: Env, prefix: str, n: int) -> list[SubmissionInput]:
    """Submission inputs prepared before timing: one product id per submission."""
    result = []
    for i in range(n):
        manifest: ProductManifest = load_manifest(
            env.folder, tag=CLEAN_TAG, product=f"{prefix}-{i:04d}"
        )
        result.append(submission_input(f"{prefix}-{i:04d}", env.profile, manifest, env.settings))
    return result


# ------------------------------------------------------------------ report


@dataclass
class Report:
    n: int
    concurrency: int
    db: str
    baseline_walls: tuple[float, float]  # before and after the submissions
    baseline_events: list[int]
    wall: float
    events: list[int]
    activities: list[int]
    emails: int
    to_review: list[float]
    to_published: list[float]

    def lines(self) -> list[str]:
        before, after = (self.n / wall for wall in self.baseline_walls)
        both = f"{before:.1f} before, {after:.1f} after"
        base_rate = 2 * self.n / sum(self.baseline_walls)
        rate = self.n / self.wall

        def spread(values: Sequence[int]) -> str:
            return f"mean {sum(values) / len(values):.1f}  min {min(values)}  max {max(values)}"

        def latency(values: Sequence[float]) -> str:
            return f"p50 {percentile(values, 50):.2f} s  p95 {percentile(values, 95):.2f} s"

        rows = [
            ("N", str(self.n)),
            ("concurrency", str(self.concurrency)),
            ("database", self.db),
            ("CPU cores", str(os.cpu_count())),
            ("baseline wall", "  ".join(f"{w:.2f} s" for w in self.baseline_walls)),
            ("baseline throughput", f"{base_rate:.1f} wf/s ({both})"),
            ("baseline events/workflow", spread(self.baseline_events)),
            ("submissions wall", f"{self.wall:.2f} s"),
            ("submission throughput", f"{rate:.2f} submissions/s"),
            ("ratio (submissions/s / wf/s)", f"{rate / base_rate:.3f}"),
            ("history events/submission", spread(self.events)),
            ("activities/submission", spread(self.activities)),
            ("emails/submission", f"{self.emails / self.n:.1f}"),
            ("start -> awaiting_review", latency(self.to_review)),
            ("approve -> published", latency(self.to_published)),
        ]
        width = max(len(k) for k, _ in rows)
        return [f"{k:<{width}}  {v}" for k, v in rows]


# ------------------------------------------------------------------ run


async def database_url(stack: AsyncExitStack, db: str, tmp: Path, pg_admin: str) -> str:
    """A fresh database for this run; a PostgreSQL one is dropped at the end."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'storemod.db'}"
    import asyncpg
    from sqlalchemy.engine import make_url

    # Imported here so a SQLite run needs neither pytest nor a PostgreSQL server.
    from tests.conftest_db import PgDatabases

    databases = PgDatabases(pg_admin)
    try:
        url = await databases.create("storemod_bench")
    except (OSError, asyncpg.PostgresError) as err:
        where = make_url(pg_admin).render_as_string(hide_password=True)
        raise BenchError(f"PostgreSQL at {where} is not usable: {err}") from None
    stack.push_async_callback(databases.drop_all)
    return url


async def run(args: argparse.Namespace) -> Report:
    """Set everything up, run both phases, count, and tear everything down."""
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="storemod-bench-")))
        print(f"starting Temporal dev server, mail sink, {args.db} store ...", file=sys.stderr)
        log_path: Path = args.log_file or tmp / "bench.log"
        log_file = stack.enter_context(open(log_path, "a", encoding="utf-8"))  # noqa: SIM115
        # The worker logs as in production (JSON lines, INFO), into a file so the
        # cost stays in the measurement and the report stays readable.
        configure("json")
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(log_file)
        stack.callback(handler.setStream, sys.stderr)  # before the file closes
        # Core's warnings (e.g. retries while the server is gone) go to the same file.
        runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=LoggingConfig.default.filter,
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                )
            )
        )
        with output_to(log_file):
            temporal = await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_binary(),
                data_converter=pydantic_data_converter,
                dev_server_log_level="error",
                runtime=runtime,
            )
        stack.push_async_callback(temporal.shutdown)
        sink = MailSink(tmp / "mail")
        sink.start("127.0.0.1", 0)
        stack.callback(sink.stop)

        db_url = await database_url(stack, args.db, tmp, args.pg_url)
        store = await Store.open(db_url)
        stack.push_async_callback(store.close)
        folder = copy_examples(tmp)
        profile = load_profile(folder)
        await seed(store, profile)

        settings = settings_for(db_url, sink, f"bench-{uuid.uuid4().hex[:8]}")
        # The production worker exactly as build_worker makes it, with the baseline
        # workflow added to the workflows it registers (patched only while building;
        # a second Worker on the same queue is refused by the SDK).
        with mock.patch.object(worker, "WORKFLOWS", (*worker.WORKFLOWS, EmptyWorkflow)):
            bench_worker = worker.build_worker(temporal.client, store, settings)
        await stack.enter_async_context(bench_worker)

        env = Env(temporal.client, settings.task_queue, store, settings, profile, folder, args.poll)
        run_id = uuid.uuid4().hex[:6]
        # Warm-up (not counted): first-run imports and connection set-up.
        await bounded(
            1, 1, lambda i: empty_workflow(env, f"warm-{run_id}", i), args.timeout, "warm-up"
        )
        warm = inputs(env, f"warmup-{run_id}", 1)
        await bounded(1, 1, lambda i: submission(env, warm[i]), args.timeout, "warm-up submission")

        async def baseline(label: str) -> tuple[float, list[WorkflowHandle[Any, Any]]]:
            print(f"baseline ({label}): {args.n} empty workflows ...", file=sys.stderr)
            return await bounded(
                args.n,
                args.concurrency,
                lambda i: empty_workflow(env, f"{label}-{run_id}", i),
                args.timeout,
                f"baseline ({label})",
            )

        before_wall, empties = await baseline("before")

        todo = inputs(env, f"bench-{run_id}", args.n)
        mail_before = len(list_mail(sink.folder))
        print(f"storemod: {args.n} submissions ...", file=sys.stderr)
        wall, runs = await bounded(
            args.n,
            args.concurrency,
            lambda i: submission(env, todo[i]),
            args.timeout,
            "submissions",
        )
        # Each workflow drains its emails before returning, so all mail is in by now.
        emails = len(list_mail(sink.folder)) - mail_before
        after_wall, _ = await baseline("after")

        _, base_counts = await bounded(
            args.n, 10, lambda i: history_counts(empties[i]), args.timeout, "history fetch"
        )
        _, counts = await bounded(
            args.n, 10, lambda i: history_counts(runs[i].handle), args.timeout, "history fetch"
        )
        missing = [r.product for r in runs if await store.get_listing(r.product) is None]
        if missing:
            raise BenchError(f"{len(missing)} published submissions have no listing: {missing[:3]}")

        return Report(
            n=args.n,
            concurrency=args.concurrency,
            db=args.db,
            baseline_walls=(before_wall, after_wall),
            baseline_events=[c.events for c in base_counts],
            wall=wall,
            events=[c.events for c in counts],
            activities=[c.activities for c in counts],
            emails=emails,
            to_review=[r.to_review for r in runs],
            to_published=[r.to_published for r in runs],
        )
    raise AssertionError("unreachable")  # pragma: no cover - keeps mypy's return check happy


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """--db and --pg-url, shared by every benchmark that runs on either database."""
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("STOREMOD_TEST_PG_URL", DEFAULT_PG_ADMIN_URL),
        help="PostgreSQL server for --db postgres; a fresh database is created and dropped "
        f"(default: $STOREMOD_TEST_PG_URL, else {DEFAULT_PG_ADMIN_URL})",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.submissions",
        description="Happy-path submission throughput against empty workflows, same run.",
    )
    parser.add_argument("--n", type=_positive_int, default=50, help="runs per phase (50)")
    parser.add_argument(
        "--concurrency", type=_positive_int, default=10, help="runs in flight per phase (10)"
    )
    add_database_options(parser)
    parser.add_argument(
        "--log-file",
        type=Path,
        help="keep the worker's and the dev server's log here (default: discarded)",
    )
    parser.add_argument(
        "--poll", type=_positive_float, default=0.1, help="status query interval, s (0.1)"
    )
    parser.add_argument(
        "--timeout", type=_positive_float, default=600.0, help="limit per phase, s (600)"
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
    except KeyboardInterrupt:
        print("bench interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a bench reports any failure in one line
        print(f"bench failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
