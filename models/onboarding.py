"""Publisher profile and product manifest, as accepted after validation.

The raw YAML a publisher writes is checked field by field by
``onboarding.validation``; only a document without problems becomes one of
these models, so code downstream can rely on every field being present.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field


class Platform(StrEnum):
    """Where the product runs, which decides eligibility (spec step 1)."""

    ENTERPRISE = "enterprise"  # may publish, may be certified, support required
    COMMUNITY = "community"  # may publish, not certifiable, support optional
    NONE = "none"  # not on certified infrastructure: may not publish


class PublisherProfile(BaseModel):
    id: str  # slug naming the publisher organisation
    legal_name: str
    website: str
    phone: str
    email: str
    logo: str  # absolute path once loaded by the CLI
    story: str = ""


class SupportSLA(BaseModel):
    hours: str
    response_time: str


class SupportOffering(BaseModel):
    website: str | None = None
    email: str | None = None
    sla: SupportSLA | None = None


class Price(BaseModel):
    amount: Decimal
    currency: str


class ImageSource(BaseModel):
    repository: str  # skopeo-style transport and path: "oci:PATH" or "docker-archive:PATH"
    tags: list[str]


class Tier(BaseModel):
    name: str
    description: str
    price: Price
    source: ImageSource


class ProductManifest(BaseModel):
    product: str  # slug, the listing's identity in the catalog
    name: str
    icon: str
    short_description: str
    category: str
    tags: list[str] = Field(default_factory=list)
    long_description: str
    screenshots: list[str]
    support_link: str
    platform: Platform
    installation: str
    license_link: str
    tiers: list[Tier]
    support: SupportOffering | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field, as shown to the publisher."""

    field: str  # dotted path, e.g. "tiers[0].price.amount"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"
