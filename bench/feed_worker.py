"""The worker process of the feed benchmark (``bench.feed``): the production worker alone.

    python -m bench.feed_worker        (settings from the STOREMOD_* variables)

``worker.build_worker`` in a process of its own, so the benchmark can read this
process's memory from /proc without its own client, data and mail sink in the
figure. Unlike ``storemod worker`` it creates no schedules: a scheduled rescan
or feed run would add work the benchmark does not time. Prints one line,
``ready max_cached_workflows=N max_concurrent_activities=M``, once it polls,
then runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig

import worker
from connection import connect
from logs import configure
from persistence.store import Store
from settings import Settings


async def serve() -> None:
    """Run the worker until a stop signal arrives."""
    settings = Settings()
    configure("json")  # stderr, which the benchmark points at its log file
    # The SDK core's own warnings (e.g. cache or deadlock trouble) into the same log.
    Runtime.set_default(
        Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=LoggingConfig.default.filter,
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                )
            )
        ),
        error_if_already_set=False,
    )
    client = await connect(settings)
    # The benchmark migrated the database already; a mismatch is an error, not a migration.
    store = await Store.open(settings.db_url, migrate=False)
    try:
        bench_worker = worker.build_worker(client, store, settings)
        config = bench_worker.config()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with bench_worker:
            print(
                f"ready max_cached_workflows={config.get('max_cached_workflows')} "
                f"max_concurrent_activities={config.get('max_concurrent_activities')}",
                flush=True,
            )
            await stop.wait()
    finally:
        await store.close()


def main() -> int:
    """Entry point; the exit status."""
    try:
        asyncio.run(serve())
    except Exception as err:  # noqa: BLE001 - the parent shows this one line
        # On stdout too: the benchmark reads it there while it waits for "ready".
        line = f"worker failed: {type(err).__name__}: {err}"
        print(line, flush=True)
        print(line, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
