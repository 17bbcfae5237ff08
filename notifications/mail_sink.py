"""A local SMTP server that stores every message it receives as an ``.eml`` file.

The embedded mode (``storemod dev``) and the tests point the SMTP settings at
it instead of a real relay. Files are named ``<UTC timestamp>-<short hash>.eml``
so a folder listing is in arrival order; each is written to a hidden temporary
file first and then linked into place, so a reader never sees half a message and
an existing file is never overwritten.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import os
import socket
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["MailSink", "SinkHandler", "list_mail", "read_mail"]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def store_message(folder: Path, data: bytes, received_at: datetime | None = None) -> Path:
    """Write one message into ``folder`` atomically under a new name; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    at = (received_at or datetime.now(UTC)).astimezone(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%S.%fZ")
    short = hashlib.sha256(data).hexdigest()[:10]
    tmp = folder / f".{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        n = 0
        while True:
            name = f"{stamp}-{short}.eml" if n == 0 else f"{stamp}-{short}-{n}.eml"
            target = folder / name
            try:
                # link() fails if the target exists, where rename() would replace it.
                os.link(tmp, target)
                break
            except FileExistsError:
                n += 1
            except OSError:
                # A filesystem without hard links: fall back to check-then-rename.
                if target.exists():
                    n += 1
                    continue
                os.replace(tmp, target)
                break
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(folder)
    return target


class SinkHandler:
    """aiosmtpd handler: every accepted message becomes one ``.eml`` file in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        # Envelope recipients are what a real mailbox would show for Bcc'd mail.
        rcpts = ", ".join(envelope.rcpt_tos)
        prefix = (f"Return-Path: <{envelope.mail_from or ''}>\nX-Envelope-To: {rcpts}\n").encode(
            "utf-8", "surrogateescape"
        )
        # Stored with local line endings, as an MTA's local delivery (maildir) does.
        data = prefix + content.replace(b"\r\n", b"\n")
        try:
            await asyncio.to_thread(store_message, self.folder, data)
        except OSError as exc:
            # 451 makes the sender keep the message and retry: nothing is lost.
            return f"451 Requested action aborted: cannot store the message ({exc.strerror})"
        return "250 Message accepted for delivery"


class _BoundController(Controller):
    """A Controller serving on a socket we bound ourselves, so port 0 (any free port) works."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class MailSink:
    """A local SMTP server (aiosmtpd, in its own thread) storing mail as files in ``folder``.

    Use ``start(host, port)`` / ``stop()``, or ``with MailSink(folder) as sink:``
    (which starts on a free loopback port). ``port=0`` picks a free port;
    ``sink.port`` tells which.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.host: str | None = None
        self.port: int | None = None
        self._controller: _BoundController | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on host:port and return the address actually bound.

        Raises OSError (e.g. address in use) when the port cannot be bound.
        """
        if self._controller is not None:
            raise RuntimeError(f"mail sink already running on {self.host}:{self.port}")
        self.folder.mkdir(parents=True, exist_ok=True)
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.create_server((host, port), family=family)
        controller = _BoundController(
            SinkHandler(self.folder),
            sock,
            server_hostname="storemod-mail-sink",
            ready_timeout=10.0,
        )
        try:
            controller.start()
        except BaseException:
            sock.close()
            raise
        self._controller = controller
        self.host, self.port = controller.hostname, controller.port
        return self.host, self.port

    def stop(self) -> None:
        """Stop listening; messages already stored stay in the folder."""
        if self._controller is None:
            return
        controller, self._controller = self._controller, None
        controller.stop()

    def __enter__(self) -> MailSink:
        if self._controller is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        """Everything received so far, oldest first."""
        return read_mail(self.folder)


def list_mail(folder: Path) -> list[Path]:
    """The ``.eml`` files of ``folder``, oldest first (empty if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    # Names start with the UTC arrival time, so name order is time order.
    return sorted(p for p in folder.glob("*.eml") if p.is_file())


def read_mail(folder: Path) -> list[EmailMessage]:
    """Parse every stored message of ``folder``, oldest first."""
    messages: list[EmailMessage] = []
    for path in list_mail(folder):
        # policy.default makes the parser build EmailMessage objects.
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        messages.append(cast(EmailMessage, msg))
    return messages
