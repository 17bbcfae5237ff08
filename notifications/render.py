"""Render a notice of the catalog into a subject line, a plain-text body and an HTML body."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    UndefinedError,
    select_autoescape,
)

from models.scan import Finding, ScanSummary
from notifications.catalog import CATALOG, NoticeSpec

__all__ = [
    "NoticeContextError",
    "NoticeError",
    "RenderedNotice",
    "UnknownNotice",
    "clean_subject",
    "render_notice",
]

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUBJECT_MAX = 150
SEVERITY_ORDER = ("critical", "major", "minor", "unscored")
COLOUR_HEX = {"green": "#2e9d4f", "yellow": "#e6c229", "orange": "#f08a24", "red": "#d7263d"}


class NoticeError(Exception):
    """A notice cannot be rendered; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownNotice(NoticeError):
    """The name is not in ``notifications.catalog.CATALOG``."""


class NoticeContextError(NoticeError):
    """The context lacks a key (or a field of a nested item) the templates use."""


@dataclasses.dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str


# --------------------------------------------------------------------------- filters


def _get(item: Any, key: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(key, default)
    return getattr(item, key, default)


def class_counts(scan: Any) -> dict[str, int]:
    """Findings per class of one scan: its ``counts``, or counted from its findings."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    given = _get(scan, "counts") or {}
    if given:
        for key, value in given.items():
            counts[str(key)] = int(value)
    else:
        for finding in _get(scan, "findings") or []:
            sev = str(_get(finding, "severity", "unscored"))
            counts[sev] = counts.get(sev, 0) + 1
    return counts


def scan_headline(scans: Iterable[Any]) -> str:
    """One phrase for a subject line: 'clean', '1 critical, 2 major', '1 image not scanned'."""
    totals = dict.fromkeys(SEVERITY_ORDER, 0)
    failed = 0
    for scan in scans:
        if _get(scan, "error"):
            failed += 1
            continue
        for key, value in class_counts(scan).items():
            totals[key] = totals.get(key, 0) + value
    parts = [f"{n} {cls}" for cls, n in totals.items() if n]
    if failed:
        parts.append(f"{failed} image{'s' if failed > 1 else ''} not scanned")
    return ", ".join(parts) if parts else "clean"


def by_severity(findings: Iterable[Any]) -> list[Any]:
    """Worst first: by class, then by CVSS score (highest first), then by CVE id."""

    def key(f: Any) -> tuple[int, float, str]:
        sev = str(_get(f, "severity", "unscored"))
        rank = SEVERITY_ORDER.index(sev) if sev in SEVERITY_ORDER else len(SEVERITY_ORDER)
        score = _get(f, "cvss_score")
        return (rank, -(float(score) if score is not None else 0.0), str(_get(f, "cve_id", "")))

    return sorted(findings, key=key)


def short_digest(digest: str | None) -> str:
    """sha256:0123456789ab: enough to tell layers apart in a message."""
    if not digest:
        return "unknown"
    algo, _, hexpart = str(digest).partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else str(digest)[:19]


def colour_hex(colour: Any) -> str:
    return COLOUR_HEX.get(str(colour), "#888888")


# Advisory ids (CVE-2024-1234, GHSA-xxxx-…, DSA-5678-1, …), CVSS, class names, package talk:
# subscribers learn that there is a security issue, never which one (it may be unfixed).
_SECURITY_DETAIL = re.compile(
    r"\b(?:CVE|GHSA|DSA|DLA|USN|RHSA|ALSA|RUSTSEC|PYSEC|GO|OSV)-[\w-]+"
    r"|cvss|vulnerab|exploit|advisor|critical|major|minor|severity|finding|package|version",
    re.IGNORECASE,
)
PUBLIC_SECURITY_REASON = "a security issue"


def public_reason(reason: Any) -> str:
    """The reason as a subscriber may read it: any security detail becomes 'a security issue'."""
    text = " ".join(str(reason or "").split())
    if not text or _SECURITY_DETAIL.search(text):
        return PUBLIC_SECURITY_REASON
    return text


# --------------------------------------------------------------------------- context


def _with_defaults(cls: type, item: Any) -> Any:
    """``item`` as a dict with ``cls``'s defaults filled in: optional fields may be left out."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        item = dataclasses.asdict(item)
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    for f in dataclasses.fields(cls):
        if f.name in out:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _normalise_scans(scans: Any) -> Any:
    if not isinstance(scans, list | tuple):
        return scans
    result = []
    for scan in scans:
        scan = _with_defaults(ScanSummary, scan)
        if isinstance(scan, dict) and isinstance(scan.get("findings"), list | tuple):
            scan["findings"] = [_with_defaults(Finding, f) for f in scan["findings"]]
        result.append(scan)
    return result


def _normalise_reasons(reasons: Any) -> Any:
    if not isinstance(reasons, list | tuple):
        return reasons
    out = []
    for r in reasons:
        if dataclasses.is_dataclass(r) and not isinstance(r, type):
            r = dataclasses.asdict(r)
        if isinstance(r, Mapping):
            r = {"field": None, "cve": None, **r}
        out.append(r)
    return out


def _prepare(spec: NoticeSpec, context: Mapping[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {**spec.optional, **context}
    missing = [k for k in spec.required_keys if k not in ctx]
    if missing:
        raise NoticeContextError(f"notice {spec.name!r} needs context key(s): {', '.join(missing)}")
    if "scans" in ctx:
        ctx["scans"] = _normalise_scans(ctx["scans"])
    if "reasons" in ctx:
        ctx["reasons"] = _normalise_reasons(ctx["reasons"])
    return ctx


# --------------------------------------------------------------------------- rendering

# Subjects end up in a mail header: line breaks would inject headers, and
# bidi/line-separator characters would make a subject lie about its content.
_SUBJECT_DROP = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_ZWJ = "\u200d"  # keeps emoji sequences whole


def clean_subject(subject: str, max_len: int = SUBJECT_MAX) -> str:
    """One line, no control or invisible format characters, at most ``max_len`` characters."""
    chars = []
    for ch in subject:
        cat = unicodedata.category(ch)
        if ch in "\r\n\t\v\f" or cat in ("Zl", "Zp"):
            chars.append(" ")
        elif cat in _SUBJECT_DROP and ch != _ZWJ:
            continue
        else:
            chars.append(ch)
    text = re.sub(r"\s+", " ", "".join(chars)).strip()
    if len(text) <= max_len:
        return text
    cut = text[: max_len - 1]
    space = cut.rfind(" ")
    if space >= max_len * 2 // 3:  # break at a word unless that loses too much
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # Only the .html.j2 half is HTML; the text half and subjects are not escaped.
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        scan_headline=scan_headline,
        class_counts=class_counts,
        by_severity=by_severity,
        short_digest=short_digest,
        colour_hex=colour_hex,
        public_reason=public_reason,
    )
    env.globals["SEVERITY_ORDER"] = SEVERITY_ORDER
    return env


_ENV = _environment()


@cache
def _subject_template(name: str) -> Template:
    return _ENV.from_string(CATALOG[name].subject)


def render_notice(name: str, context: Mapping[str, Any]) -> RenderedNotice:
    """Render notice ``name`` of the catalog with ``context`` (a plain dict).

    Raises UnknownNotice for a name not in the catalog and NoticeContextError when
    the context lacks a key or a nested field the templates use.
    """
    spec = CATALOG.get(name)
    if spec is None:
        raise UnknownNotice(f"unknown notice {name!r} (known: {', '.join(sorted(CATALOG))})")
    ctx = _prepare(spec, context)
    try:
        subject = _subject_template(name).render(ctx)
        text = _ENV.get_template(f"{name}.txt.j2").render(ctx)
        html = _ENV.get_template(f"{name}.html.j2").render(ctx)
    except UndefinedError as exc:
        raise NoticeContextError(f"notice {name!r}: {exc.message}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise NoticeContextError(
            f"notice {name!r}: the context has the wrong shape ({exc})"
        ) from exc
    except TemplateError as exc:  # a broken template is a bug, but say which one
        raise NoticeError(f"notice {name!r} cannot be rendered: {exc}") from exc
    return RenderedNotice(subject=clean_subject(subject), text=text, html=html)
