"""The admin API for upstream credential pools (the admin key only).

A credential's secret goes in once and never comes out: every answer shows its state (active,
cooling, disabled and why), its load and its limits, never its secret nor its proxy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request

from sorakit.engine import Engine
from sorakit.engine.upstream import PoolAdmin
from sorakit.errors import ConfigurationError, InvalidRequestError, NotFoundError
from sorakit.ledger.credentials import CredentialRecord
from sorakit.server.bodies import described_body, read_body, refuse_unknown, string_field
from sorakit.server.deps import EngineDep
from sorakit.server.routes.admin import admin_only
from sorakit.wire.pools import CredentialChange, CredentialParams, PoolParams

router = APIRouter(prefix="/admin/pools", tags=["admin"], dependencies=[Depends(admin_only)])

_CHANGEABLE = {"enabled", "label", "max_concurrency", "secret", "proxy"}


@router.get("", summary="List upstream credential pools")
async def list_pools(engine: EngineDep) -> dict[str, Any]:
    """Every provider that takes credentials, its strategy and its credentials' state."""
    return {"object": "list", "data": await PoolAdmin(engine.upstream).describe()}


@router.put(
    "/{provider}",
    summary="Set a pool's strategy and proxy",
    openapi_extra=described_body(PoolParams),
)
async def configure_pool(provider: str, request: Request, engine: EngineDep) -> dict[str, Any]:
    """`{"strategy": "round-robin" | "least-loaded", "proxy": URL | null}`."""
    body, _ = await read_body(request)
    refuse_unknown(body, {"strategy", "proxy"})
    with _sealing():
        return await PoolAdmin(engine.upstream).configure(
            provider,
            strategy=string_field(body, "strategy"),
            proxy=string_field(body, "proxy"),
            clear_proxy="proxy" in body and body["proxy"] is None,
        )


@router.post(
    "/{provider}/credentials",
    summary="Add an upstream credential",
    openapi_extra=described_body(CredentialParams),
)
async def add_credential(provider: str, request: Request, engine: EngineDep) -> dict[str, Any]:
    """Add a credential (sealed with `SORAKIT_SECRET_KEY`); the answer never repeats it."""
    body, _ = await read_body(request)
    refuse_unknown(body, {"secret", "label", "max_concurrency", "proxy", "base_url"})
    with _sealing():
        record = await PoolAdmin(engine.upstream).add(
            provider,
            secret=string_field(body, "secret", required=True) or "",
            label=string_field(body, "label"),
            max_concurrency=_limit(body),
            proxy=string_field(body, "proxy"),
            base_url=string_field(body, "base_url"),
        )
    return record.public()


@router.patch(
    "/{provider}/credentials/{credential_id}",
    summary="Change an upstream credential",
    openapi_extra=described_body(CredentialChange),
)
async def change_credential(
    provider: str, credential_id: str, request: Request, engine: EngineDep
) -> dict[str, Any]:
    """Enable (clearing its failures and cool-down), disable, relabel, limit or re-key it."""
    await _member(engine, provider, credential_id)
    body, _ = await read_body(request)
    refuse_unknown(body, _CHANGEABLE)
    changes: dict[str, Any] = {}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise InvalidRequestError("'enabled' must be true or false", param="enabled")
        changes["enabled"] = body["enabled"]
    if "label" in body:
        changes["label"] = string_field(body, "label", required=True)
    if "max_concurrency" in body:
        changes["max_concurrency"] = _limit(body)
    for name in ("secret", "proxy"):
        if name in body:
            changes[name] = string_field(body, name)
    with _sealing():
        record = await PoolAdmin(engine.upstream).change(credential_id, **changes)
    load = await engine.ledger.credential_load([record.id])
    return record.public(load.get(record.id, 0))


@router.delete("/{provider}/credentials/{credential_id}", summary="Remove an upstream credential")
async def remove_credential(provider: str, credential_id: str, engine: EngineDep) -> dict[str, Any]:
    """Forget a stored credential; refused while jobs it created are unfinished."""
    await _member(engine, provider, credential_id)
    await PoolAdmin(engine.upstream).remove(credential_id)
    return {"id": credential_id, "object": "credential.deleted", "deleted": True}


async def _member(engine: Engine, provider: str, credential_id: str) -> CredentialRecord:
    record: CredentialRecord | None
    try:
        record = await engine.ledger.credential(credential_id)
    except NotFoundError:
        record = None
    if record is None or record.provider != provider:
        raise NotFoundError(
            f"No {provider} credential with id '{credential_id}'.", param="credential_id"
        )
    return record


def _limit(body: dict[str, Any]) -> int | None:
    value = body.get("max_concurrency")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(
            "'max_concurrency' must be a positive integer", param="max_concurrency"
        )
    return value


@contextlib.contextmanager
def _sealing() -> Iterator[None]:
    """A missing `SORAKIT_SECRET_KEY` is the admin's to fix: a 400 naming it, not a 500."""
    try:
        yield
    except ConfigurationError as exc:
        raise InvalidRequestError(exc.message, code="secret_key_required") from exc
