"""Consumer events (downloads, purchases, ...) read from JSON lines or CSV, row by row.

Every row is checked on its own: a bad row is reported with its line number and
the reason, good rows are kept. Amounts are ``Decimal`` with a currency, never
floats: JSON numbers are parsed as decimals and CSV cells as text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email


class EventKind(StrEnum):
    DOWNLOAD = "download"
    PURCHASE = "purchase"
    CANCELLATION = "cancellation"
    REFUND = "refund"
    TAX = "tax"
    SUBSCRIPTION_START = "subscription_start"
    SUBSCRIPTION_END = "subscription_end"


MONEY_KINDS = frozenset({EventKind.PURCHASE, EventKind.REFUND, EventKind.TAX})
FIELDS = (
    "event_id",
    "kind",
    "at",
    "customer",
    "customer_type",
    "product",
    "tier",
    "amount",
    "currency",
    "notify_opt_in",
    "subscription",
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_AMOUNT = Decimal("1000000000")


@dataclass(frozen=True)
class ConsumerEvent:
    """One validated consumer event. ``customer`` is the customer's email address."""

    event_id: str
    kind: EventKind
    at: datetime  # UTC
    customer: str
    product: str
    tier: str = ""
    customer_type: str = "paid"  # "free" | "paid"; only downloads may be free
    amount: Decimal | None = None  # purchases, refunds, taxes
    currency: str | None = None
    notify_opt_in: bool = False  # downloads: the customer wants listing notices
    subscription: str = ""  # pairs subscription_start and subscription_end

    def as_json(self) -> dict[str, Any]:
        """A JSON-safe dict: the amount as a string, the time in ISO 8601."""
        return {
            "event_id": self.event_id,
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "customer": self.customer,
            "customer_type": self.customer_type,
            "product": self.product,
            "tier": self.tier,
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency,
            "notify_opt_in": self.notify_opt_in,
            "subscription": self.subscription,
        }


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


class EventFileError(Exception):
    """The file as a whole cannot be read (missing, unknown format, no header)."""


def _text(row: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text, not {type(value).__name__}")
    return value.strip()


def _when(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise ValueError(f"at {raw!r} is not an ISO 8601 date-time") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"at {raw!r} has no time zone: add Z or an offset such as +00:00")
    return at.astimezone(UTC)


def _amount(value: Any) -> Decimal:
    if isinstance(value, float):  # only a hand-built dict can carry one
        raise ValueError("amount must be a decimal, not a float")
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("amount is missing")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a decimal number") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"amount {value!r} must be a positive number")
    if amount >= _MAX_AMOUNT:
        raise ValueError(f"amount {value!r} is implausibly large")
    if amount.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValueError(f"amount {value!r} has more than 4 decimal places")
    return amount


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if text in {"true", "yes", "1"}:
        return True
    if text in {"false", "no", "0"}:
        return False
    raise ValueError(f"{key} must be true or false, not {value!r}")


def parse_event(row: Mapping[str, Any]) -> ConsumerEvent:
    """One row as a ConsumerEvent; raises ValueError with a one-line reason."""
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(map(str, unknown))}")
    event_id = _text(row, "event_id")
    if not _ID.fullmatch(event_id):
        raise ValueError(
            f"event_id {event_id!r}: use 1-128 letters, digits, '.', '_', ':', '/', '-'"
        )
    kind_raw = _text(row, "kind")
    try:
        kind = EventKind(kind_raw)
    except ValueError:
        raise ValueError(
            f"kind {kind_raw!r} is not one of {', '.join(k.value for k in EventKind)}"
        ) from None
    at = _when(_text(row, "at"))
    customer = _text(row, "customer")
    try:
        customer = validate_email(customer, check_deliverability=False).normalized
    except EmailNotValidError as err:
        raise ValueError(f"customer {customer!r} is not an email address: {err}") from None
    product = _text(row, "product")
    tier = _text(row, "tier", required=kind is not EventKind.TAX)
    customer_type = _text(row, "customer_type", required=kind is EventKind.DOWNLOAD) or "paid"
    if customer_type not in {"free", "paid"}:
        raise ValueError(f"customer_type {customer_type!r} must be free or paid")
    if kind is not EventKind.DOWNLOAD and customer_type != "paid":
        raise ValueError(f"a {kind.value} is by a paid customer; customer_type must be paid")
    amount: Decimal | None = None
    currency: str | None = None
    if kind in MONEY_KINDS:
        amount = _amount(row.get("amount"))
        currency = _text(row, "currency")
        if not _CURRENCY.fullmatch(currency):
            raise ValueError(f"currency {currency!r} must be a 3-letter ISO 4217 code, e.g. EUR")
    elif row.get("amount") not in (None, "") or row.get("currency") not in (None, ""):
        raise ValueError(f"a {kind.value} carries no amount or currency")
    opt_in = _bool(row.get("notify_opt_in"), "notify_opt_in")
    if opt_in and kind is not EventKind.DOWNLOAD:
        raise ValueError("notify_opt_in belongs to download events")
    subscription = _text(row, "subscription", required=False)
    return ConsumerEvent(
        event_id=event_id,
        kind=kind,
        at=at,
        customer=customer,
        product=product,
        tier=tier,
        customer_type=customer_type,
        amount=amount,
        currency=currency,
        notify_opt_in=opt_in,
        subscription=subscription,
    )


def _json_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as err:
            yield number, f"not valid JSON: {err.msg} (column {err.colno})"
            continue
        if not isinstance(value, dict):
            yield number, "not a JSON object"
            continue
        yield number, value


def _csv_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        raise EventFileError("the CSV file has no header row")
    for row in reader:
        if None in row:
            yield reader.line_num, "more cells than header columns"
            continue
        yield reader.line_num, {k: v for k, v in row.items() if v != ""}


def read_events(path: Path) -> tuple[list[tuple[int, ConsumerEvent]], list[BadRow]]:
    """Every good event (with its line number) and every bad row of a .jsonl/.json/.csv file."""
    suffix = path.suffix.lower()
    if suffix not in {".jsonl", ".json", ".ndjson", ".csv"}:
        raise EventFileError(f"{path}: use a .jsonl (JSON lines) or .csv file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EventFileError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise EventFileError(f"cannot read {path}: {err}") from None
    rows = _csv_rows(text) if suffix == ".csv" else _json_rows(text)
    good: list[tuple[int, ConsumerEvent]] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        if isinstance(row, str):
            bad.append(BadRow(number, row))
            continue
        try:
            event = parse_event(row)
        except ValueError as err:
            bad.append(BadRow(number, str(err)))
            continue
        if event.event_id in seen:
            bad.append(
                BadRow(number, f"event_id {event.event_id} repeats line {seen[event.event_id]}")
            )
            continue
        seen[event.event_id] = number
        good.append((number, event))
    return good, bad
