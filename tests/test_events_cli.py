# ruff: noqa: E501  (event rows are kept one per line, as in a real file)
"""The issue 5 commands as a user runs them (a real `storemod` process, an SQLite file):
events ingest, audit filters, report, notices --failed and resend."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from models.identity import Role
from models.records import SubmissionRecord
from notifications.mail_sink import MailSink, read_mail
from persistence.store import Store
from tests.conftest import free_port
from tests.test_store import profile

STOREMOD = str(Path(sys.executable).parent / "storemod")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STOREMOD, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_events_audit_report_and_notices_commands(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await Store.open(url)
    await store.add_user("root", Role.ADMIN)
    await store.register_publisher(profile("acme"), "alice")
    await store.register_publisher(profile("zed"), "zoe")
    await store.upsert_submission(
        SubmissionRecord("acme-db-1", "acme-db", "acme", "published", 1, "alice", {})
    )
    smtp_port = free_port()
    env = {
        **os.environ,
        "STOREMOD_DATABASE_URL": url,
        "STOREMOD_SMTP_PORT": str(smtp_port),
        "STOREMOD_STORE_FEE_PERCENT": "10",
    }
    events = tmp_path / "feb.jsonl"
    events.write_text(
        '{"event_id": "e1", "kind": "purchase", "at": "2025-02-03T10:00:00Z", "customer": "a@example.com", "product": "acme-db", "tier": "Pro", "amount": "10.00", "currency": "EUR"}\n'
        '{"event_id": "e2", "kind": "download", "at": "2025-02-03T10:00:00Z", "customer": "a@example.com", "customer_type": "free", "product": "ghost", "tier": "Free"}\n'
        '{"event_id": "e3", "kind": "download", "at": "2025-02-03", "customer": "a@example.com", "customer_type": "free", "product": "acme-db", "tier": "Free"}\n'
    )
    try:
        done = cli(env, "--as", "root", "events", "ingest", str(events))
        assert done.returncode == 1, done.stderr
        assert "1 new event(s) recorded, 0 already recorded, 2 bad row(s) skipped" in done.stdout
        assert f"{events}:2: unknown product 'ghost'" in done.stderr
        assert f"{events}:3: at '2025-02-03' has no time zone" in done.stderr
        again = cli(env, "--as", "root", "events", "ingest", str(events))
        assert "0 new event(s) recorded, 1 already recorded" in again.stdout

        audit = cli(
            env,
            "--as",
            "root",
            "audit",
            "--publisher",
            "acme",
            "--since",
            "2025-02-03",
            "--until",
            "2025-02-03",
        )
        assert audit.returncode == 0, audit.stderr
        [line] = audit.stdout.splitlines()
        assert json.loads(line)["action"] == "consumer_purchase"
        bad_date = cli(env, "--as", "root", "audit", "--since", "yesterday")
        assert bad_date.returncode == 2 and "--since 'yesterday' is not a date" in bad_date.stderr

        report = cli(env, "--as", "alice", "report", "acme", "--month", "2025-02")
        assert report.returncode == 0, report.stderr
        assert "EUR: net sales 10.00 - store fee 1.00 (10% of 10.00) = 9.00 EUR" in report.stdout
        as_csv = cli(env, "--as", "alice", "report", "acme", "--month", "2025-02", "--csv")
        assert "money,EUR,amount,9.00" in as_csv.stdout
        other = cli(env, "--as", "zoe", "report", "acme", "--month", "2025-02")
        assert other.returncode == 2 and "no publisher 'acme' visible to zoe" in other.stderr

        # A failed notice: listed, resent once (the relay is up now), audited.
        key = "sub-1/3/approved/ops@acme.example"
        await store.claim_notice_message(
            key,
            "ops@acme.example",
            "Hello",
            "approved",
            "Subject: Hello\nMessage-ID: <x@y>\nFrom: a@b.example\nTo: ops@acme.example\n\nhi\n",
        )
        await store.mark_notice_failed(key, "SMTP relay down for a day")
        listed = cli(env, "--as", "root", "notices", "--failed")
        assert key in listed.stdout and "FAILED" in listed.stdout
        with MailSink(tmp_path / "mail") as sink:
            sink.stop()
            sink.start("127.0.0.1", smtp_port)
            resent = cli(env, "--as", "root", "notices", "resend", key)
            assert resent.returncode == 0, resent.stderr
            twice = cli(env, "--as", "root", "notices", "resend", key)
            assert twice.returncode == 2 and "already sent" in twice.stderr
            await asyncio.sleep(0.1)
            assert [m["Message-ID"] for m in read_mail(sink.folder)] == ["<x@y>"]
        assert cli(env, "--as", "root", "notices", "--failed").stdout.strip() == "no failed notices"
        [who] = await store.query_audit(action="notice_resent")
        assert who.actor == "root" and who.subject_id == key
    finally:
        await store.close()
