"""``storemod dev``: the whole store on one machine, state in one folder.

Temporal dev server (SQLite file), the worker, the store's SQLite database and
a local SMTP sink writing every mail as an .eml file. Ctrl-C stops everything;
running it again resumes where it was.
"""

from __future__ import annotations

import asyncio
import signal

from embedded.temporal_server import DevServerError, TemporalDevServer, port_in_use
from logs import get_logger
from models.identity import Role
from notifications.mail_sink import MailSink
from persistence.store import Store
from settings import Settings
from worker import run_worker

BOOTSTRAP_ADMIN = "admin"


def dev_settings(settings: Settings, temporal_port: int) -> Settings:
    """The embedded mode's settings: Temporal and SMTP on loopback, SQLite in data_dir."""
    return settings.model_copy(
        update={
            "temporal_address": f"127.0.0.1:{temporal_port}",
            "smtp_host": "127.0.0.1",
            "smtp_username": None,
            "smtp_password": None,
            "smtp_starttls": False,
        }
    )


async def run_dev(
    settings: Settings, temporal_port: int, ready: asyncio.Event | None = None
) -> None:
    """Start every part, print where to look, run until SIGINT/SIGTERM."""
    log = get_logger(mode="dev")
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if port_in_use("127.0.0.1", settings.smtp_port):
        raise DevServerError(
            f"SMTP port {settings.smtp_port} is taken; set STOREMOD_SMTP_PORT to a free port"
        )

    store = await Store.open(settings.db_url)
    try:
        if await store.get_user(BOOTSTRAP_ADMIN) is None:
            await store.add_user(BOOTSTRAP_ADMIN, Role.ADMIN)
    finally:
        await store.close()

    server = TemporalDevServer(data_dir / "temporal", port=temporal_port)
    sink = MailSink(settings.mail_dir.resolve())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    await server.start()
    sink.start("127.0.0.1", settings.smtp_port)
    try:
        worker = asyncio.create_task(run_worker(settings, stop))
        print(
            "\nstoremod is running (embedded mode). Ctrl-C stops it; run it again to resume.\n"
            f"  state folder : {data_dir}\n"
            f"  Temporal UI  : {server.ui_url}\n"
            f"  Temporal     : {server.address} (namespace {settings.temporal_namespace})\n"
            f"  database     : {settings.db_url}\n"
            f"  mail folder  : {settings.mail_dir.resolve()}\n"
            f"  SMTP sink    : 127.0.0.1:{settings.smtp_port}\n"
            f"  users        : '{BOOTSTRAP_ADMIN}' (admin) exists; add a moderator with\n"
            f"                 storemod --as {BOOTSTRAP_ADMIN} user add mia --role moderator\n"
            "\nnext, in another terminal (see README):\n"
            "  storemod --as alice publisher register examples/profile.yaml\n",
            flush=True,
        )
        if ready is not None:
            ready.set()
        await worker
    finally:
        stop.set()
        sink.stop()
        await server.stop()
        log.info("stopped")
