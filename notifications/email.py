"""Turn a rendered notice into a MIME message and hand it to an SMTP relay.

Errors are split the way a retry policy needs them: ``RelayUnavailable`` (the
relay could not take the message now: retry) and ``RelayRejected`` (the relay
refused this message for good: do not retry).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

import aiosmtplib

from notifications.render import RenderedNotice, clean_subject

__all__ = [
    "InvalidMessage",
    "MailError",
    "RelayRejected",
    "RelayUnavailable",
    "build_message",
    "message_id_for",
    "send_message",
]


class MailError(Exception):
    """A notice could not be built or sent; the message says why."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # the SMTP reply code, when the relay gave one


class InvalidMessage(MailError):
    """The sender or recipient is not a usable address (permanent)."""


class RelayUnavailable(MailError):
    """The relay cannot take the message now (refused connection, timeout, 4xx): retry later."""


class RelayRejected(MailError):
    """The relay refused the message permanently (5xx): retrying will not help."""


def _domain_of(address: str) -> str:
    pairs = getaddresses([address])
    addr = pairs[0][1] if pairs else ""
    return addr.rpartition("@")[2] or "storemod.invalid"


def message_id_for(key: str, sender: str) -> str:
    """The Message-ID of the notice with idempotency ``key``: the same key, the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_domain_of(sender)}>"


def _set_address(msg: EmailMessage, header: str, value: str) -> None:
    if any(ch in value for ch in "\r\n"):
        raise InvalidMessage(f"{header} address must be one line: {value!r}")
    try:
        msg[header] = value
        addresses: tuple[Address, ...] = msg[header].addresses
    except (ValueError, HeaderParseError, IndexError) as exc:
        raise InvalidMessage(f"invalid {header} address {value!r}: {exc}") from exc
    if len(addresses) != 1 or not addresses[0].domain or not addresses[0].username:
        del msg[header]
        raise InvalidMessage(f"invalid {header} address {value!r}: expected one name@domain")


def build_message(
    rendered: RenderedNotice, sender: str, recipient: str, message_id_key: str
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) with a Message-ID derived from the key.

    The Message-ID is the same for the same key, so a notice delivered twice
    after a retry is recognisable as one. Raises InvalidMessage for a bad address.
    """
    msg = EmailMessage()
    _set_address(msg, "From", sender)
    _set_address(msg, "To", recipient)
    # render_notice already cleans it; a hand-made RenderedNotice must not inject headers either.
    msg["Subject"] = clean_subject(rendered.subject)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id_for(message_id_key, sender)
    # RFC 3834: tells auto-responders not to answer a machine.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def _classify(code: int, what: str) -> MailError:
    if 400 <= code < 500:
        return RelayUnavailable(f"{what} (temporary, {code})", code)
    return RelayRejected(f"{what} ({code})", code)


async def send_message(
    msg: EmailMessage,
    *,
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    starttls: bool = False,
    timeout: float = 30.0,
) -> None:
    """Deliver ``msg`` to the relay at host:port.

    Raises RelayUnavailable when the relay cannot be reached or answers 4xx, and
    RelayRejected when it answers 5xx. Failed authentication and a missing
    STARTTLS are reported as RelayUnavailable: they are the relay's
    configuration, not the message's fault, and a retry after the operator fixes
    the settings delivers the message.
    """
    where = f"SMTP relay {host}:{port}"
    try:
        errors, _ = await aiosmtplib.send(
            msg,
            hostname=host,
            port=port,
            username=username,
            password=password,
            start_tls=starttls,
            timeout=timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise RelayUnavailable(
            f"{where} refused the login ({exc.code} {exc.message}); check the SMTP credentials",
            exc.code,
        ) from exc
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        error_cls = RelayUnavailable if any(400 <= c < 500 for c in codes) else RelayRejected
        raise error_cls(
            f"{where} refused the recipient(s): {detail}", codes[0] if codes else None
        ) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise _classify(exc.code, f"{where} answered {exc.message!r}") from exc
    except aiosmtplib.SMTPTimeoutError as exc:
        raise RelayUnavailable(f"{where} timed out after {timeout:g} s") from exc
    except aiosmtplib.SMTPNotSupported as exc:
        raise RelayUnavailable(f"{where}: {exc.message}; check the SMTP settings") from exc
    except aiosmtplib.SMTPException as exc:  # connect errors, disconnects
        raise RelayUnavailable(f"{where} is unavailable: {exc.message}") from exc
    except (OSError, TimeoutError) as exc:
        raise RelayUnavailable(f"{where} is unavailable: {exc}") from exc
    if errors:
        # Some recipients were refused and the others accepted: name the refused ones.
        detail = "; ".join(f"{rcpt}: {resp.code} {resp.message}" for rcpt, resp in errors.items())
        codes = [resp.code for resp in errors.values()]
        error_cls = RelayUnavailable if any(400 <= c < 500 for c in codes) else RelayRejected
        raise error_cls(f"{where} refused recipient(s): {detail}", codes[0])
