"""Ordered side effects of a workflow: database mirror, audit rows, emails.

A workflow queues effects as it changes state; one task drains them in order.
Update handlers therefore return as soon as a decision is applied, and a slow
SMTP relay or a database outage delays the effects, never the decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.activity_io import (
        MARK_NOTICE_SENT,
        SEND_NOTICE,
        MarkNoticeRequest,
        NoticeRequest,
        NoticeResult,
    )

# Bookkeeping activities must survive a database outage: retry without limit,
# backing off to one attempt a minute.
RECORD_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
# Mail is retried for as long as the relay needs; the outbox keeps it single.
NOTICE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))


class EffectQueue:
    """A FIFO of activity calls drained by one workflow task."""

    def __init__(self) -> None:
        self._effects: list[Callable[[], Awaitable[Any]]] = []
        self._draining = False

    def activity(self, name: str, arg: Any, retry: RetryPolicy = RECORD_RETRY) -> None:
        """Queue one activity call, retried by ``retry``."""
        self._effects.append(
            lambda: workflow.execute_activity(
                name, arg, start_to_close_timeout=timedelta(minutes=1), retry_policy=retry
            )
        )

    def notice(self, request: NoticeRequest) -> None:
        """Queue one email through the outbox."""
        self._effects.append(lambda: send_notice(request))

    def call(self, effect: Callable[[], Awaitable[Any]]) -> None:
        """Queue any other awaitable effect."""
        self._effects.append(effect)

    def idle(self) -> bool:
        return not self._effects and not self._draining

    async def drain_forever(self) -> None:
        """Run as a workflow task: execute effects in the order they were queued."""
        while True:
            await workflow.wait_condition(lambda: bool(self._effects))
            self._draining = True
            try:
                while self._effects:
                    await self._effects.pop(0)()
            finally:
                self._draining = False


async def send_notice(request: NoticeRequest) -> None:
    """Send through the outbox; mark it later if the database was down at the mark."""
    try:
        result = await workflow.execute_activity(
            SEND_NOTICE,
            request,
            result_type=NoticeResult,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=NOTICE_RETRY,
        )
    except ActivityError as err:
        # The outbox gave up (retry window over, or the notice cannot be built):
        # `storemod notices --failed` lists it for an operator to resend. The
        # workflow must not stall on a mail.
        workflow.logger.warning("notice %s not delivered: %s", request.key, err.cause)
        return
    if result is not None and not result.marked:
        await workflow.execute_activity(
            MARK_NOTICE_SENT,
            MarkNoticeRequest(result.outbox_key),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RECORD_RETRY,
        )
