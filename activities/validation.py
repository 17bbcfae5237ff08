"""validate_submission: re-check the profile and manifest where the files are."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio import activity

from logs import get_logger
from models.activity_io import VALIDATE_SUBMISSION, ValidationRequest, ValidationResult
from onboarding.validation import validate_manifest, validate_profile


@activity.defn(name=VALIDATE_SUBMISSION)
async def validate_submission(req: ValidationRequest) -> ValidationResult:
    """Every problem of the profile and manifest, field by field (spec step 1)."""
    log = get_logger(submission=req.submission_id)

    def check() -> ValidationResult:
        # Paths were made absolute by the CLI, so the base folder is irrelevant.
        _, profile_problems = validate_profile(req.profile.model_dump(mode="json"), Path("/"))
        _, manifest_problems = validate_manifest(req.manifest.model_dump(mode="json"), Path("/"))
        problems = [
            *(("profile", p) for p in profile_problems),
            *(("", p) for p in manifest_problems),
        ]
        return ValidationResult(
            problems=[
                {"field": f"{prefix}.{p.field}" if prefix else p.field, "message": p.message}
                for prefix, p in problems
            ]
        )

    result = await asyncio.to_thread(check)
    log.info("validated", problems=len(result.problems))
    return result
