"""Who may ask for certification: Enterprise Edition products with a support offering."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from certification.eligibility import certification_refusal
from models.onboarding import (
    ImageSource,
    Platform,
    Price,
    ProductManifest,
    SupportOffering,
    SupportSLA,
    Tier,
)

SLA = SupportSLA(hours="Mon-Fri 09:00-17:00 CET", response_time="4 business hours")


def manifest(platform: Platform = Platform.ENTERPRISE, **changes: Any) -> ProductManifest:
    fields: dict[str, Any] = {
        "product": "acme-db",
        "name": "Acme DB",
        "icon": "/icons/acme.png",
        "short_description": "A database",
        "category": "Databases",
        "long_description": "A database server.",
        "screenshots": ["/shots/1.png"],
        "support_link": "https://acme.example.com/support",
        "platform": platform,
        "installation": "docker run acme/db",
        "license_link": "https://acme.example.com/eula",
        "tiers": [
            Tier(
                name="standard",
                description="Standard",
                price=Price(amount=Decimal("10"), currency="EUR"),
                source=ImageSource(repository="oci:/images/acme-db", tags=["1.0"]),
            )
        ],
        "support": SupportOffering(email="support@acme.example.com", sla=SLA),
    }
    fields.update(changes)
    return ProductManifest(**fields)


@pytest.mark.parametrize(
    "support",
    [
        SupportOffering(email="support@acme.example.com", sla=SLA),
        SupportOffering(website="https://acme.example.com/support", sla=SLA),
        SupportOffering(
            website="https://acme.example.com/support", email="s@acme.example.com", sla=SLA
        ),
    ],
)
def test_enterprise_with_support_may_be_certified(support: SupportOffering) -> None:
    assert certification_refusal(manifest(support=support)) is None


def test_community_edition_cannot_be_certified() -> None:
    # Even with a full support offering: the platform decides first.
    assert certification_refusal(manifest(Platform.COMMUNITY)) == (
        "acme-db works on the Community Edition only, which cannot be certified: "
        "certification is for products that work on the Enterprise Edition"
    )


def test_products_off_certified_infrastructure_cannot_be_certified() -> None:
    assert certification_refusal(manifest(Platform.NONE)) == (
        "acme-db does not run on certified infrastructure, so it can be neither published "
        "nor certified"
    )


@pytest.mark.parametrize(
    ("support", "expected"),
    [
        (
            None,
            "acme-db cannot be certified without a support offering: add a support website or "
            "email (support.website or support.email) and a support SLA with support hours and "
            "a response time (support.sla) to the manifest and resubmit",
        ),
        (
            SupportOffering(sla=SLA),
            "acme-db cannot be certified without a support offering: add a support website or "
            "email (support.website or support.email) to the manifest and resubmit",
        ),
        (
            SupportOffering(website="  ", email="", sla=SLA),
            "acme-db cannot be certified without a support offering: add a support website or "
            "email (support.website or support.email) to the manifest and resubmit",
        ),
        (
            SupportOffering(email="support@acme.example.com"),
            "acme-db cannot be certified without a support offering: add a support SLA with "
            "support hours and a response time (support.sla) to the manifest and resubmit",
        ),
        (
            SupportOffering(
                email="support@acme.example.com", sla=SupportSLA(hours="", response_time=" ")
            ),
            "acme-db cannot be certified without a support offering: add the SLA's support hours "
            "(support.sla.hours) and the SLA's response time (support.sla.response_time) to the "
            "manifest and resubmit",
        ),
        (
            SupportOffering(
                website="https://acme.example.com",
                sla=SupportSLA(hours="24/7", response_time=""),
            ),
            "acme-db cannot be certified without a support offering: add the SLA's response "
            "time (support.sla.response_time) to the manifest and resubmit",
        ),
    ],
)
def test_enterprise_without_a_full_support_offering_is_refused(
    support: SupportOffering | None, expected: str
) -> None:
    assert certification_refusal(manifest(support=support)) == expected
