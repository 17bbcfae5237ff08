"""Structured logs: JSON off a terminal, and lines in workflow or activity context
name the submission they are about."""

from __future__ import annotations

import json
import logging

import pytest

from logs import configure, get_logger


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_workflow_log_lines_are_json_and_name_the_submission(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("json")
    # What temporalio's workflow.logger attaches to every record it emits.
    logging.getLogger("temporalio.workflow").info(
        "submission acme-db-1: approve by mia -> approved",
        extra={
            "temporal_workflow": {
                "workflow_id": "submission-acme-db-1",
                "workflow_type": "SubmissionWorkflow",
            }
        },
    )
    get_logger(submission="acme-db-2").info("scanned", colour="red")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["submission"] == "acme-db-1"
    assert lines[0]["event"] == "submission acme-db-1: approve by mia -> approved"
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1] == {**lines[1], "submission": "acme-db-2", "colour": "red", "event": "scanned"}


def test_console_format_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure("console")
    get_logger(submission="acme-db-3").warning("relay unavailable")
    err = capsys.readouterr().err
    assert "relay unavailable" in err and "submission=acme-db-3" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])
