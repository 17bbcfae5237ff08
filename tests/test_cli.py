"""The command line as a user runs it: the README walkthrough against a real
`storemod dev`, a restart that resumes, and bad input on every command."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
STOREMOD = str(Path(sys.executable).parent / "storemod")


def walkthrough_commands() -> list[str]:
    """The `storemod …` lines of the README walkthrough block, in order."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- walkthrough", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("storemod ")]


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STOREMOD, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def free_temporal_port() -> int:
    """A port free for the gRPC frontend and for the UI at port + 1000."""
    for _ in range(50):
        port = free_port()
        if port + 1000 < 65535:
            try:
                import socket

                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 1000))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair")


class DevMode:
    """`storemod dev` as a subprocess in its own state folder and ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_temporal_port()
        self.env = {
            **os.environ,
            "STOREMOD_DATA_DIR": str(data_dir),
            "STOREMOD_SMTP_PORT": str(free_port()),
            "STOREMOD_TEMPORAL_ADDRESS": f"127.0.0.1:{self.port}",
            "STOREMOD_LOG_FORMAT": "json",
        }
        self.proc: subprocess.Popen[str] | None = None
        self.banner = ""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [STOREMOD, "dev", "--temporal-port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 120
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise AssertionError(f"storemod dev exited early: {''.join(lines)}")
            lines.append(line)
            if line.startswith("next, in another terminal"):
                lines.append(self.proc.stdout.readline())
                break
        self.banner = "".join(lines)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code


@pytest.fixture
def dev_mode(tmp_path: Path) -> Iterator[DevMode]:
    dev = DevMode(tmp_path / "state")
    yield dev
    if dev.proc is not None:
        try:
            dev.stop()
        except subprocess.TimeoutExpired:
            dev.proc.kill()
            dev.proc.wait()


def test_readme_walkthrough_on_storemod_dev_then_restart(dev_mode: DevMode) -> None:
    dev_mode.start()
    banner = dev_mode.banner
    assert f"http://127.0.0.1:{dev_mode.port + 1000}" in banner
    assert str(dev_mode.data_dir / "mail") in banner
    assert "storemod --as alice publisher register examples/profile.yaml" in banner

    commands = walkthrough_commands()
    assert len(commands) >= 10
    outputs = []
    for line in commands:
        args = shlex.split(line.split("  #", 1)[0])[1:]
        result = cli(dev_mode.env, *args)
        refused = "# refused" in line
        assert (result.returncode != 0) == refused, (line, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (line, result.stderr)
        outputs.append((line, result))

    submit = next(r for line, r in outputs if " submit " in line)
    assert submit.stdout.strip() == "acme-db-1"
    refusal = next(r for line, r in outputs if "# refused" in line)
    assert refusal.stderr.strip().startswith("error: refused: cannot approve")
    assert "CVE-2026-28388" in refusal.stderr
    first_scan = next(r for line, r in outputs if "--wait awaiting_review" in line)
    assert "CVE-2026-28388" in first_scan.stdout and "critical" in first_scan.stdout
    assert "red" in first_scan.stdout
    shows = [r.stdout for line, r in outputs if line.startswith("storemod listing show")]
    listing, on_hold = shows
    assert "ON HOLD" not in listing and "ON HOLD" in on_hold
    assert outputs[-1][1].stdout.strip() == "no open SLA clocks"
    assert "Acme DB (acme-db) by acme" in listing
    assert re.search(r"Standard\s+│\s+1\.1\s+│\s+green", listing), listing
    mail = sorted((dev_mode.data_dir / "mail").glob("*.eml"))
    subjects = [
        next(x for x in p.read_text().splitlines() if x.startswith("Subject:")) for p in mail
    ]
    assert any("Published in the store" in s for s in subjects)
    # Six about the submission; the manual hold and restore tell the publisher too.
    assert len(subjects) == 8, subjects

    # Ctrl-C stops everything; no Temporal server is left behind.
    assert dev_mode.stop() == 0
    time.sleep(0.5)
    leftover = subprocess.run(["pgrep", "-f", "--", f"--port {dev_mode.port}"], capture_output=True)
    assert leftover.returncode == 1, leftover.stdout

    # Running it again resumes where it was: workflows and listing are still there.
    dev_mode.start()
    status = cli(dev_mode.env, "--as", "alice", "status", "acme-db-1")
    assert status.returncode == 0, status.stderr
    assert "state: published" in status.stdout and "revision 2" in status.stdout
    again = cli(dev_mode.env, "--as", "mia", "approve", "acme-db-1")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "error: refused: submission acme-db-1 is published; it takes no more decisions"
    )
    assert dev_mode.stop() == 0


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A data folder with users and a publisher, and no Temporal server at all:
    every bad input below must be refused before anything is started. Shared by
    the bad-input tests: each checks that it changed nothing."""
    tmp_path = tmp_path_factory.mktemp("offline")
    env = {
        **os.environ,
        "STOREMOD_DATA_DIR": str(tmp_path / "state"),
        "STOREMOD_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    db = tmp_path / "state" / "storemod.db"
    setup = [
        "import asyncio, sys",
        "from persistence.store import Store",
        "from models.identity import Role",
        "async def main():",
        f"    s = await Store.open('sqlite+aiosqlite:///{db}')",
        "    await s.add_user('admin', Role.ADMIN)",
        "    await s.add_user('mia', Role.MODERATOR)",
        "    await s.close()",
        "asyncio.run(main())",
    ]
    subprocess.run([sys.executable, "-c", "\n".join(setup)], cwd=ROOT, check=True)
    registered = cli(env, "--as", "alice", "publisher", "register", "examples/profile.yaml")
    assert registered.returncode == 0, registered.stderr
    return env


def snapshot(env: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table except the audit trail (refusals are audited by design)."""
    db = Path(env["STOREMOD_DATA_DIR"]) / "storemod.db"
    with sqlite3.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if r[0] not in {"audit_events", "alembic_version"}
        ]
        return {t: sorted(map(tuple, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}


BAD_INPUT = [
    (["frobnicate"], "No such command"),
    (["--as", "mia", "queue", "--bogus"], "No such option"),
    (["user", "add", "zed", "--role", "moderator"], "say who acts"),
    (["--as", "nobody", "user", "add", "zed", "--role", "moderator"], "unknown user 'nobody'"),
    (["--as", "mia", "user", "add", "zed", "--role", "moderator"], "this needs a admin"),
    (["--as", "admin", "user", "add", "Zed!", "--role", "moderator"], "user name 'Zed!'"),
    (["--as", "admin", "user", "add", "zed", "--role", "pope"], "'pope' is not one of"),
    (["--as", "admin", "user", "add", "zed", "--role", "publisher"], "needs --publisher"),
    (["--as", "admin", "user", "add", "mia", "--role", "moderator"], "already exists"),
    (["--as", "bob", "publisher", "register", "missing.yaml"], "missing.yaml"),
    (["--as", "bob", "publisher", "register", "examples/manifest.yaml"], "problem(s)"),
    (["--as", "mia", "publisher", "register", "examples/profile.yaml"], "mia"),
    (["--as", "alice", "publisher", "show", "nope"], "no publisher 'nope'"),
    (["--as", "alice", "submit", "nope.yaml"], "nope.yaml"),
    (["--as", "alice", "submit", "examples/profile.yaml"], "problem(s)"),
    (["--as", "mia", "submit", "examples/manifest.yaml"], "this needs a publisher"),
    (["--as", "alice", "status", "acme-db-9"], "no submission 'acme-db-9'"),
    (["--as", "alice", "status", "acme-db-9", "--wait", "done"], "'done' is not one of"),
    (["--as", "alice", "queue"], "this needs a moderator or admin"),
    (["--as", "mia", "approve", "acme-db-9"], "no submission 'acme-db-9'"),
    (["--as", "mia", "request-changes", "acme-db-9", "--reason", ""], "a reason cannot be empty"),
    (["--as", "mia", "reject", "acme-db-9", "--reason", "x"], "no submission 'acme-db-9'"),
    (
        [
            "--as",
            "mia",
            "grant-exception",
            "acme-db-9",
            "CVE-2026-28388",
            "--justification",
            "ok",
            "--expires",
            "next week",
        ],
        "is not a date",
    ),
    (["--as", "alice", "resubmit", "acme-db-9"], "no submission 'acme-db-9'"),
    (["--as", "alice", "resubmit", "acme-db-9", "--manifest", "nope.yaml"], "nope.yaml"),
    (["--as", "alice", "withdraw", "acme-db-9"], "no submission 'acme-db-9'"),
    (["listing", "show", "acme-db"], "no published listing 'acme-db'"),
    (["--as", "mia", "advisories", "import", "nowhere"], "nowhere"),
    (["--as", "alice", "advisories", "import", "examples/advisories"], "this needs a moderator"),
    (["--as", "alice", "audit"], "this needs a moderator or admin"),
    (["--as", "mia", "listing", "hold", "acme-db", "--reason", "x"], "no published listing"),
    (["--as", "mia", "listing", "hold", "acme-db"], "Missing option '--reason'"),
    (["--as", "alice", "listing", "hold", "acme-db", "--reason", "x"], "needs a moderator"),
    (
        [
            "--as",
            "mia",
            "listing",
            "grant-exception",
            "acme-db",
            "CVE-2026-1",
            "--justification",
            "x",
            "--expires",
            "soon",
        ],
        "is not a date",
    ),
    (["--as", "alice", "clocks"], "this needs a moderator or admin"),
    (["--as", "alice", "certify", "request", "acme-db-9", "--kind", "container"], "no submission"),
    (
        ["--as", "alice", "certify", "request", "acme-db-9", "--kind", "gold"],
        "'gold' is not one of",
    ),
    (["--as", "mia", "certify", "request", "acme-db-9", "--kind", "plugin"], "needs a publisher"),
    (
        ["--as", "mia", "certify", "sign-off", "acme-db-9", "--kind", "container", "--waive", "x"],
        "write CHECK-ID=reason",
    ),
    (["--as", "alice", "certify", "status", "acme-db-9", "--kind", "container"], "no submission"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_changes_nothing(
    offline_env: dict[str, str], args: list[str], message: str
) -> None:
    before = snapshot(offline_env)
    result = cli(offline_env, *args, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error: "), result.stderr
    assert message in result.stderr, result.stderr
    assert snapshot(offline_env) == before


def test_bad_setting_is_reported_without_traceback(offline_env: dict[str, str]) -> None:
    env = {**offline_env, "STOREMOD_ABANDON_AFTER": "-P1D"}
    result = cli(env, "--as", "mia", "queue")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid setting abandon_after"), result.stderr
    assert "Traceback" not in result.stderr


def test_temporal_down_is_reported_without_traceback(offline_env: dict[str, str]) -> None:
    result = cli(offline_env, "--as", "alice", "submit", "examples/manifest.yaml")
    assert result.returncode == 2
    assert "cannot reach Temporal" in result.stderr and "Traceback" not in result.stderr
    assert "acme-db" not in str(snapshot(offline_env).get("submissions", []))
