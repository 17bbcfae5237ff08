"""The monthly publisher report: totals of one UTC calendar month of consumer events.

Money is summed exactly per currency, each total rounded half-up to cents, and
the consolidated amount is computed from the rounded figures so the arithmetic
shown to the publisher adds up to the cent:

    net sales = gross - refunds - taxes
    store fee = net sales x fee% (rounded; no fee when net sales are not positive)
    amount    = net sales - store fee
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from reports.events import ConsumerEvent, EventKind

CENT = Decimal("0.01")
TENTH = Decimal("0.1")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class MonthError(ValueError):
    """A month that is not YYYY-MM."""


def parse_month(raw: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` -> [first instant of the month, first instant of the next), in UTC."""
    match = _MONTH.fullmatch(raw.strip())
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1970:
        raise MonthError(f"month {raw!r} is not YYYY-MM (e.g. 2025-02)")
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Money:
    currency: str
    gross: Decimal
    refunds: Decimal
    taxes: Decimal
    fee_percent: Decimal

    @property
    def net_sales(self) -> Decimal:
        return self.gross - self.refunds - self.taxes

    @property
    def fee(self) -> Decimal:
        if self.net_sales <= 0:
            return Decimal("0.00")
        return _cents(self.net_sales * self.fee_percent / 100)

    @property
    def amount(self) -> Decimal:
        return self.net_sales - self.fee

    def arithmetic(self) -> str:
        """The computation in one line: gross - refunds - taxes - fee (pct of net) = amount."""
        return (
            f"{self.gross} - {self.refunds} - {self.taxes} - {self.fee} "
            f"({self.fee_percent}% of {self.net_sales}) = {self.amount} {self.currency}"
        )


@dataclass(frozen=True)
class Subscription:
    customer: str
    product: str
    tier: str
    started: datetime
    ended: datetime | None  # None: still active at the end of the month
    days: Decimal


@dataclass
class MonthlyReport:
    publisher_id: str
    month: str
    start: datetime
    end: datetime
    downloads: dict[str, int] = field(default_factory=dict)  # free / paid
    by_hour: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    money: list[Money] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        """The ``report`` context of the monthly_report notice (JSON-safe: amounts as strings)."""
        return {
            "publisher": self.publisher_id,
            "month": self.month,
            "period": f"{self.start:%Y-%m-%d %H:%M} UTC to {self.end:%Y-%m-%d %H:%M} UTC",
            "downloads": {
                "free": self.downloads.get("free", 0),
                "paid": self.downloads.get("paid", 0),
                "total": sum(self.downloads.values()),
            },
            "downloads_by_hour": [
                {"date": day, "hour": f"{hour:02d}", "free": c["free"], "paid": c["paid"]}
                for (day, hour), c in sorted(self.by_hour.items())
            ],
            "counts": {
                k: self.counts.get(k, 0) for k in ("purchases", "cancellations", "refunds", "taxes")
            },
            "money": [
                {
                    "currency": m.currency,
                    "gross": str(m.gross),
                    "refunds": str(m.refunds),
                    "taxes": str(m.taxes),
                    "net_sales": str(m.net_sales),
                    "fee_percent": str(m.fee_percent),
                    "fee": str(m.fee),
                    "amount": str(m.amount),
                    "arithmetic": m.arithmetic(),
                }
                for m in self.money
            ],
            "subscriptions": [
                {
                    "customer": s.customer,
                    "product": s.product,
                    "tier": s.tier,
                    "started": s.started.strftime("%Y-%m-%d %H:%M UTC"),
                    "ended": s.ended.strftime("%Y-%m-%d %H:%M UTC") if s.ended else "",
                    "days": str(s.days),
                }
                for s in self.subscriptions
            ],
        }

    def csv(self) -> str:
        """Every figure of the report as CSV (see ``report_csv``)."""
        return report_csv(self.context())


def report_csv(ctx: dict[str, Any]) -> str:
    """Every figure of a report context as CSV: section, item, detail, value."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(["section", "item", "detail", "value"])
    out.writerow(["report", "publisher", "", ctx["publisher"]])
    out.writerow(["report", "month", ctx["period"], ctx["month"]])
    for kind in ("free", "paid", "total"):
        out.writerow(["downloads", "total", kind, ctx["downloads"][kind]])
    for row in ctx["downloads_by_hour"]:
        for kind in ("free", "paid"):
            out.writerow(["downloads_by_hour", f"{row['date']} {row['hour']}:00Z", kind, row[kind]])
    for name, value in ctx["counts"].items():
        out.writerow(["paid_customers", name, "", value])
    for m in ctx["money"]:
        for item in ("gross", "refunds", "taxes", "net_sales", "fee_percent", "fee", "amount"):
            out.writerow(["money", m["currency"], item, m[item]])
        out.writerow(["money", m["currency"], "arithmetic", m["arithmetic"]])
    for s in ctx["subscriptions"]:
        out.writerow(
            [
                "subscription",
                f"{s['customer']} {s['product']}/{s['tier']}",
                f"{s['started']} to {s['ended'] or 'active'}",
                s["days"],
            ]
        )
    return buf.getvalue()


def _days(start: datetime, end: datetime) -> Decimal:
    seconds = Decimal(int((end - start).total_seconds()))
    return (seconds / 86400).quantize(TENTH, rounding=ROUND_HALF_UP)


def compute_report(
    publisher_id: str,
    month: str,
    events: Iterable[ConsumerEvent],
    fee_percent: Decimal,
) -> MonthlyReport:
    """The report of ``month`` from ``events``: every event of the month, plus the
    subscription starts and ends before it (to measure subscriptions still running)."""
    start, end = parse_month(month)
    report = MonthlyReport(publisher_id=publisher_id, month=month, start=start, end=end)
    downloads: Counter[str] = Counter()
    by_hour: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"free": 0, "paid": 0})
    counts: Counter[str] = Counter()
    sums: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {"gross": Decimal(0), "refunds": Decimal(0), "taxes": Decimal(0)}
    )
    subs_open: dict[tuple[str, ...], ConsumerEvent] = {}
    subs: list[Subscription] = []
    ordered = sorted(events, key=lambda e: (e.at, e.event_id))
    for ev in ordered:
        if ev.at >= end:
            continue
        if ev.kind in (EventKind.SUBSCRIPTION_START, EventKind.SUBSCRIPTION_END):
            key = (ev.subscription,) if ev.subscription else (ev.customer, ev.product, ev.tier)
            if ev.kind is EventKind.SUBSCRIPTION_START:
                subs_open[key] = ev
            elif key in subs_open:
                began = subs_open.pop(key)
                if ev.at >= start:
                    subs.append(
                        Subscription(
                            ev.customer,
                            ev.product,
                            ev.tier,
                            began.at,
                            ev.at,
                            _days(began.at, ev.at),
                        )
                    )
            continue
        if ev.at < start:
            continue
        if ev.kind is EventKind.DOWNLOAD:
            downloads[ev.customer_type] += 1
            by_hour[(ev.at.strftime("%Y-%m-%d"), ev.at.hour)][ev.customer_type] += 1
        elif ev.kind is EventKind.CANCELLATION:
            counts["cancellations"] += 1
        else:
            assert ev.amount is not None and ev.currency is not None
            bucket = {"purchase": "gross", "refund": "refunds", "tax": "taxes"}[ev.kind.value]
            sums[ev.currency][bucket] += ev.amount
            counts[
                {"purchase": "purchases", "refund": "refunds", "tax": "taxes"}[ev.kind.value]
            ] += 1
    for began in subs_open.values():
        subs.append(
            Subscription(
                began.customer, began.product, began.tier, began.at, None, _days(began.at, end)
            )
        )
    report.downloads = dict(downloads)
    report.by_hour = dict(by_hour)
    report.counts = dict(counts)
    report.money = [
        Money(
            currency=cur,
            gross=_cents(s["gross"]),
            refunds=_cents(s["refunds"]),
            taxes=_cents(s["taxes"]),
            fee_percent=fee_percent,
        )
        for cur, s in sorted(sums.items())
    ]
    report.subscriptions = sorted(subs, key=lambda s: (s.started, s.customer, s.product))
    return report
