"""Admin · Pools: the upstream credentials each provider picks from, and how it picks.

Everything goes through `PoolAdmin`, as `/admin/pools` and `sorakit pools` do: a secret is
sealed on its way in and never comes out (the page shows a credential's state, never its
secret nor its proxy).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from sorakit.engine.upstream import STRATEGIES, PoolAdmin
from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.studio.manage_common import Section, when
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

PAGE = "manage_pools.html"
LIST = "_manage_pools_list.html"


def _admin(studio: Studio) -> PoolAdmin:
    return PoolAdmin(studio.engine.upstream)


async def _context(studio: Studio) -> dict[str, Any]:
    pools = await _admin(studio).describe()
    for pool in pools:
        for credential in pool["credentials"]:
            until = credential["cooldown_until"]
            credential["cooling_until"] = when(until) if until else None
            used = credential["last_used_at"]
            credential["last_used"] = when(used) if used else "never"
    return {"section": "Pools", "pools": pools, "strategies": STRATEGIES, "list_template": LIST}


SECTION = Section(PAGE, _context)


@router.get("/manage/pools")
async def pools_page(studio: StudioDep) -> Response:
    """Every provider that takes credentials, its strategy and its credentials' state."""
    return await SECTION.show(studio)


def _limit(value: str) -> int | None:
    """A credential's concurrency, refused in the API's words."""
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise InvalidRequestError(
            "'max_concurrency' must be a positive integer", param="max_concurrency"
        )
    return int(text)


async def _member(studio: Studio, provider: str, credential_id: str) -> None:
    """Refuse a credential that is not in this provider's pool, as the API does."""
    try:
        record = await studio.engine.ledger.credential(credential_id)
    except NotFoundError:
        record = None
    if record is None or record.provider != provider:
        raise NotFoundError(
            f"No {provider} credential with id '{credential_id}'.", param="credential_id"
        )


@router.post("/manage/pools/{provider}/credentials")
async def add_credential(
    studio: StudioDep,
    provider: str,
    secret: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    max_concurrency: Annotated[str, Form()] = "",
    proxy: Annotated[str, Form()] = "",
    base_url: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Add a credential to a provider's pool (sealed with `SORAKIT_SECRET_KEY`)."""

    async def add() -> str:
        record = await _admin(studio).add(
            provider,
            secret=secret,
            label=label.strip() or None,
            max_concurrency=_limit(max_concurrency),
            proxy=proxy.strip() or None,
            base_url=base_url.strip() or None,
        )
        return f"Added {record.label} ({record.id}) to the {provider} pool."

    return await SECTION.act(studio, csrf_token, add)


@router.post("/manage/pools/{provider}/credentials/{credential_id}/remove")
async def remove_credential(
    studio: StudioDep,
    provider: str,
    credential_id: str,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Forget a stored credential; refused while jobs it created are unfinished."""

    async def remove() -> str:
        await _member(studio, provider, credential_id)
        await _admin(studio).remove(credential_id)
        return f"Removed {credential_id} from the {provider} pool."

    return await SECTION.act(studio, csrf_token, remove)


@router.post("/manage/pools/{provider}/credentials/{credential_id}/enabled")
async def set_enabled(
    studio: StudioDep,
    provider: str,
    credential_id: str,
    enabled: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Put a credential back in rotation (clearing its failures), or take it out."""

    async def change() -> str:
        if enabled not in ("true", "false"):
            raise InvalidRequestError("'enabled' must be true or false", param="enabled")
        await _member(studio, provider, credential_id)
        record = await _admin(studio).change(credential_id, enabled=enabled == "true")
        state = "enabled" if record.enabled else "disabled"
        return f"{record.label} ({record.id}) {state}."

    return await SECTION.act(studio, csrf_token, change)


@router.post("/manage/pools/{provider}/strategy")
async def set_strategy(
    studio: StudioDep,
    provider: str,
    strategy: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """How the pool picks a credential for each job (its proxy is kept)."""

    async def configure() -> str:
        pool = await _admin(studio).configure(provider, strategy=strategy.strip() or None)
        return f"The {provider} pool now picks {pool['strategy']}."

    return await SECTION.act(studio, csrf_token, configure)
