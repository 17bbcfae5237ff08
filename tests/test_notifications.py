"""Notices: templates rendered safely, sent over real SMTP to a real aiosmtpd sink, read back."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from models.scan import Finding, ScanColour, ScanSummary, SeverityClass
from notifications.catalog import CATALOG, COMMON_KEYS
from notifications.email import (
    InvalidMessage,
    RelayRejected,
    RelayUnavailable,
    build_message,
    message_id_for,
    send_message,
)
from notifications.mail_sink import MailSink, list_mail, read_mail, store_message
from notifications.render import (
    SUBJECT_MAX,
    NoticeContextError,
    RenderedNotice,
    UnknownNotice,
    clean_subject,
    render_notice,
)

TEMPLATES = Path(__file__).resolve().parent.parent / "notifications" / "templates"
SENDER = "Store Moderation <moderation@store.localhost>"
HOSTILE = "<script>alert('x')</script>"
INJECTION = "Acme DB\r\nBcc: victim@evil.example\r\n\r\n{{ 7*7 }}"


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def finding(cve: str, severity: SeverityClass, score: float | None, **kw: Any) -> Finding:
    values: dict[str, Any] = {
        "advisory_id": f"DSA-{cve[-4:]}",
        "cve_id": cve,
        "package": "openssl",
        "installed_version": "3.0.11-1~deb12u1",
        "ecosystem": "Debian:12",
        "severity": severity,
        "layer_index": 2,
        "layer_digest": "sha256:" + "ab12" * 16,
        "fixed_version": "3.0.13-1~deb12u1",
        "cvss_score": score,
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" if score else None,
        "summary": HOSTILE,
    }
    values.update(kw)
    return Finding(**values)


def scans() -> list[dict[str, Any]]:
    red = ScanSummary(
        tier="Standard",
        tag="1.0",
        image_ref="oci:/images/acme-db:1.0",
        digest="sha256:" + "cd34" * 16,
        os="debian 12",
        component_count=143,
        colour=ScanColour.RED,
        findings=[
            finding("CVE-2024-0003", SeverityClass.MINOR, 3.1, fixed_version=None),
            finding("CVE-2024-0001", SeverityClass.CRITICAL, 9.8),
            finding("CVE-2024-0002", SeverityClass.MAJOR, 5.3, package="zlib1g<b>"),
        ],
        counts={"critical": 1, "major": 1, "minor": 1, "unscored": 0},
    )
    broken = ScanSummary(
        tier="Pro",
        tag="2.0",
        image_ref="oci:/images/acme-db:2.0",
        digest="",
        os="",
        component_count=0,
        colour=ScanColour.RED,
        error="manifest unknown: tag 2.0 not in the layout",
    )
    return [asdict(red), asdict(broken)]


def hostile_context() -> dict[str, Any]:
    return {
        "publisher_name": f"Acme {HOSTILE}",
        "product": "acme-db",
        "product_name": INJECTION,
        "submission_id": "sub-0001",
        "revision": 3,
        "actor": "mod<i>erator</i>",
        "scans": scans(),
        "reasons": [
            {"field": "short_description", "cve": None, "text": f"Too vague\r\nSubject: {HOSTILE}"},
            {"field": None, "cve": "CVE-2024-0001", "text": "Upgrade openssl to 3.0.13"},
            {"text": "{{ config }} general remark"},
        ],
        "problems": [{"field": "logo", "message": f"is 511x511 px {HOSTILE}"}],
        "comment": f"Please fix {HOSTILE}",
        "cve": "CVE-2024-0001\r\nX-Evil: 1",
        "justification": f"Not reachable {HOSTILE}",
        "expires_at": "2025-03-01 00:00 UTC",
        "deadline": "2025-02-01 00:00 UTC",
        "manifest": {
            "name": INJECTION,
            "short_description": HOSTILE,
            "category": "Databases",
            "tags": ["database", "sql"],
            "tiers": [
                {
                    "name": "Standard",
                    "price": {"amount": "0.00", "currency": "USD"},
                    "source": {"repository": "oci:/images/acme-db", "tags": ["1.0"]},
                }
            ],
        },
        "badges": ["Certified Container"],
        "listing_url": "https://store.example.com/acme/acme-db",
        # SLA and listing notices (issue 4)
        "severity": "critical",
        "package": f"openssl{HOSTILE}",
        "installed_version": "3.0.11-1~deb12u1",
        "fixed_version": "3.0.13-1~deb12u1",
        "cvss_score": 9.8,
        "reason": f"CVE-2024-0001 unfixed past its deadline {HOSTILE}",
        # monthly report
        "month": "2025-02",
        "report": hostile_report(),
    }


def hostile_report() -> dict[str, Any]:
    return {
        "publisher": "acme",
        "month": "2025-02",
        "period": "2025-02-01 00:00 UTC to 2025-03-01 00:00 UTC",
        "downloads": {"free": 2, "paid": 1, "total": 3},
        "downloads_by_hour": [{"date": "2025-02-03", "hour": "07", "free": 2, "paid": 1}],
        "counts": {"purchases": 1, "cancellations": 0, "refunds": 0, "taxes": 1},
        "money": [
            {
                "currency": "EUR",
                "gross": "10.00",
                "refunds": "0.00",
                "taxes": "1.00",
                "net_sales": "9.00",
                "fee_percent": "20",
                "fee": "1.80",
                "amount": "7.20",
                "arithmetic": "10.00 - 0.00 - 1.00 - 1.80 (20% of 9.00) = 7.20 EUR",
            }
        ],
        "subscriptions": [
            {
                "customer": f"x{HOSTILE}@example.com",
                "product": "acme-db",
                "tier": "Pro",
                "started": "2025-01-10 08:00 UTC",
                "ended": "",
                "days": "12.5",
            }
        ],
    }


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as running:
        yield running


# --------------------------------------------------------------------------- catalog


def test_catalog_and_templates_match() -> None:
    on_disk = {p.name.split(".")[0] for p in TEMPLATES.glob("*.j2") if not p.name.startswith("_")}
    assert on_disk == set(CATALOG)
    for name, spec in CATALOG.items():
        assert spec.name == name
        assert (TEMPLATES / f"{name}.txt.j2").is_file()
        assert (TEMPLATES / f"{name}.html.j2").is_file()
        assert spec.event and spec.subject
        assert spec.required_keys[: len(COMMON_KEYS)] == COMMON_KEYS
    assert set(CATALOG) == {
        "submission_received",
        "scan_results",
        "changes_requested",
        "approved",
        "rejected",
        "exception_granted",
        "published",
        "withdrawn",
        "abandonment_warning",
        "abandoned",
        "validation_failed",
        "sla_started",
        "sla_reminder",
        "listing_hold",
        "listing_hold_subscriber",
        "listing_restored",
        "listing_restored_subscriber",
        "listing_revoked",
        "listing_revoked_subscriber",
        "monthly_report",
    }


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_notice_renders_hostile_input_safely(name: str) -> None:
    notice = render_notice(name, hostile_context())
    # One header line: no CR/LF or other control characters can reach the Subject.
    assert notice.subject
    assert not re.search(r"[\x00-\x1f\x7f]", notice.subject)
    assert len(notice.subject) <= SUBJECT_MAX
    if name == "monthly_report":  # about the publisher, not one product
        assert "Acme <script>" in notice.subject
    else:
        assert "Acme DB Bcc: victim@evil.example" in notice.subject
    # HTML: data is escaped, never markup.
    assert "<script>" not in notice.html and "<i>erator" not in notice.html
    assert "&lt;script&gt;" in notice.html
    # Text: data shown as written, not HTML-escaped.
    assert "&lt;" not in notice.text and "&#39;" not in notice.text
    assert "Acme <script>alert('x')</script>" in notice.text
    # Data is never evaluated as a template.
    for body in (notice.text, notice.html):
        assert "{{ 7*7 }}" in body
        assert "49" not in body


def test_scan_results_list_every_finding_in_both_parts() -> None:
    notice = render_notice("scan_results", hostile_context())
    assert "1 critical, 1 major, 1 minor, 1 image not scanned" in notice.subject
    for body in (notice.text, notice.html):
        for cve in ("CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"):
            assert cve in body
        assert "DSA-0001" in body
        assert "3.0.11-1~deb12u1" in body and "3.0.13-1~deb12u1" in body
        assert "9.8" in body and "5.3" in body and "3.1" in body
        assert "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" in body
        assert "critical" in body and "major" in body and "minor" in body
        assert "sha256:ab12ab12ab12" in body
        assert "Standard" in body and "1.0" in body
        assert "manifest unknown: tag 2.0 not in the layout" in body
    assert "zlib1g<b>" in notice.text
    assert "zlib1g&lt;b&gt;" in notice.html
    assert "3.0.11-1~deb12u1 → 3.0.13-1~deb12u1" in notice.text
    assert "no fixed version yet" in notice.text
    # Worst first, whatever order the scanner reported them in.
    assert notice.text.index("CVE-2024-0001") < notice.text.index("CVE-2024-0002")
    assert notice.text.index("CVE-2024-0002") < notice.text.index("CVE-2024-0003")
    assert "#d7263d" in notice.html  # the red scan bar


def test_scan_results_accept_dataclasses_and_partial_dicts() -> None:
    ctx = hostile_context()
    summary = ScanSummary(
        tier="Standard",
        tag="1.0",
        image_ref="oci:/x:1.0",
        digest="sha256:" + "0" * 64,
        os="alpine 3.19",
        component_count=15,
        colour=ScanColour.GREEN,
    )
    ctx["scans"] = [summary]
    notice = render_notice("scan_results", ctx)
    assert "Security scan of revision 3: clean" in notice.subject
    assert "No known vulnerabilities." in notice.text


def test_reasons_per_field_and_per_cve() -> None:
    notice = render_notice("changes_requested", hostile_context())
    assert "- short_description: Too vague" in notice.text
    assert "- CVE-2024-0001: Upgrade openssl to 3.0.13" in notice.text
    assert "- {{ config }} general remark" in notice.text
    assert "Comment: Please fix <script>" in notice.text
    assert "<code>short_description</code>: Too vague" in notice.html
    assert "<strong>CVE-2024-0001</strong>: Upgrade openssl" in notice.html


def test_specific_notice_contents() -> None:
    ctx = hostile_context()
    granted = render_notice("exception_granted", ctx)
    assert "X-Evil" in granted.subject and "\n" not in granted.subject
    assert "2025-03-01 00:00 UTC" in granted.text and "Not reachable" in granted.text
    warning = render_notice("abandonment_warning", ctx)
    assert "2025-02-01 00:00 UTC" in warning.subject and "2025-02-01 00:00 UTC" in warning.html
    failed = render_notice("validation_failed", ctx)
    assert failed.subject.endswith("1 problem to fix in revision 3")
    assert "- logo: is 511x511 px" in failed.text
    published = render_notice("published", ctx)
    assert "https://store.example.com/acme/acme-db" in published.html
    assert "Standard: 0.00 USD, tags 1.0" in published.text
    assert "Certified Container" in published.html
    assert "Standard / 1.0: RED (critical 1, major 1, minor 1)" in published.text


def test_optional_keys_have_defaults() -> None:
    ctx = {k: hostile_context()[k] for k in COMMON_KEYS}
    for name in ("submission_received", "approved", "withdrawn", "abandoned"):
        notice = render_notice(name, ctx)
        assert "Comment:" not in notice.text


def test_missing_key_is_an_error() -> None:
    ctx = hostile_context()
    del ctx["deadline"]
    del ctx["actor"]
    with pytest.raises(NoticeContextError, match="actor, deadline"):
        render_notice("abandonment_warning", ctx)


def test_missing_nested_field_is_an_error() -> None:
    ctx = hostile_context()
    del ctx["scans"][0]["tier"]  # a required ScanSummary field, no default
    with pytest.raises(NoticeContextError, match="tier"):
        render_notice("scan_results", ctx)
    ctx = hostile_context()
    ctx["problems"] = [{"field": "logo"}]
    with pytest.raises(NoticeContextError, match="message"):
        render_notice("validation_failed", ctx)


def test_unknown_notice() -> None:
    with pytest.raises(UnknownNotice, match="'listing_exploded'.*scan_results"):
        render_notice("listing_exploded", hostile_context())


def test_clean_subject() -> None:
    assert clean_subject("a\r\nb\tc\x00d\x1b[31m") == "a b cd[31m"
    assert clean_subject("evil\u202egnp.exe\u2028x") == "evilgnp.exe x"
    long = clean_subject("word " * 100)
    assert len(long) <= SUBJECT_MAX and long.endswith("word…")
    assert clean_subject("x" * 500).endswith("…") and len(clean_subject("x" * 500)) == SUBJECT_MAX


# --------------------------------------------------------------------------- messages


def test_message_has_both_parts_and_a_deterministic_id() -> None:
    notice = render_notice("approved", hostile_context())
    one = build_message(notice, SENDER, "ops@acme.example.com", "approved:sub-0001:3")
    two = build_message(notice, SENDER, "ops@acme.example.com", "approved:sub-0001:3")
    other = build_message(notice, SENDER, "ops@acme.example.com", "approved:sub-0001:4")
    assert one["Message-ID"] == two["Message-ID"] != other["Message-ID"]
    assert one["Message-ID"] == message_id_for("approved:sub-0001:3", SENDER)
    assert one["Message-ID"].endswith("@store.localhost>")
    assert one.get_content_type() == "multipart/alternative"
    text = one.get_body(("plain",))
    html = one.get_body(("html",))
    assert text is not None and html is not None
    assert "approved revision 3" in text.get_content()
    assert "&lt;script&gt;" in html.get_content()
    assert one["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    "recipient",
    ["ops@acme.example.com\r\nBcc: victim@evil.example", "not an address", "a@b.com, c@d.com", ""],
)
def test_bad_recipient_is_refused(recipient: str) -> None:
    notice = RenderedNotice(subject="s", text="t", html="<p>h</p>")
    with pytest.raises(InvalidMessage):
        build_message(notice, SENDER, recipient, "k")


async def test_send_through_the_sink_and_read_back(sink: MailSink) -> None:
    assert sink.host is not None and sink.port is not None
    notice = render_notice("scan_results", hostile_context())
    msg = build_message(notice, SENDER, "Ops Team <ops@acme.example.com>", "scan:sub-0001:3")
    await send_message(msg, host=sink.host, port=sink.port, timeout=5)

    files = list_mail(sink.folder)
    assert len(files) == 1
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{10}\.eml", files[0].name)
    assert not [p for p in sink.folder.iterdir() if p.suffix != ".eml"]  # no temp files left

    [got] = read_mail(sink.folder)
    assert isinstance(got, EmailMessage)
    assert got["To"] == "Ops Team <ops@acme.example.com>"
    assert got["X-Envelope-To"] == "ops@acme.example.com"
    assert got["Subject"] == notice.subject
    assert got["Bcc"] is None
    assert got["Message-ID"] == message_id_for("scan:sub-0001:3", SENDER)
    text = got.get_body(("plain",))
    html = got.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == notice.text.replace("\r\n", "\n")
    assert b"\r\n" not in files[0].read_bytes()  # stored with local line endings
    assert "CVE-2024-0001" in html.get_content() and "&lt;script&gt;" in html.get_content()


async def test_a_retried_notice_is_recognisable_and_never_overwrites(sink: MailSink) -> None:
    assert sink.host is not None and sink.port is not None
    notice = render_notice("approved", hostile_context())
    for _ in range(2):
        msg = build_message(notice, SENDER, "ops@acme.example.com", "approved:sub-0001:3")
        await send_message(msg, host=sink.host, port=sink.port, timeout=5)
    got = read_mail(sink.folder)
    assert len(got) == 2 and len(set(list_mail(sink.folder))) == 2
    assert got[0]["Message-ID"] == got[1]["Message-ID"]
    assert sink.messages()[0]["Subject"] == notice.subject


def test_store_message_never_overwrites(tmp_path: Path) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = store_message(tmp_path, b"Subject: one\r\n\r\nsame\r\n", at)
    second = store_message(tmp_path, b"Subject: one\r\n\r\nsame\r\n", at)
    third = store_message(tmp_path, b"Subject: two\r\n\r\nother\r\n", at)
    assert first.name.startswith("20250102T030405.678901Z-")
    assert len({first, second, third}) == 3
    assert [m["Subject"] for m in read_mail(tmp_path)] == ["one", "one", "two"]


def test_read_mail_of_a_missing_folder(tmp_path: Path) -> None:
    assert read_mail(tmp_path / "nothing-yet") == []


def test_sink_start_stop_and_port_reuse(tmp_path: Path) -> None:
    sink = MailSink(tmp_path / "mail")
    host, port = sink.start("127.0.0.1", 0)
    assert host == "127.0.0.1" and port > 0 and sink.running
    with pytest.raises(RuntimeError, match="already running"):
        sink.start("127.0.0.1", 0)
    sink.stop()
    assert not sink.running
    again = MailSink(tmp_path / "mail")
    assert again.start("127.0.0.1", port) == ("127.0.0.1", port)  # the port is free again
    again.stop()


async def test_nothing_listening_is_relay_unavailable() -> None:
    msg = build_message(RenderedNotice("s", "t", "<p>h</p>"), SENDER, "ops@acme.example.com", "k")
    with pytest.raises(RelayUnavailable, match="unavailable"):
        await send_message(msg, host="127.0.0.1", port=unused_port(), timeout=2)


class _AnsweringHandler:
    """A real SMTP server answering RCPT with a fixed reply."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return self.reply


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("450 4.2.1 Mailbox busy, try later", RelayUnavailable, 450),
        ("550 5.1.1 No such user", RelayRejected, 550),
    ],
)
async def test_relay_replies_are_classified(reply: str, error: type[Exception], code: int) -> None:
    port = unused_port()
    controller = Controller(_AnsweringHandler(reply), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        msg = build_message(
            RenderedNotice("s", "t", "<p>h</p>"), SENDER, "ops@acme.example.com", "k"
        )
        with pytest.raises(error) as info:
            await send_message(msg, host="127.0.0.1", port=port, timeout=5)
        assert getattr(info.value, "code", None) == code
        assert reply.split(" ", 1)[1] in str(info.value)
    finally:
        controller.stop()


def test_build_message_cleans_a_hand_made_subject() -> None:
    notice = RenderedNotice(subject="Hello\r\nBcc: victim@evil.example", text="t", html="<p>h</p>")
    msg = build_message(notice, SENDER, "ops@acme.example.com", "k")
    assert msg["Subject"] == "Hello Bcc: victim@evil.example"
    assert msg["Bcc"] is None


# --------------------------------------------------------------------------- issue 4 and 5 notices


@pytest.mark.parametrize("name", sorted(n for n in CATALOG if n.endswith("_subscriber")))
def test_subscriber_notices_reveal_no_security_detail(name: str) -> None:
    notice = render_notice(name, hostile_context())
    for part in (notice.subject, notice.text, notice.html):
        assert "CVE-" not in part and "openssl" not in part and "critical" not in part
        assert "9.8" not in part
    assert "a security issue" in notice.text and "a security issue" in notice.html
    assert "Hello Acme" not in notice.text  # addressed to the customer, not the publisher
    assert "downloaded Acme DB" in notice.text.replace("\r\n", " ").replace("\n", " ")


def test_subscriber_notices_keep_a_plain_moderator_reason() -> None:
    ctx = hostile_context()
    ctx["reason"] = "The publisher lost the rights to distribute it"
    notice = render_notice("listing_revoked_subscriber", ctx)
    assert "because of The publisher lost the rights to distribute it" in notice.text


def test_sla_and_listing_notices_for_the_publisher() -> None:
    ctx = hostile_context()
    ctx.update(submission_id="", revision=0, cve="CVE-2024-0001")
    started = render_notice("sla_started", ctx)
    assert started.subject == (
        "[Acme DB Bcc: victim@evil.example {{ 7*7 }}] "
        "Critical CVE-2024-0001: fix by 2025-02-01 00:00 UTC"
    )
    assert "CVE-2024-0001: critical, CVSS 9.8" in started.text
    assert "3.0.11-1~deb12u1 → 3.0.13-1~deb12u1" in started.text
    assert "Submission:" not in started.text and "Submission:" not in started.html
    assert "opensslalert" not in started.html and "openssl&lt;script&gt;" in started.html
    hold = render_notice("listing_hold", ctx)
    assert "until 2025-02-01 00:00 UTC" in hold.subject
    assert "Reason: CVE-2024-0001 unfixed" in hold.text and "revoked on that date" in hold.text
    assert "Reminder: fix CVE-2024-0001" in render_notice("sla_reminder", ctx).subject
    assert "is restored" in render_notice("listing_restored", ctx).text
    assert "is revoked" in render_notice("listing_revoked", ctx).text


def test_monthly_report_shows_its_arithmetic() -> None:
    ctx = hostile_context()
    ctx.update(product="", product_name="", submission_id="", revision=0)
    notice = render_notice("monthly_report", ctx)
    assert notice.subject == "[Acme <script>alert('x')</script>] Store report for 2025-02"
    assert "EUR: gross 10.00 - refunds 0.00 - taxes 1.00 = net sales 9.00" in notice.text
    assert "EUR: net sales 9.00 - store fee 1.80 (20% of 9.00) = 7.20 EUR" in notice.text
    assert "2025-02-03  07:00" in notice.text
    assert "Product:" not in notice.text and "Product:" not in notice.html
    assert "<strong>7.20</strong>" in notice.html and "&lt;/script&gt;@example.com" in notice.html
