"""Who calls a tool, and what they may reach: the local ledger's user, or a gateway API key.

Over stdio the caller is whoever started `sorakit mcp` (its files are theirs: paths are fine).
Over HTTP each request carries a tenant key, authenticated by `mcp.http` with the gateway's own
`Gatekeeper` and handed to the tools on the request's scope; such a caller reaches only its own
videos, is admitted by the same per-key checks as `/v1`, and is given links, never server paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from sorakit.engine import Owner
from sorakit.errors import InvalidRequestError
from sorakit.gateway.auth import Principal
from sorakit.gateway.references import image_bytes, is_image_url, refusal

PRINCIPAL_STATE = "mcp_principal"
"""The key in an HTTP request's scope state under which `mcp.http` leaves the caller."""


@dataclass(frozen=True)
class Caller:
    """One tool call's caller: an owner for its new jobs and, over HTTP, its `Principal`."""

    owner: Owner | None
    principal: Principal | None = None
    """Set over HTTP only; None is the local ledger (stdio, in memory)."""
    base_url: str | None = None
    """Over HTTP: where this server is reached, for the links it hands out."""
    request: Any = None
    """Over HTTP: the Starlette request that carried the call (its state feeds the request log)."""

    @property
    def remote(self) -> bool:
        """Whether the call came over HTTP (no server path may reach it)."""
        return self.principal is not None

    def may_see(self, job_owner: str | None) -> bool:
        """Whether a job (or pipeline) made for `job_owner` is this caller's to see."""
        if self.principal is not None:
            return self.principal.may_see(job_owner)
        owner = self.owner
        return not (owner and owner.key_id and not owner.sees_all and job_owner != owner.key_id)

    @property
    def listed_owner(self) -> str | None:
        """The key whose videos a listing shows; None: all of them."""
        if self.principal is not None:
            key = self.principal.key
            return None if key is None or self.principal.sees_all else key.id
        owner = self.owner
        return owner.key_id if owner and not owner.sees_all else None

    def note(self, model: str, video_id: str | None, cost: float | None) -> None:
        """Record what an HTTP call made in its request's log row, as `/v1` does."""
        state = getattr(self.request, "state", None)
        if state is not None:
            state.log_model, state.log_video, state.log_cost = model, video_id, cost

    async def image(self, value: str, param: str) -> bytes | Path:
        """An image argument: a data URL or an http(s) URL (fetched through the SSRF guard), or
        on stdio a file path too. Over HTTP a path is refused unread: the server's files are not
        a tenant's to name."""
        if is_image_url(value):
            return await image_bytes(value, param)
        if self.remote:
            raise refusal(param)
        path = Path(value).expanduser()
        if not await anyio.Path(path).is_file():
            raise InvalidRequestError(
                f"'{param}' names no image file: {value} (give a path, a data URL or an "
                "http(s) URL).",
                param=param,
            )
        return path
