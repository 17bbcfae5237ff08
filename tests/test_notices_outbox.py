"""The outbox against a real aiosmtpd relay: outages retried inside the window, failed
after it, resent once by hand; and the documented duplicate window (relay accepted,
worker died before the mark) gives a byte-identical copy with the same Message-ID."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notices import NOTICE_FAILED, NoticeActivities, NoticeResendError, resend_notice
from models.activity_io import NoticeRequest
from notifications.email import RelayUnavailable, message_id_for
from notifications.mail_sink import MailSink, list_mail, read_mail
from persistence.store import Store
from settings import Settings
from tests.test_notifications import hostile_context

SENDER = Settings().mail_from


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(uniq: str, template: str = "approved") -> NoticeRequest:
    return NoticeRequest(
        key=f"sub-{uniq}/4/{template}",
        recipient="ops@acme.example.com",
        template=template,
        context=hostile_context(),
        subject_id=f"sub-{uniq}",
    )


def settings(port: int, **changes: Any) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_seconds=5, **changes)


def without_sink_headers(raw: bytes) -> bytes:
    """The message as the relay got it: the sink prepends Return-Path and X-Envelope-To."""
    return raw.split(b"\n", 2)[2]


async def test_outage_then_relay_back_sends_once(store: Store, uniq: str, tmp_path: Path) -> None:
    port = unused_port()
    acts = NoticeActivities(store, settings(port))
    env = ActivityEnvironment()
    req = request(uniq)
    key = f"{req.key}/{req.recipient}"
    for _ in range(2):  # the relay is down: retryable errors, nothing given up
        with pytest.raises(RelayUnavailable):
            await env.run(acts.send_notice, req)
    row = await store.get_notice(key)
    assert row is not None and row.attempts == 2 and row.last_error and row.failed_at is None
    sink = MailSink(tmp_path / "mail")
    sink.start("127.0.0.1", port)
    try:
        for _ in range(3):  # the relay is back; later retries find it sent
            result = await env.run(acts.send_notice, req)
            assert result.outbox_key == key and result.marked
        [mail] = read_mail(sink.folder)
        assert mail["Message-ID"] == message_id_for(key, SENDER)
        row = await store.get_notice(key)
        assert row is not None and row.sent_at is not None and row.attempts == 3
    finally:
        sink.stop()


async def test_window_expiry_marks_failed_then_resend_sends_exactly_once(
    store: Store, uniq: str, tmp_path: Path
) -> None:
    port = unused_port()
    conf = settings(port, notice_retry_window=timedelta(seconds=1))
    acts = NoticeActivities(store, conf)
    env = ActivityEnvironment()
    req = request(uniq, "scan_results")
    key = f"{req.key}/{req.recipient}"
    with pytest.raises(RelayUnavailable):
        await env.run(acts.send_notice, req)
    assert key not in [n.key for n in await store.list_failed_notices()]
    await asyncio.sleep(1.1)
    with pytest.raises(ApplicationError) as info:
        await env.run(acts.send_notice, req)
    assert info.value.type == NOTICE_FAILED and info.value.non_retryable
    assert "window over" in str(info.value) and f"storemod notices resend {key}" in str(info.value)
    [failed] = [n for n in await store.list_failed_notices() if n.key == key]
    assert failed.failed_at is not None and "unavailable" in (failed.last_error or "")
    # Called again (a new attempt, a replay): still failed, and nothing is attempted.
    with pytest.raises(ApplicationError, match="failed"):
        await env.run(acts.send_notice, req)
    assert (await store.get_notice(key)).attempts == failed.attempts  # type: ignore[union-attr]

    # Resend while the relay is still down: failed again, ready for another resend.
    with pytest.raises(NoticeResendError, match="not resent"):
        await resend_notice(store, conf, key, actor="root")
    assert key in [n.key for n in await store.list_failed_notices()]

    sink = MailSink(tmp_path / "mail")
    sink.start("127.0.0.1", port)
    try:
        sent = await resend_notice(store, conf, key, actor="root")
        assert sent.sent_at is not None and sent.failed_at is None
        with pytest.raises(NoticeResendError, match="already sent"):
            await resend_notice(store, conf, key, actor="root")
        [mail] = read_mail(sink.folder)
        assert mail["Message-ID"] == message_id_for(key, SENDER)
        assert "Security scan of revision 3" in str(mail["Subject"])
        # The workflow's activity, retried afterwards, sends nothing either.
        await env.run(acts.send_notice, req)
        assert len(list_mail(sink.folder)) == 1
    finally:
        sink.stop()
    [audit] = await store.query_audit(subject_id=key, action="notice_resent")
    assert audit.actor == "root" and audit.details["recipient"] == req.recipient
    assert key not in [n.key for n in await store.list_failed_notices()]


async def test_resend_refuses_unknown_and_still_retrying_notices(store: Store, uniq: str) -> None:
    conf = settings(unused_port())
    with pytest.raises(NoticeResendError, match="no notice"):
        await resend_notice(store, conf, f"nothing-{uniq}", actor="root")
    req = request(uniq)
    with pytest.raises(RelayUnavailable):
        await ActivityEnvironment().run(NoticeActivities(store, conf).send_notice, req)
    with pytest.raises(NoticeResendError, match="still being retried"):
        await resend_notice(store, conf, f"{req.key}/{req.recipient}", actor="root")


class _Refuse:
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, *args: Any) -> str:
        return "550 5.1.1 No such user"


async def test_permanent_refusal_fails_at_once(store: Store, uniq: str) -> None:
    port = unused_port()
    controller = Controller(_Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        req = request(uniq)
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(
                NoticeActivities(store, settings(port)).send_notice, req
            )
        assert info.value.type == NOTICE_FAILED and "550" in str(info.value)
        failed = await store.get_notice(f"{req.key}/{req.recipient}")
        assert failed is not None and failed.failed_at is not None and failed.attempts == 1
    finally:
        controller.stop()


async def test_unbuildable_notice_is_visible_as_failed(store: Store, uniq: str) -> None:
    req = request(uniq)
    req.recipient = "not an address"
    with pytest.raises(ApplicationError, match="cannot be built") as info:
        await ActivityEnvironment().run(
            NoticeActivities(store, settings(unused_port())).send_notice, req
        )
    assert info.value.type == NOTICE_FAILED
    key = f"{req.key}/{req.recipient}"
    assert key in [n.key for n in await store.list_failed_notices()]
    with pytest.raises(NoticeResendError, match="could not even be built"):
        await resend_notice(store, settings(unused_port()), key, actor="root")


async def test_worker_dead_between_acceptance_and_mark_sends_an_identical_copy(
    store: Store, uniq: str, tmp_path: Path
) -> None:
    """The documented gap: exactly one extra, byte-identical copy; then never again."""
    with MailSink(tmp_path / "mail") as sink:
        assert sink.port is not None
        acts = NoticeActivities(store, settings(sink.port))
        req = request(uniq, "published")
        key = f"{req.key}/{req.recipient}"
        # The first attempt's pieces: prepared and accepted by the relay; then the
        # worker "dies": mark() never runs.
        prepared = await acts.prepare(key, req.recipient, req.template, req.context)
        assert prepared is not None
        await acts.transmit(prepared)
        assert (await store.get_notice(key)).sent_at is None  # type: ignore[union-attr]
        await asyncio.sleep(0.01)  # a later clock must not change the copy's Date
        # Temporal retries the activity on another worker.
        env = ActivityEnvironment()
        assert (await env.run(acts.send_notice, req)).marked
        assert (await env.run(acts.send_notice, req)).marked  # and again: nothing sent
        files = list_mail(sink.folder)
        assert len(files) == 2
        first, second = (without_sink_headers(p.read_bytes()) for p in files)
        assert first == second
        one, two = read_mail(sink.folder)
        assert one["Message-ID"] == two["Message-ID"] == message_id_for(key, SENDER)
        row = await store.get_notice(key)
        assert row is not None and row.sent_at is not None and row.attempts == 2
