"""The request shapes of the admin API's upstream pools (`/admin/pools`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PoolParams(BaseModel):
    """The body of `PUT /admin/pools/{provider}`."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["round-robin", "least-loaded"] | None = None
    """How a new job's credential is picked."""
    proxy: str | None = None
    """`http://`, `https://` or `socks5://` proxy of the environment's credential; null removes it."""


class CredentialParams(BaseModel):
    """The body of `POST /admin/pools/{provider}/credentials`."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=1)
    """The provider's API key; sealed with `SORAKIT_SECRET_KEY`, never shown again."""
    label: str | None = Field(default=None, max_length=128)
    max_concurrency: int | None = Field(default=None, ge=1)
    """Jobs it may have unfinished at once."""
    proxy: str | None = None
    base_url: str | None = None
    """Its own API base URL (for `openai`-compatible servers)."""


class CredentialChange(BaseModel):
    """The body of `PATCH /admin/pools/{provider}/credentials/{id}`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    """True puts it back in rotation, clearing its failures and cool-down."""
    label: str | None = Field(default=None, max_length=128)
    max_concurrency: int | None = Field(default=None, ge=1)
    secret: str | None = None
    proxy: str | None = None
