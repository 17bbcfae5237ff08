"""structlog configuration: JSON off a terminal, readable on one.

Temporal's own loggers (workflow.logger, activity.logger) go through the
standard library; the formatter below routes them through structlog too and
lifts the workflow id (``submission-…``) into a ``submission`` key, so every
line in workflow or activity context names what it is about.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog


def _temporal_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in ("temporal_workflow", "temporal_activity"):
        info = event.pop(key, None)
        if isinstance(info, dict) and "workflow_id" in info:
            event.setdefault("workflow_id", info["workflow_id"])
            wid = str(info["workflow_id"])
            if wid.startswith("submission-"):
                event.setdefault("submission", wid.removeprefix("submission-"))
    return event


def configure(log_format: str = "auto", level: int = logging.INFO) -> None:
    """Configure structlog and stdlib logging once per process."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _temporal_context],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SMTP server's per-connection chatter is not the operator's business.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(**context: Any) -> structlog.stdlib.BoundLogger:
    """A logger bound to what a line is about (submission, product...)."""
    return structlog.stdlib.get_logger("storemod").bind(**context)
