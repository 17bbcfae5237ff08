"""The baseline workflow: does nothing, so its cost is Temporal's own per-workflow cost.

Kept in its own module because the workflow sandbox re-imports the module that
defines a workflow; this one imports nothing but temporalio.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchEmptyWorkflow")
class EmptyWorkflow:
    """A workflow that returns at once: the baseline of the submission benchmark."""

    @workflow.run
    async def run(self) -> None:
        return None
