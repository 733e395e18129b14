"""Admin · Models: operator aliases and model prices, changed without a restart.

Every change goes through `sorakit.catalog.sync`, as `/admin/aliases` and `/admin/prices` do:
it is written to the ledger, applied to this server's catalog at once (the Create page's
estimates and `/v1/models` follow), and reaches every other server within `SYNC_SECONDS`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from sorakit.catalog.sync import (
    alias_views,
    load_overrides,
    price_view,
    remove_alias,
    remove_price,
    set_alias,
    set_price,
)
from sorakit.studio.manage_common import Section, lenient_number
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

PAGE = "manage_models.html"


def per_second_text(rates: Mapping[str, float]) -> str:
    """`$0.10/s`, or the rate of each size where they differ."""
    by_rate: dict[float, list[str]] = defaultdict(list)
    for size, usd in rates.items():
        by_rate[usd].append(size)
    if len(by_rate) == 1:
        return f"${next(iter(by_rate)):.2f}/s"
    return "; ".join(f"{', '.join(sizes)}: ${usd:.2f}/s" for usd, sizes in sorted(by_rate.items()))


def per_clip_text(clips: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['size']} {c['seconds']} s: ${c['usd']:.2f}" for c in clips)


def _price_line(view: dict[str, Any]) -> dict[str, Any]:
    listed = view["list_price"]
    return {
        "model": view["model"],
        "provider": view["provider"],
        "overridden": view["overridden"],
        "per_second": per_second_text(view["usd_per_second"]),
        "per_clip": per_clip_text(view["usd_per_clip"]),
        "list_per_second": per_second_text(listed["usd_per_second"]),
        "list_per_clip": per_clip_text(listed["usd_per_clip"]),
    }


async def _context(studio: Studio) -> dict[str, Any]:
    catalog = studio.engine.catalog
    await load_overrides(catalog, studio.engine.ledger)  # what another server set, too
    return {
        "section": "Models",
        "list_template": "_manage_models_list.html",
        "aliases": alias_views(catalog),
        "prices": [_price_line(price_view(catalog, entry.name)) for entry in catalog],
        "model_names": [entry.name for entry in catalog],
    }


SECTION = Section(PAGE, _context)


@router.get("/manage/models")
async def models_page(studio: StudioDep) -> Response:
    """The aliases in force and every model's prices, with the forms that change them."""
    return await SECTION.show(studio)


@router.post("/manage/models/aliases")
async def put_alias(
    studio: StudioDep,
    name: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Route a model name to another model (it wins over a settings alias of the same name)."""

    async def route() -> str:
        await set_alias(studio.engine.catalog, studio.engine.ledger, name, target.strip())
        return f"{name} now routes to {target.strip()}."

    return await SECTION.act(studio, csrf_token, route)


@router.post("/manage/models/aliases/remove")
async def delete_alias(
    studio: StudioDep,
    name: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Drop an alias set here; a settings alias of the same name routes the name again."""
    catalog = studio.engine.catalog

    async def remove() -> str:
        await remove_alias(catalog, studio.engine.ledger, name)
        after = catalog.aliases.get(name)
        return f"Removed the alias {name}" + (
            f"; the settings route it to {after}." if after else "."
        )

    return await SECTION.act(studio, csrf_token, remove)


def _price_body(
    per_second: str, size: str, clip_size: str, clip_seconds: str, clip_usd: str
) -> dict[str, Any]:
    """The form as `PUT /admin/prices/{model}`'s body, for `PriceOverride.parse` to check in
    the API's own words (a field that is not a number goes to it as typed)."""
    body: dict[str, Any] = {}
    rate = lenient_number(per_second)
    if rate is not None:
        body["usd_per_second"] = {size.strip(): rate} if size.strip() else rate
    if any(field.strip() for field in (clip_size, clip_seconds, clip_usd)):
        clip = {"size": clip_size.strip(), "seconds": clip_seconds.strip()}
        body["usd_per_clip"] = [{**clip, "usd": lenient_number(clip_usd)}]
    return body


@router.post("/manage/models/prices")
async def put_price(
    studio: StudioDep,
    model: Annotated[str, Form()] = "",
    usd_per_second: Annotated[str, Form()] = "",
    size: Annotated[str, Form()] = "",
    clip_size: Annotated[str, Form()] = "",
    clip_seconds: Annotated[str, Form()] = "",
    clip_usd: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Override a model's prices (replacing an earlier override); new jobs are estimated at it."""
    catalog = studio.engine.catalog

    async def override() -> str:
        body = _price_body(usd_per_second, size, clip_size, clip_seconds, clip_usd)
        await set_price(catalog, studio.engine.ledger, model, body)
        line = _price_line(price_view(catalog, model))
        prices = "; ".join(part for part in (line["per_second"], line["per_clip"]) if part)
        return f"{line['model']} now costs {prices}."

    return await SECTION.act(studio, csrf_token, override)


@router.post("/manage/models/prices/restore")
async def restore_price(
    studio: StudioDep,
    model: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Back to the model's list price."""

    async def restore() -> str:
        await remove_price(studio.engine.catalog, studio.engine.ledger, model)
        return f"{model} is back at its list price."

    return await SECTION.act(studio, csrf_token, restore)
