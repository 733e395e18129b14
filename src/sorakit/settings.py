"""Settings: one pydantic-settings class, built when needed (`get_settings()`), never at import.

Every field reads `SORAKIT_<NAME>`; providers also read their usual variables (`OPENAI_API_KEY`,
`FAL_KEY`, `RUNWAYML_API_SECRET`, `GEMINI_API_KEY`, ...). Below the environment come a `.env`
file in the working directory and a TOML settings file: `SORAKIT_CONFIG`, else `sorakit.toml`
in the working directory, else `config.toml` in the user config folder. For example::

    [aliases]
    "sora-2" = "kling-3.0"          # old apps keep sending sora-2; Kling renders it
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "whsec_changeme", "xxx"}


def config_file() -> Path | None:
    """The TOML settings file in force, if there is one."""
    explicit = os.environ.get("SORAKIT_CONFIG")
    if explicit:
        return Path(explicit)
    for candidate in (
        Path("sorakit.toml"),
        platformdirs.user_config_path("sorakit", appauthor=False) / "config.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


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
    openai_form_bodies: Literal["auto", "always"] = "auto"
    """`always`: the `openai` provider sends every create as a multipart form (a form-only server
    such as vLLM-Omni); `auto`: JSON when no file travels, re-sent once as a form on a refusal
    that says the server reads forms only (415, or 422 for missing body fields)."""
    openai_video_only: bool = False
    """The `openai` provider's server serves only the video, no `thumbnail` or `spritesheet`
    variant (vLLM-Omni, SGLang): sorakit then asks for the video alone."""

    fal_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SORAKIT_FAL_KEY", "FAL_KEY")
    )
    """fal.ai API key (`key_id:key_secret`)."""
    fal_queue_url: str | None = None
    """fal's queue base URL; set only to point the fal provider at a fake or a proxy."""
    fal_api_url: str | None = None
    """fal's Platform API base (request listing, billing); set only to point at a fake."""
    runway_api_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SORAKIT_RUNWAY_API_SECRET", "RUNWAYML_API_SECRET"),
    )
    """Runway API secret."""
    runway_base_url: str | None = None
    """Runway's API base URL; set only to point the Runway provider at a fake or a proxy."""
    gemini_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SORAKIT_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
    )
    """Gemini API key, for Gemini Omni Flash on the Gemini API."""
    gemini_base_url: str | None = None
    """The Gemini API's base URL; set only to point at a fake or a proxy."""
    vertex_project: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SORAKIT_VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"),
    )
    """Google Cloud project for Veo on Vertex AI."""
    vertex_location: str = Field(
        default="us-central1",
        validation_alias=AliasChoices("SORAKIT_VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION"),
    )
    """Vertex AI region."""
    vertex_access_token: SecretStr | None = None
    """An OAuth access token for Vertex (else Application Default Credentials are used)."""
    vertex_base_url: str | None = None
    """Vertex AI's base URL; set only to point at a fake or a proxy."""
    vertex_output_gcs_uri: str | None = None
    """`gs://bucket/prefix/`: Veo on Vertex writes its videos there instead of answering inline
    (needed for long or 4k clips); they are downloaded with the same credentials."""
    gcs_base_url: str | None = None
    """Cloud Storage's JSON API base URL; set only to point at a fake or a proxy."""

    chat_api_key: SecretStr | None = None
    """Key of the OpenAI-compatible chat endpoint that plans long videos and enhances prompts
    (falls back to `OPENAI_API_KEY`); without one, the offline planner is used."""
    chat_base_url: str | None = None
    """That chat endpoint's base URL (falls back to `OPENAI_BASE_URL`, then OpenAI's)."""
    chat_model: str = "gpt-4.1-mini"
    """The chat model that plans and enhances; it must support structured output."""
    image_model: str = "gpt-image-1"
    """The catalog's image model that draws a long video's keyframes, as image jobs (the
    simulator's videos use `sim-image`)."""
    planner: Literal["auto", "offline", "chat"] = "auto"
    """`auto` plans with the chat model when a key is set and offline otherwise."""
    rate_limits: dict[str, float] = Field(default_factory=dict)
    """Requests per minute per provider for batches and pipelines, e.g. `{"fal": 60}`."""
    budget_usd: float | None = Field(default=None, ge=0)
    """A cap on the estimated spend of all jobs in the ledger; a job that would pass it is not
    submitted."""

    secret_key: SecretStr | None = None
    """Seals upstream credentials and tenants' webhook secrets in the ledger (Fernet). Several
    keys, comma-separated, rotate: the first seals, all open."""
    proxies: dict[str, str] = Field(default_factory=dict)
    """An outbound proxy per provider: `http://`, `https://`, `socks5://` or `socks5h://`, with
    credentials in the URL if needed, e.g. `{"fal": "socks5://user:pass@10.0.0.2:1080"}`. It
    carries all of that provider's traffic (API calls, output downloads, Cloud Storage, Vertex
    token refreshes); a bad URL is refused at start-up and its password is never logged. A
    pooled credential may name its own."""
    pool_strategy: Literal["round-robin", "least-loaded"] = "round-robin"
    """How a provider's pool picks the credential for a new job (per provider via the admin API)."""
    pool_auth_failures: int = Field(default=3, ge=1)
    """Authentication failures in a row after which a pooled credential is disabled."""

    simulator_render_seconds: float = Field(default=4.0, ge=0.0)
    """Wall seconds a simulated job takes from create to completed."""
    simulator_faults: str = ""
    """Fault rates, e.g. `rate_limit=0.2,server_error=0.1,reset=0.1,moderation=0.05`."""
    simulator_progress: Literal["linear", "ease", "stall"] = "linear"
    """The shape of the simulated progress curve."""

    local_models: str = ""
    """Folders of open-weight diffusers models (Wan, LTX-Video, CogVideoX) for the `local`
    provider, separated by `:` (`;` on Windows) or commas; a folder of such folders works too.
    Needs `pip install 'sorakit[local]'`; nothing is ever downloaded."""
    local_device: str = "auto"
    """The torch device local models render on (`cuda`, `cuda:1`, `cpu`); `auto` picks CUDA."""
    local_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """The weights' dtype: `auto` is bfloat16 on CUDA and float32 on the CPU."""
    local_offload: Literal["none", "model", "sequential"] = "none"
    """CPU offload for GPUs with too little memory: whole models (`model`, a small slowdown) or
    layer by layer (`sequential`, far slower, the least memory)."""
    local_vae_tiling: bool = False
    """Decode the video in tiles (less memory for large sizes)."""
    local_vae_slicing: bool = False
    """Decode the video a slice at a time (less memory)."""
    local_steps: int | None = Field(default=None, ge=1)
    """Denoising steps for every local model, instead of each model's own default."""

    webhook_url: str | None = None
    """Where `sorakit serve` POSTs signed `video.completed` / `video.failed` events."""
    webhook_secret: SecretStr | None = None
    """The Standard Webhooks secret (`whsec_...` or raw) that signs them."""
    webhook_allow_private: bool = False
    """Let tenants' webhooks reach loopback and private addresses (tests and development only;
    cloud metadata addresses stay refused)."""
    public_url: str | None = None
    """The address at which providers can reach this `sorakit serve` (e.g.
    `https://videos.example.com`). When set, providers that call back on completion (fal's
    webhooks) are given a signed per-job URL under it, so a finished job is noticed at once."""

    fit_references: bool = False
    """`sorakit serve`: fit a reference of the wrong size instead of answering 400, as Sora did."""
    image_wait_seconds: float = Field(default=300.0, gt=0)
    """`sorakit serve`: how long `/v1/images` waits for its images; past it the answer names
    the jobs (they go on, nothing is lost) and `GET /v1/images/{id}` finds them."""
    max_body_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    """`sorakit serve` answers 413 to a request body larger than this."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to call `sorakit serve` (CORS is closed by default)."""
    host: str = "127.0.0.1"
    """`sorakit serve` binds here."""
    port: int = 8000
    """`sorakit serve` listens here."""

    aliases: dict[str, str] = Field(default_factory=dict)
    """Model names routed to other models, e.g. `{"sora-2": "kling-3.0"}`; requests are snapped
    into the target's capabilities and the answer says what changed."""

    max_poll_interval: float = Field(default=300.0, gt=0)
    """The tracker never waits longer than this between status calls."""
    transient_retries: int = Field(default=6, ge=0)
    """How many times a transient provider error is retried before the step gives up."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then `.env`, then the TOML settings file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return (*sources, file_secret_settings)

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
    """Build the settings from the environment (and `.env`), with keyword overrides on top.

    A value that does not validate is a `ConfigurationError` naming the variable, never a
    traceback, and never with the value in it (it may be a secret).
    """
    named = os.environ.get("SORAKIT_CONFIG")
    if named and not Path(named).is_file():
        from sorakit.errors import ConfigurationError

        raise ConfigurationError(f"SORAKIT_CONFIG names {named}, which is not a file")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        from sorakit.errors import ConfigurationError

        problems = "; ".join(
            f"{_variable(error['loc'])}: {_reason(error)}" for error in exc.errors()
        )
        raise ConfigurationError(f"invalid setting: {problems}") from None
    except SettingsError as exc:  # a complex value (a dict or list) that is not JSON
        from sorakit.errors import ConfigurationError

        found = re.search(r'field "(\w+)"', str(exc))
        name = _variable((found.group(1),)) if found else "a setting"
        raise ConfigurationError(f"invalid setting: {name} is not valid JSON") from None
    except tomllib.TOMLDecodeError as exc:
        from sorakit.errors import ConfigurationError

        raise ConfigurationError(
            f"the settings file {config_file()} is not valid TOML: {exc}"
        ) from None


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable (or settings-file key) a validation error's location names."""
    field_name = str(loc[0]) if loc else "?"
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    names = (
        [c for c in alias.choices if isinstance(c, str)] if isinstance(alias, AliasChoices) else []
    )
    name = names[0] if names else f"SORAKIT_{field_name.upper()}"
    rest = ".".join(str(part) for part in loc[1:])
    return f"{name} ({rest})" if rest else name


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")
