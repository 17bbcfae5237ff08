"""send_notice: one email per event and recipient, through the outbox."""

from __future__ import annotations

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
from notifications.email import (
    InvalidMessage,
    RelayRejected,
    RelayUnavailable,
    build_message,
    send_message,
)
from notifications.render import NoticeError, render_notice
from persistence.errors import StoreUnavailable
from persistence.store import Store
from settings import Settings


class NoticeActivities:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @activity.defn(name=SEND_NOTICE)
    async def send_notice(self, req: NoticeRequest) -> NoticeResult:
        """Render and send a notice unless the outbox says the relay already took it.

        The outbox row is written before sending and marked after the relay
        accepts, so a retry after acceptance sends nothing. A worker dying in the
        instant between acceptance and the end of this activity is the one window
        where a second copy can go out; it carries the same Message-ID, so mail
        clients fold it. A database down at the mark does not widen that window:
        the activity still succeeds and the workflow marks the row later.
        """
        key = f"{req.key}/{req.recipient}"
        log = get_logger(submission=req.subject_id, notice=req.template, key=key)
        existing = await self._store.get_notice(key)
        if existing is not None and existing.sent_at is not None:
            log.info("notice already sent")
            return NoticeResult(outbox_key=key)
        try:
            rendered = render_notice(req.template, req.context)
            message = build_message(rendered, self._settings.mail_from, req.recipient, key)
        except (NoticeError, InvalidMessage) as err:
            # A bug or bad address, not an outage: retrying cannot help.
            raise ApplicationError(
                f"notice {key} cannot be built: {err}", non_retryable=True
            ) from err
        await self._store.claim_notice(key, req.recipient, rendered.subject, req.template)
        smtp = self._settings
        try:
            await send_message(
                message,
                host=smtp.smtp_host,
                port=smtp.smtp_port,
                username=smtp.smtp_username,
                password=smtp.smtp_password.get_secret_value() if smtp.smtp_password else None,
                starttls=smtp.smtp_starttls,
                timeout=smtp.smtp_timeout_seconds,
            )
        except RelayUnavailable as err:
            await self._store.record_notice_error(key, str(err))
            log.warning("relay unavailable, will retry", error=str(err))
            raise
        except RelayRejected as err:
            await self._store.record_notice_error(key, str(err))
            raise ApplicationError(f"relay refused {key}: {err}", non_retryable=True) from err
        try:
            await self._store.mark_notice_sent(key)
        except StoreUnavailable as err:
            # The relay has the mail: failing now would send it again on retry.
            log.warning("notice sent, outbox mark deferred", error=str(err))
            return NoticeResult(outbox_key=key, marked=False)
        log.info("notice sent")
        return NoticeResult(outbox_key=key)

    @activity.defn(name=MARK_NOTICE_SENT)
    async def mark_notice_sent(self, req: MarkNoticeRequest) -> None:
        """Mark an accepted notice as sent once the database is reachable again."""
        await self._store.mark_notice_sent(req.outbox_key)
