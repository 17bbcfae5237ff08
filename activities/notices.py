"""send_notice: one email per event and recipient, through the outbox.

What is guaranteed (README "Notices: what is guaranteed" says the same):

- Each notice is keyed by its event and recipient (``{event key}/{recipient}``).
  Its outbox row, with the whole rendered message, is written before the first
  attempt; every attempt and every resend sends exactly those stored bytes.
- Once the relay has accepted a notice and the row is marked sent, nothing sends
  it again: not a retried activity, a restarted worker, a replayed workflow or a
  second resend.
- The one gap: the relay accepted the message and the worker died (or lost the
  activity) before the mark. The retry then sends a second copy. It is
  byte-identical, with the same Message-ID and Date, so mail clients and the
  relay's duplicate detection fold it into one; the outbox ends up marked sent
  once, with the attempt counted. A database outage at the mark does not open
  this gap: the activity succeeds with ``marked=False`` and the workflow marks it
  later (``mark_notice_sent``).
- A relay that cannot take the message (refused connection, timeout, 4xx) is
  retried with backoff until ``notice_retry_window`` has passed since the row
  was created; then the row is marked failed and the activity raises a
  non-retryable ``ApplicationError`` of type ``NoticeFailed``. A 5xx refusal,
  or a notice that cannot be built, fails the same way at once. Failed notices
  are listed by ``storemod notices --failed`` and re-sent, once, by
  ``storemod notices resend KEY`` (audited with who resent it).
"""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from temporalio import activity
from temporalio.exceptions import ApplicationError

from logs import get_logger
from models.activity_io import (
    MARK_NOTICE_SENT,
    SEND_NOTICE,
    MarkNoticeRequest,
    NoticeRequest,
    NoticeResult,
)
from models.records import AuditEvent, NoticeRecord
from notifications.email import (
    InvalidMessage,
    RelayRejected,
    RelayUnavailable,
    build_message,
    send_message,
)
from notifications.render import NoticeError, render_notice
from persistence.errors import ConflictError, NotFoundError, StoreUnavailable
from persistence.store import Store
from settings import Settings

NOTICE_FAILED = "NoticeFailed"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: str
    maintype: str = "text"
    subtype: str = "csv"


@dataclass(frozen=True)
class PreparedNotice:
    """An outbox row claimed for one attempt, and the exact message to send."""

    key: str
    record: NoticeRecord
    message: EmailMessage


class NoticeResendError(Exception):
    """A resend was refused or failed; the message says why (one line)."""


def _parse(stored: str) -> EmailMessage:
    msg = email.message_from_string(stored, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def notice_failed(key: str, why: str) -> ApplicationError:
    """The non-retryable error a workflow catches to carry on without this notice."""
    return ApplicationError(
        f"notice {key} failed: {why}; resend with `storemod notices resend {key}`",
        key,
        type=NOTICE_FAILED,
        non_retryable=True,
    )


async def transmit(settings: Settings, message: EmailMessage) -> None:
    """Hand ``message`` to the configured relay (STARTTLS and login from settings)."""
    await send_message(
        message,
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )


class NoticeActivities:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    # --- the pieces, in order: prepare, transmit, mark ---------------------------------

    async def prepare(
        self,
        key: str,
        recipient: str,
        template: str,
        context: dict[str, object],
        attachments: Sequence[Attachment] = (),
    ) -> PreparedNotice | None:
        """Claim the outbox row (storing the rendered message on the first claim).

        None when the notice was already sent. Raises ``NoticeFailed`` when it was
        given up on earlier, or cannot be built (a bug or a bad address).
        """
        existing = await self._store.get_notice(key)
        if existing is not None and existing.sent_at is not None:
            return None
        if existing is not None and existing.failed_at is not None:
            raise notice_failed(key, existing.last_error or "given up earlier")
        try:
            rendered = render_notice(template, context)
            message = build_message(rendered, self._settings.mail_from, recipient, key)
            for item in attachments:
                message.add_attachment(
                    item.content,
                    subtype=item.subtype,
                    filename=item.filename,
                )
        except (NoticeError, InvalidMessage) as err:
            # Retrying cannot help: record it where operators look, then stop.
            await self._store.claim_notice(key, recipient, f"({template} not built)", template)
            await self._store.mark_notice_failed(key, f"cannot be built: {err}")
            raise notice_failed(key, f"cannot be built: {err}") from err
        record, stored = await self._store.claim_notice_message(
            key, recipient, rendered.subject, template, message.as_string()
        )
        if record.sent_at is not None:  # another worker finished it meanwhile
            return None
        return PreparedNotice(key=key, record=record, message=_parse(stored))

    async def transmit(self, prepared: PreparedNotice) -> None:
        """Send the prepared message; on failure record why and decide retry or give up."""
        key = prepared.key
        try:
            await transmit(self._settings, prepared.message)
        except RelayUnavailable as err:
            age = datetime.now(UTC) - prepared.record.created_at
            if age >= self._settings.notice_retry_window:
                await self._store.mark_notice_failed(key, str(err))
                raise notice_failed(
                    key, f"relay unavailable for {str(age).split('.')[0]} (window over): {err}"
                ) from err
            await self._store.record_notice_error(key, str(err))
            raise
        except RelayRejected as err:
            await self._store.mark_notice_failed(key, str(err))
            raise notice_failed(key, f"the relay refused it: {err}") from err

    async def mark(self, prepared: PreparedNotice) -> bool:
        """Mark the row sent; False when the database is down (the caller marks later)."""
        try:
            await self._store.mark_notice_sent(prepared.key)
        except StoreUnavailable:
            return False
        return True

    async def deliver(
        self,
        key: str,
        recipient: str,
        template: str,
        context: dict[str, object],
        attachments: Sequence[Attachment] = (),
        subject_id: str = "",
    ) -> NoticeResult:
        """prepare, transmit, mark: the whole outbox protocol for one notice."""
        log = get_logger(submission=subject_id, notice=template, key=key)
        prepared = await self.prepare(key, recipient, template, context, attachments)
        if prepared is None:
            log.info("notice already sent")
            return NoticeResult(outbox_key=key)
        try:
            await self.transmit(prepared)
        except RelayUnavailable as err:
            log.warning("relay unavailable, will retry", error=str(err))
            raise
        except ApplicationError as err:
            log.error("notice failed", error=str(err))
            raise
        if not await self.mark(prepared):
            # The relay has the mail: failing now would send it again on retry.
            log.warning("notice sent, outbox mark deferred")
            return NoticeResult(outbox_key=key, marked=False)
        log.info("notice sent")
        return NoticeResult(outbox_key=key)

    # --- activities -------------------------------------------------------------------

    @activity.defn(name=SEND_NOTICE)
    async def send_notice(self, req: NoticeRequest) -> NoticeResult:
        """Render and send a notice unless the outbox says the relay already took it.

        See the module docstring for exactly what is guaranteed, including the
        one duplicate window (accepted by the relay, worker dead before the mark:
        a byte-identical copy with the same Message-ID) and the retry window
        after which a non-retryable ``NoticeFailed`` error is raised.
        """
        return await self.deliver(
            f"{req.key}/{req.recipient}",
            req.recipient,
            req.template,
            req.context,
            subject_id=req.subject_id,
        )

    @activity.defn(name=MARK_NOTICE_SENT)
    async def mark_notice_sent(self, req: MarkNoticeRequest) -> None:
        """Mark an accepted notice as sent once the database is reachable again."""
        await self._store.mark_notice_sent(req.outbox_key)


async def resend_notice(store: Store, settings: Settings, key: str, actor: str) -> NoticeRecord:
    """Send a failed notice again, once, and audit who did it.

    Raises ``NoticeResendError`` when the notice does not exist, was sent already,
    has not failed (it is still retried), or the relay is still unavailable (the
    notice is then failed again, ready for another resend).
    """
    try:
        record, stored = await store.begin_resend(key)
    except (NotFoundError, ConflictError) as err:
        raise NoticeResendError(str(err)) from None
    try:
        await transmit(settings, _parse(stored))
    except (RelayUnavailable, RelayRejected) as err:
        await store.mark_notice_failed(key, str(err))
        raise NoticeResendError(f"notice {key} not resent: {err}") from None
    await store.mark_notice_sent(key)
    await store.append_audit(
        AuditEvent(
            key=f"notice-resent/{key}/{uuid.uuid4()}",
            actor=actor,
            action="notice_resent",
            subject_type="notice",
            subject_id=key,
            at=datetime.now(UTC),
            details={"recipient": record.recipient, "template": record.template},
        )
    )
    sent = await store.get_notice(key)
    assert sent is not None
    return sent
