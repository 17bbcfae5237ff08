"""Runtime settings: ``STOREMOD_*`` environment variables over an optional settings file.

The settings file (TOML) is named by ``STOREMOD_SETTINGS_FILE``; environment
variables win over it. Defaults describe the embedded mode (``storemod dev``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATA_DIR = Path(".storemod")
# Nothing is purged from the audit trail before this age (the database enforces it too).
AUDIT_RETENTION_FLOOR = timedelta(days=180)


class Settings(BaseSettings):
    """Everything an operator can set; see README "Production settings"."""

    model_config = SettingsConfigDict(env_prefix="STOREMOD_", extra="forbid")

    data_dir: Path = DEFAULT_DATA_DIR

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    task_queue: str = "storemod"

    # Database: "sqlite+aiosqlite:///PATH" or "postgresql+asyncpg://USER@HOST/DB"
    database_url: str | None = None

    # SMTP relay
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "Store Moderation <moderation@store.localhost>"

    # Moderation clock
    abandon_after: timedelta = Field(default=timedelta(days=30))
    abandon_warning_before: timedelta = Field(default=timedelta(days=7))

    # SLA clocks of published listings (72 h / 7 d are the store's promise, not settings)
    sla_reminder_before: timedelta = Field(default=timedelta(hours=24))
    # Published images are rescanned on this interval by a Temporal Schedule.
    rescan_interval: timedelta = Field(default=timedelta(days=1))
    # OSV records to import on a schedule: a folder, file or zip, or an http(s) URL.
    advisory_feed_source: str | None = None
    advisory_feed_interval: timedelta = Field(default=timedelta(hours=1))

    # Certification: best-practices review policy
    certification_max_layers: int = Field(default=40, ge=1)
    # Approved base operating systems, "ID:VERSION_ID" from os-release ("alpine:" = any).
    certification_approved_os: list[str] = Field(
        default_factory=lambda: [
            "debian:12",
            "debian:13",
            "alpine:",
            "ubuntu:22.04",
            "ubuntu:24.04",
        ]
    )

    log_format: str = "auto"  # auto | json | console

    # Scanner: registries, and limits against hostile images (see scanner/limits.py)
    # host[:port] -> "user:password" for basic auth and token requests; never logged.
    scanner_registry_auth: dict[str, SecretStr] = Field(default_factory=dict)
    scanner_plain_http_registries: list[str] = Field(default_factory=list)  # host[:port]
    # Loopback, link-local and private addresses are refused unless listed here (CIDR).
    scanner_allowed_networks: list[str] = Field(default_factory=list)
    scanner_max_layers: int = Field(default=128, gt=0)
    scanner_max_manifest_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    scanner_max_expanded_bytes: int = Field(default=16 * 1024**3, gt=0)
    scanner_max_ratio: float = Field(default=200.0, gt=1)
    scanner_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    scanner_read_timeout_seconds: float = Field(default=60.0, gt=0)
    scanner_total_timeout_seconds: float = Field(default=1800.0, gt=0)
    # End of the scanner block

    # Notices, audit retention, monthly reports (issue 5)
    # An undeliverable notice is retried this long after it was first queued, then marked failed.
    notice_retry_window: timedelta = Field(default=timedelta(days=1))
    # Audit rows older than this are purged daily; never less than AUDIT_RETENTION_FLOOR.
    audit_retention: timedelta = Field(default=timedelta(days=365))
    # The store's share of each publisher's net sales (gross - refunds - taxes), in percent.
    store_fee_percent: Decimal = Field(default=Decimal("20"), ge=0, lt=100)
    # End of the notices block

    @field_validator(
        "abandon_after",
        "abandon_warning_before",
        "sla_reminder_before",
        "rescan_interval",
        "advisory_feed_interval",
    )
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("notice_retry_window")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("audit_retention")
    @classmethod
    def _retention_floor(cls, value: timedelta) -> timedelta:
        if value < AUDIT_RETENTION_FLOOR:
            raise ValueError(
                f"audit retention of {value.days} days is below the floor of "
                f"{AUDIT_RETENTION_FLOOR.days} days: audit events are kept at least that long"
            )
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"auto", "json", "console"}:
            raise ValueError("must be one of auto, json, console")
        return value

    @model_validator(mode="after")
    def _warning_before_abandon(self) -> Settings:
        if self.abandon_warning_before >= self.abandon_after:
            raise ValueError("abandon_warning_before must be shorter than abandon_after")
        return self

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'storemod.db').resolve()}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = os.environ.get("STOREMOD_SETTINGS_FILE")
        if settings_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(settings_file)))
        return tuple(sources)
