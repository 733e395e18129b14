"""The request shapes of the admin API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KeyCreateParams(BaseModel):
    """The body of `POST /admin/keys`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    """Who the key is for."""
    budget_usd: float | None = Field(default=None, gt=0, le=1_000_000_000)
    """The most the key may spend, in USD."""
    rpm: float | None = Field(default=None, gt=0, le=1_000_000_000)
    """The most videos the key may create per minute (0.5: one per two minutes)."""
    concurrency: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """The most videos the key may have in progress."""
    models: list[str] | None = None
    """The models the key may use; any when left out."""
    admin: bool | None = None
    """Whether the key is an admin key."""
    webhook_url: str | None = None
    """Where the key's `video.completed`/`video.failed` events go."""
