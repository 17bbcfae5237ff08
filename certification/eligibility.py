"""Who may ask for certification (spec step 4, issue 6).

Only products that work on the Enterprise Edition and offer support (a support
website or email, and an SLA with support hours and a response time) may be
certified. Anything else gets one sentence that says why and what to add.
"""

from __future__ import annotations

from models.onboarding import Platform, ProductManifest
from onboarding.validation import eligibility

__all__ = ["certification_refusal"]


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def certification_refusal(manifest: ProductManifest) -> str | None:
    """None when ``manifest`` may be certified, else a sentence saying why not."""
    product = manifest.product
    platform = Platform(manifest.platform)
    if platform is Platform.COMMUNITY:
        return (
            f"{product} works on the Community Edition only, which cannot be certified: "
            "certification is for products that work on the Enterprise Edition"
        )
    if not eligibility(platform).may_certify:
        return (
            f"{product} does not run on certified infrastructure, so it can be neither "
            "published nor certified"
        )
    support = manifest.support
    missing: list[str] = []
    if support is None or (_blank(support.website) and _blank(support.email)):
        missing.append("a support website or email (support.website or support.email)")
    sla = support.sla if support is not None else None
    if sla is None:
        missing.append("a support SLA with support hours and a response time (support.sla)")
    else:
        if _blank(sla.hours):
            missing.append("the SLA's support hours (support.sla.hours)")
        if _blank(sla.response_time):
            missing.append("the SLA's response time (support.sla.response_time)")
    if not missing:
        return None
    return (
        f"{product} cannot be certified without a support offering: add "
        + _join_words(missing)
        + " to the manifest and resubmit"
    )


def _join_words(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
