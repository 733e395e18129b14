"""Settings: one pydantic-settings class, built when needed (`get_settings()`), never at import.

Every field reads `SORAKIT_<NAME>`; the `openai` provider also reads the usual `OPENAI_API_KEY`
and `OPENAI_BASE_URL`. A `.env` file in the working directory is read too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "whsec_changeme", "xxx"}


def default_home() -> Path:
    """The per-user data directory that holds the ledger and the assets."""
    return platformdirs.user_data_path("sorakit", appauthor=False)


class Settings(BaseSettings):
    """Everything sorakit can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="SORAKIT_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    home: Path = Field(default_factory=default_home)
    """Where the ledger (`sorakit.db`) and the assets (`assets/`) live."""
    database_url: str | None = None
    """SQLAlchemy URL of the ledger; default SQLite in `home`. `postgresql+asyncpg://...` works."""

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SORAKIT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    """Bearer token for the `openai` provider."""
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SORAKIT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    """Base URL (ending in `/v1`) of a `/v1/videos` server; setting it routes Sora models there."""

    simulator_render_seconds: float = Field(default=4.0, ge=0.0)
    """Wall seconds a simulated job takes from create to completed."""
    simulator_faults: str = ""
    """Fault rates, e.g. `rate_limit=0.2,server_error=0.1,reset=0.1,moderation=0.05`."""
    simulator_progress: Literal["linear", "ease", "stall"] = "linear"
    """The shape of the simulated progress curve."""

    webhook_url: str | None = None
    """Where `sorakit serve` POSTs signed `video.completed` / `video.failed` events."""
    webhook_secret: SecretStr | None = None
    """The Standard Webhooks secret (`whsec_...` or raw) that signs them."""

    fit_references: bool = False
    """`sorakit serve`: fit a reference of the wrong size instead of answering 400, as Sora did."""
    host: str = "127.0.0.1"
    """`sorakit serve` binds here."""
    port: int = 8000
    """`sorakit serve` listens here."""

    max_poll_interval: float = Field(default=300.0, gt=0)
    """The tracker never waits longer than this between status calls."""
    transient_retries: int = Field(default=6, ge=0)
    """How many times a transient provider error is retried before the step gives up."""

    @field_validator("webhook_secret")
    @classmethod
    def _refuse_placeholder_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("SORAKIT_WEBHOOK_SECRET is a placeholder; set a real random secret")
        return value

    @property
    def ledger_url(self) -> str:
        """The ledger's SQLAlchemy URL."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'sorakit.db'}"

    @property
    def assets_dir(self) -> Path:
        """Where completed jobs' files are archived."""
        return self.home / "assets"

    @property
    def simulator_dir(self) -> Path:
        """Where the simulator keeps the state of its (remote-like) jobs."""
        return self.home / "simulator"


def get_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (and `.env`), with keyword overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
