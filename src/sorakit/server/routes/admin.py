"""The admin API: keys, usage and spend (the admin key only; every other caller gets 403)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from sorakit.gateway.auth import Principal
from sorakit.ledger.keys import MAX_LIMIT
from sorakit.server import webhooks
from sorakit.server.bodies import described_body, read_body, refuse_unknown, string_field
from sorakit.server.deps import EngineDep, GatekeeperDep, PrincipalDep, SettingsDep
from sorakit.settings import Settings
from sorakit.wire.admin import KeyCreateParams


async def admin_only(principal: PrincipalDep) -> Principal:
    """The admin key, or 403 (the dependency of every admin router)."""
    if principal.key is None or not principal.key.admin:
        raise PermissionDeniedError("This endpoint needs the admin API key.")
    return principal


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_only)])


@router.get("/keys", summary="List API keys")
async def list_keys(engine: EngineDep, include_revoked: bool = False) -> dict[str, Any]:
    """Every key with its limits and spend (never a secret or a hash)."""
    keys = await engine.ledger.list_keys(include_revoked=include_revoked)
    data = []
    for key in keys:
        spend = await engine.ledger.spend(owner=key.id)
        data.append({**key.public(), "spend": asdict(spend)})
    return {"object": "list", "data": data}


@router.post("/keys", summary="Create an API key", openapi_extra=described_body(KeyCreateParams))
async def create_key(
    request: Request, engine: EngineDep, gatekeeper: GatekeeperDep, settings: SettingsDep
) -> dict[str, Any]:
    """Create a key; the answer's `key` (and `webhook_secret`) is the only time it is shown."""
    body, _ = await read_body(request)
    refuse_unknown(
        body, {"name", "budget_usd", "rpm", "concurrency", "models", "admin", "webhook_url"}
    )
    url = string_field(body, "webhook_url")
    secret, sealed = await _webhook(settings, url) if url else (None, None)
    models = body.get("models")
    key, token = await engine.ledger.create_key(
        string_field(body, "name", required=True) or "",
        admin=bool(body.get("admin", False)),
        budget_usd=_number(body, "budget_usd"),
        rpm=_number(body, "rpm"),
        concurrency=_whole(body, "concurrency"),
        models=[str(m) for m in models] if isinstance(models, list) else None,
        webhook_url=url,
        webhook_secret=sealed,
    )
    gatekeeper.forget()  # the first tenant key closes the gateway: apply it at once
    return {**key.public(), "key": token, **({"webhook_secret": secret} if secret else {})}


@router.patch("/keys/{key_id}", summary="Set or clear an API key's webhook")
async def update_key(
    key_id: str, request: Request, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    """`{"webhook_url": URL}` sets it with a new signing secret (shown this once); null clears it."""
    body, _ = await read_body(request)
    refuse_unknown(body, {"webhook_url"})
    if "webhook_url" not in body:
        raise InvalidRequestError("Missing required parameter: 'webhook_url'.", param="webhook_url")
    if await engine.ledger.get_key(key_id) is None:
        raise NotFoundError(f"No API key with id '{key_id}'.", param="key_id")
    url = string_field(body, "webhook_url")
    secret, sealed = await _webhook(settings, url) if url else (None, None)
    key = await engine.ledger.set_key_webhook(key_id, url or None, sealed)
    return {**key.public(), **({"webhook_secret": secret} if secret else {})}


async def _webhook(settings: Settings, url: str) -> tuple[str, str]:
    """The checked URL's new secret and its sealed form; a missing secret key is the caller's 400."""
    try:
        return await webhooks.tenant_webhook(settings, url)
    except ConfigurationError as exc:
        raise InvalidRequestError(exc.message, param="webhook_url") from None


@router.delete("/keys/{key_id}", summary="Revoke an API key")
async def revoke_key(key_id: str, engine: EngineDep, gatekeeper: GatekeeperDep) -> dict[str, Any]:
    """Revoke a key; its videos stay."""
    key = await engine.ledger.revoke_key(key_id)
    gatekeeper.forget()
    return key.public()


@router.get("/usage", summary="Usage and spend per key, model and day")
async def usage(
    engine: EngineDep, days: Annotated[int, Query(ge=1, le=3660)] = 30
) -> dict[str, Any]:
    """Jobs, committed and reserved USD, and jobs of unknown price, per key, model and UTC day."""
    since = time.time() - days * 86400
    rows = await engine.ledger.usage(since=since)
    return {
        "object": "list",
        "data": [asdict(r) for r in rows],
        "requests": await engine.ledger.request_counts(since),
    }


@router.get("/log", summary="The request log")
async def request_log(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    key_id: str | None = None,
) -> dict[str, Any]:
    """The most recent requests (key, route, model, status, latency, cost), newest first."""
    rows = await engine.ledger.recent_requests(limit=limit, key_id=key_id)
    return {"object": "list", "data": [asdict(r) for r in rows]}


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"'{name}' must be a number.", param=name)
    return float(value)


def _whole(body: dict[str, Any], name: str) -> int | None:
    """A whole number (1.5 videos in progress is refused, not rounded down)."""
    value = _number(body, name)
    if value is None:
        return None
    if not value.is_integer() or abs(value) > MAX_LIMIT:
        raise InvalidRequestError(
            f"'{name}' must be a whole number from 1 to {MAX_LIMIT:,}.", param=name
        )
    return int(value)
