"""The admin API for the catalog: operator aliases and model prices, changed without a restart.

A change applies in this server at once and in every other server on the same database within
`sorakit.catalog.sync.SYNC_SECONDS`. Model names carry slashes (`fal/veo-3.1`), hence `:path`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from sorakit.catalog.sync import (
    alias_views,
    load_overrides,
    price_view,
    remove_alias,
    remove_price,
    set_alias,
    set_price,
)
from sorakit.errors import NotFoundError
from sorakit.server.bodies import described_body, read_body, refuse_unknown, string_field
from sorakit.server.deps import EngineDep
from sorakit.server.routes.admin import admin_only
from sorakit.wire.catalog import AliasParams, PriceParams

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_only)])


@router.get("/aliases", summary="List operator aliases")
async def list_aliases(engine: EngineDep) -> dict[str, Any]:
    """Every alias in force, from the settings file or set here (`source`)."""
    await load_overrides(engine.catalog, engine.ledger)
    return {"object": "list", "data": alias_views(engine.catalog)}


@router.get("/aliases/{name:path}", summary="Show an operator alias")
async def get_alias(name: str, engine: EngineDep) -> dict[str, Any]:
    await load_overrides(engine.catalog, engine.ledger)
    for view in alias_views(engine.catalog):
        if view["alias"] == name:
            return view
    raise NotFoundError(f"No alias '{name}'.", param="name")


@router.put(
    "/aliases/{name:path}",
    summary="Route a model name to another model",
    openapi_extra=described_body(AliasParams),
)
async def put_alias(name: str, request: Request, engine: EngineDep) -> dict[str, Any]:
    """`{"target": MODEL}`; it wins over a settings alias of the same name."""
    body, _ = await read_body(request)
    refuse_unknown(body, {"target"})
    target = string_field(body, "target", required=True) or ""
    await set_alias(engine.catalog, engine.ledger, name, target)
    return {"alias": name, "target": target, "source": "admin"}


@router.delete("/aliases/{name:path}", summary="Remove an alias set through this API")
async def delete_alias(name: str, engine: EngineDep) -> dict[str, Any]:
    """A settings alias of the same name, if any, routes the name again."""
    await remove_alias(engine.catalog, engine.ledger, name)
    return {"alias": name, "deleted": True, "target": engine.catalog.aliases.get(name)}


@router.get("/prices", summary="List model prices")
async def list_prices(engine: EngineDep) -> dict[str, Any]:
    """Each model's prices in force and its list prices (USD)."""
    await load_overrides(engine.catalog, engine.ledger)
    return {
        "object": "list",
        "data": [price_view(engine.catalog, entry.name) for entry in engine.catalog],
    }


@router.get("/prices/{model:path}", summary="Show a model's prices")
async def get_price(model: str, engine: EngineDep) -> dict[str, Any]:
    await load_overrides(engine.catalog, engine.ledger)
    return price_view(engine.catalog, model)


@router.put(
    "/prices/{model:path}",
    summary="Override a model's prices",
    openapi_extra=described_body(PriceParams),
)
async def put_price(model: str, request: Request, engine: EngineDep) -> dict[str, Any]:
    """`{"usd_per_second": 0.1 | {SIZE: USD}, "usd_per_clip": [{size, seconds, usd}]}`."""
    body, _ = await read_body(request)
    await set_price(engine.catalog, engine.ledger, model, body)
    return price_view(engine.catalog, model)


@router.delete("/prices/{model:path}", summary="Restore a model's list prices")
async def delete_price(model: str, engine: EngineDep) -> dict[str, Any]:
    await remove_price(engine.catalog, engine.ledger, model)
    return price_view(engine.catalog, model)
