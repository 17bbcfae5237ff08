"""Serve a plugin object over HTTP on a loopback port or a unix socket, in a thread.

A plugin object has ``handle(path, body) -> (status, content_type, body)``;
``PluginServer`` turns it into a real HTTP/1.1 server (``http.server``) and
records every request it receives.
"""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol


class Plugin(Protocol):
    """Answers (status, content type, body), optionally with extra headers as a 4th item."""

    def handle(
        self, path: str, body: bytes
    ) -> tuple[int, str, bytes] | tuple[int, str, bytes, dict[str, str]]: ...


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class PluginServer:
    """``plugin`` on 127.0.0.1:``port`` (0 picks a free one, see ``url``) or on a unix socket."""

    def __init__(self, plugin: Plugin, socket_path: Path | None = None, port: int = 0) -> None:
        self.plugin = plugin
        # (method, path, headers, body) of every request received
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle and delayed
            # ACKs add ~40 ms to every call on a kept-alive connection.
            disable_nagle_algorithm = socket_path is None

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(("POST", self.path, dict(self.headers), body))
                answer = owner.plugin.handle(self.path, body)
                headers = answer[3] if len(answer) == 4 else {}
                self._answer(answer[0], answer[1], answer[2], headers)

            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(("GET", self.path, dict(self.headers), b""))
                self._answer(405, "text/plain", b"plugins answer POST only\n")

            def _answer(
                self,
                status: int,
                content_type: str,
                payload: bytes,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

            def address_string(self) -> str:  # a unix socket has no client address
                return "local"

        self.server: socketserver.BaseServer
        if socket_path is not None:
            self.server = _UnixHTTPServer(str(socket_path), Handler)
            self.url = f"unix://{socket_path}"
        else:
            self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PluginServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
