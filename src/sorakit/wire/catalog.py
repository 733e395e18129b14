"""The request shapes of the admin API's aliases and prices (`/admin/aliases`, `/admin/prices`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Usd = Annotated[float, Field(ge=0)]


class AliasParams(BaseModel):
    """The body of `PUT /admin/aliases/{name}`."""

    model_config = ConfigDict(extra="forbid")

    target: str
    """The model that serves the alias: a model's name or one of its own aliases."""


class ClipPrice(BaseModel):
    """The price of one clip of a size and length."""

    model_config = ConfigDict(extra="forbid")

    size: str
    """`WxH`, one of the model's sizes."""
    seconds: int | str
    """One of the model's lengths (a string, as the Videos API sends it, or a number)."""
    usd: Usd


class PriceParams(BaseModel):
    """The body of `PUT /admin/prices/{model}`; what it leaves out keeps the list price."""

    model_config = ConfigDict(extra="forbid")

    usd_per_second: Usd | dict[str, Usd] | None = None
    """USD per output second: one rate for every size, or rates by `WxH`."""
    usd_per_clip: list[ClipPrice] | None = None
    """USD per clip by size and length; a per-second rate at a size replaces these there."""
