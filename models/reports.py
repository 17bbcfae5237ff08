"""Inputs and results of the monthly report and audit retention workflows (no I/O)."""

from dataclasses import dataclass, field
from typing import Any

MONTHLY_REPORT_TOTALS = "monthly_report_totals"
SEND_MONTHLY_REPORT = "send_monthly_report"
LIST_PUBLISHERS = "list_publishers"
PURGE_AUDIT = "purge_audit"


@dataclass
class MonthlyReportsInput:
    """Start one report per publisher; ``month`` "" means the month before the
    schedule's (or the workflow's) start time."""

    month: str = ""


@dataclass
class MonthlyReportInput:
    publisher_id: str
    month: str  # YYYY-MM


@dataclass
class ReportTotals:
    publisher_id: str
    month: str
    publisher_name: str
    recipient: str  # the publisher's contact email
    report: dict[str, Any] = field(default_factory=dict)  # MonthlyReport.context()


@dataclass
class MonthlyReportResult:
    publisher_id: str
    month: str
    status: str  # "sent" | "failed"
    detail: str = ""


@dataclass
class MonthlyReportsResult:
    month: str
    started: list[str] = field(default_factory=list)  # workflow ids started now
    skipped: list[str] = field(default_factory=list)  # already run for that month


@dataclass
class PurgeRequest:
    key: str  # idempotency: one purge per scheduled run


@dataclass
class PurgeResult:
    deleted: int
    retention_days: int
