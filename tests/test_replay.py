"""Determinism guard: recorded histories replay against today's workflow code.

Histories under tests/histories/ were recorded from real runs (set
STOREMOD_RECORD_HISTORIES=1 when running the tests that write them). A change
to SubmissionWorkflow that would break a running submission fails here; guard
such changes with ``workflow.patched``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_checked_in() -> None:
    names = {p.name for p in HISTORIES}
    assert {
        "submission_resubmitted_then_published.json",  # before listings had a workflow
        "submission_published_announced.json",
        "submission_abandoned.json",
        "listing_continued_as_new.json",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
