"""The ledger's catalog overrides, kept in force in a running process, and the ways to change them.

Every process reads the overrides at start (`load_overrides`); a server re-reads them every
`SYNC_SECONDS` (`OverrideSync`), so an alias or a price changed by the admin API of another
server on the same database, or by `sorakit aliases`/`sorakit prices`, applies within that time.
A change made through this process applies at once: `set_alias` and the others re-read after
writing. The table holds a row per alias or priced model, so a re-read is one small query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Any

from sorakit.catalog.capabilities import ModelCapabilities
from sorakit.catalog.catalog import Catalog
from sorakit.catalog.overrides import Overrides, PriceOverride, check_alias, price_entry
from sorakit.errors import NotFoundError

if TYPE_CHECKING:
    from sorakit.ledger.overrides import OverrideRecord, OverrideStore

logger = logging.getLogger(__name__)

SYNC_SECONDS = 2.0
_reading: weakref.WeakKeyDictionary[Catalog, asyncio.Lock] = weakref.WeakKeyDictionary()


async def load_overrides(catalog: Catalog, store: OverrideStore) -> Overrides:
    """Read the ledger's overrides and apply them to `catalog`."""
    # One read-and-apply at a time per catalog: a background read taken just before an admin
    # write must not be applied after the write's own re-read, undoing it until the next pass.
    async with _reading.setdefault(catalog, asyncio.Lock()):
        overrides = Overrides.parse(await store.list_overrides(), catalog)
        catalog.apply(overrides)
    return overrides


class OverrideSync:
    """Re-reads the overrides every `interval` seconds while a server runs."""

    def __init__(
        self, catalog: Catalog, store: OverrideStore, *, interval: float = SYNC_SECONDS
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Apply the overrides now, then keep them current in the background."""
        await load_overrides(self.catalog, self.store)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await load_overrides(self.catalog, self.store)
            except Exception as exc:  # a busy database now is no reason to stop syncing
                logger.warning("could not re-read the catalog overrides: %s", exc)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def set_alias(
    catalog: Catalog, store: OverrideStore, name: str, target: str
) -> OverrideRecord:
    """Route `name` to the model `target` (checked against the overrides in force now)."""
    await load_overrides(catalog, store)
    check_alias(catalog, name, target)
    record = await store.set_override("alias", name, {"target": target})
    await load_overrides(catalog, store)
    return record


async def remove_alias(catalog: Catalog, store: OverrideStore, name: str) -> OverrideRecord:
    """Drop the alias set at run time; a settings alias of the same name applies again."""
    try:
        record = await store.delete_override("alias", name)
    except NotFoundError:
        where = " (it comes from the settings file)" if name in catalog.settings_aliases else ""
        raise NotFoundError(
            f"No alias '{name}' was set through the admin API{where}.", param="name"
        ) from None
    await load_overrides(catalog, store)
    return record


async def set_price(
    catalog: Catalog, store: OverrideStore, model: str, value: Any
) -> OverrideRecord:
    """Price `model` as `value` says (`PriceOverride.parse`); new jobs are estimated at it."""
    entry = price_entry(catalog, model)
    price = PriceOverride.parse(value, entry)
    record = await store.set_override("price", entry.name, price.to_json())
    await load_overrides(catalog, store)
    return record


async def remove_price(catalog: Catalog, store: OverrideStore, model: str) -> OverrideRecord:
    """Back to the list price."""
    entry = price_entry(catalog, model)
    try:
        record = await store.delete_override("price", entry.name)
    except NotFoundError:
        raise NotFoundError(
            f"The price of {entry.name} was not overridden.", param="model"
        ) from None
    await load_overrides(catalog, store)
    return record


def price_view(catalog: Catalog, model: str) -> dict[str, Any]:
    """A model's prices in force, its list prices, and whether an operator set them."""
    entry = price_entry(catalog, model)
    now = catalog.unaliased(entry.name) or entry
    return {
        "model": entry.name,
        "provider": entry.provider,
        "overridden": entry.name in catalog.overrides.prices,
        **_prices(now.capabilities),
        "list_price": _prices(entry.capabilities),
    }


def _prices(caps: ModelCapabilities) -> dict[str, Any]:
    return PriceOverride(caps.price_per_second, caps.price_per_clip, caps.price_per_image).to_json()


def alias_views(catalog: Catalog) -> list[dict[str, Any]]:
    """Every operator alias: the settings' and the run-time ones (a run-time one wins)."""
    views = {
        alias: {"alias": alias, "target": target, "source": "settings"}
        for alias, target in catalog.settings_aliases.items()
    }
    for alias, target in catalog.overrides.aliases.items():
        views[alias] = {"alias": alias, "target": target, "source": "admin"}
    return [views[name] for name in sorted(views)]
