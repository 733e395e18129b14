"""Run-time overrides on the catalog: aliases and prices an operator sets without a restart.

They sit over the settings: an alias set here routes its name even where `settings.aliases` names
it too, and a price replaces a model's list price for the sizes (and clips) it names, so new
jobs are estimated, and budgeted, at it. Aliases never chain: a target is a model (by its name or
one of its own aliases), never another operator alias, so no set of aliases can loop. An alias of
a model's own name to itself (`sora-2` -> `sora-2`) takes a settings alias off that name.

Everything here checks values the way the admin API answers them (`InvalidRequestError` with
`param` and `allowed`); `Overrides.parse` reads stored rows leniently, dropping (and logging) a
row the catalog no longer fits, so a model that disappears never stops a server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry
from sorakit.errors import InvalidRequestError, NotFoundError

if TYPE_CHECKING:
    from sorakit.catalog.catalog import Catalog
    from sorakit.ledger.overrides import OverrideRecord

logger = logging.getLogger(__name__)

PRICE_FIELDS = ("usd_per_second", "usd_per_clip", "usd_per_image")


@dataclass(frozen=True)
class PriceOverride:
    """A model's prices as an operator set them; what it leaves out keeps the list price."""

    per_second: Mapping[str, float] = field(default_factory=dict)
    """USD per output second by size."""
    per_clip: Mapping[tuple[str, int], float] = field(default_factory=dict)
    """USD per clip by (size, seconds)."""
    per_image: Mapping[str, float] = field(default_factory=dict)
    """USD per image by size (image models)."""

    def apply(self, caps: ModelCapabilities) -> ModelCapabilities:
        """The record with these prices in place.

        A per-second rate for a size also retires the list's per-clip prices at that size, since
        those take precedence and would otherwise hide the operator's rate.
        """
        per_clip = {k: v for k, v in caps.price_per_clip.items() if k[0] not in self.per_second}
        per_clip.update(self.per_clip)
        return replace(
            caps,
            price_per_second={**caps.price_per_second, **self.per_second},
            price_per_clip=per_clip,
            price_per_image={**caps.price_per_image, **self.per_image},
        )

    def to_json(self) -> dict[str, Any]:
        """The stored (and answered) form (`usd_per_image` only where there is one)."""
        return {
            **({"usd_per_image": dict(self.per_image)} if self.per_image else {}),
            "usd_per_second": dict(self.per_second),
            "usd_per_clip": [
                {"size": size, "seconds": seconds, "usd": usd}
                for (size, seconds), usd in sorted(self.per_clip.items())
            ],
        }

    @classmethod
    def parse(cls, value: Any, entry: ModelEntry) -> PriceOverride:
        """A price body for `entry`: `{"usd_per_second": 0.1 | {size: usd}, "usd_per_clip":
        [{"size", "seconds", "usd"}]}`, for an image model `{"usd_per_image": 0.04 | {size:
        usd}}`; InvalidRequestError says what is wrong."""
        if not isinstance(value, dict):
            raise InvalidRequestError("A price must be a JSON object.")
        for name in value:
            if name not in PRICE_FIELDS:
                raise InvalidRequestError(
                    f"Unrecognized request argument supplied: {name}",
                    param=name,
                    allowed=PRICE_FIELDS,
                )
        caps = entry.capabilities
        if caps.output == "image":
            return cls(per_image=_per_image(value, caps, entry.name))
        if all(value.get(name) is None for name in PRICE_FIELDS):
            raise InvalidRequestError(
                "Give 'usd_per_second' or 'usd_per_clip' (or both).", param="usd_per_second"
            )
        if value.get("usd_per_image") is not None:
            raise InvalidRequestError(
                f"{entry.name} makes videos: price it with 'usd_per_second' or 'usd_per_clip'.",
                param="usd_per_image",
            )
        return cls(
            _per_second(value.get("usd_per_second"), caps, entry.name),
            _per_clip(value.get("usd_per_clip"), caps, entry.name),
        )


def _usd(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequestError(f"'{param}' must be a number of USD.", param=param)
    if value < 0:
        raise InvalidRequestError(f"'{param}' must be 0 or more, not {value}.", param=param)
    return float(value)


def _size(size: Any, caps: ModelCapabilities, model: str, param: str) -> str:
    if size not in caps.all_sizes:
        raise InvalidRequestError(
            f"{model} has no size {size!r}; it offers {', '.join(caps.all_sizes)}.",
            param=param,
            allowed=caps.all_sizes,
        )
    return str(size)


def _per_second(
    value: Any, caps: ModelCapabilities, model: str, param: str = "usd_per_second"
) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return dict.fromkeys(caps.all_sizes, _usd(value, param))
    return {_size(s, caps, model, param): _usd(usd, param) for s, usd in value.items()}


def _per_image(body: dict[str, Any], caps: ModelCapabilities, model: str) -> dict[str, float]:
    """An image model's prices: `usd_per_image` (its list form may say per_second/per_clip as
    empty, as `to_json` writes them)."""
    if body.get("usd_per_second") or body.get("usd_per_clip"):
        raise InvalidRequestError(
            f"{model} makes images: price it with 'usd_per_image'.", param="usd_per_second"
        )
    if body.get("usd_per_image") is None:
        raise InvalidRequestError("Give 'usd_per_image'.", param="usd_per_image")
    return _per_second(body["usd_per_image"], caps, model, "usd_per_image")


def _per_clip(value: Any, caps: ModelCapabilities, model: str) -> dict[tuple[str, int], float]:
    param = "usd_per_clip"
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise InvalidRequestError(
            f'\'{param}\' must be a list of {{"size", "seconds", "usd"}} objects.', param=param
        )
    lengths = caps.all_seconds
    clips: dict[tuple[str, int], float] = {}
    for clip in value:
        if set(clip) != {"size", "seconds", "usd"}:
            raise InvalidRequestError(
                f"Each of '{param}' needs exactly 'size', 'seconds' and 'usd'.", param=param
            )
        seconds = clip["seconds"]
        if isinstance(seconds, str) and seconds.isdigit():
            seconds = int(seconds)  # the Videos API sends seconds as a string
        if isinstance(seconds, bool) or seconds not in lengths:
            raise InvalidRequestError(
                f"{model} makes no {seconds!r} s clips; it makes {', '.join(map(str, lengths))}.",
                param=param,
                allowed=[str(s) for s in lengths],
            )
        clips[(_size(clip["size"], caps, model, param), int(seconds))] = _usd(clip["usd"], param)
    return clips


@dataclass(frozen=True)
class Overrides:
    """Every alias and price override, as the catalog applies them."""

    aliases: Mapping[str, str] = field(default_factory=dict)
    """Alias to target; a name mapped to itself takes a settings alias off it."""
    prices: Mapping[str, PriceOverride] = field(default_factory=dict)
    """By the model's catalog name."""

    def reprice(self, entry: ModelEntry) -> ModelEntry:
        """The entry with its overridden prices, or as it is."""
        price = self.prices.get(entry.name)
        if price is None:
            return entry
        return replace(entry, capabilities=price.apply(entry.capabilities))

    @classmethod
    def parse(cls, records: Iterable[OverrideRecord], catalog: Catalog) -> Overrides:
        """Stored rows as overrides; a row the catalog cannot take is logged and left out."""
        aliases: dict[str, str] = {}
        prices: dict[str, PriceOverride] = {}
        for record in records:
            try:
                if record.kind == "alias":
                    target = record.value.get("target") if isinstance(record.value, dict) else None
                    if not isinstance(target, str) or catalog.listed(target) is None:
                        raise InvalidRequestError(f"the target {target!r} is not a known model")
                    aliases[record.name] = target
                elif record.kind == "price":
                    entry = catalog.listed(record.name)
                    if entry is None:
                        raise InvalidRequestError("it is not a known model")
                    prices[entry.name] = PriceOverride.parse(record.value, entry)
            except InvalidRequestError as exc:
                logger.warning("ignoring the %s override of %r: %s", record.kind, record.name, exc)
        return cls(aliases, prices)


def check_alias(catalog: Catalog, name: str, target: str) -> None:
    """Refuse an alias that names no model, would chain, or is no name at all."""
    if not name.strip() or len(name) > 128 or name != name.strip():
        raise InvalidRequestError(
            "An alias must be 1 to 128 characters, without surrounding spaces.", param="name"
        )
    models = sorted(entry.name for entry in catalog)
    further = catalog.aliases.get(target)
    if further is not None and target != name:
        raise InvalidRequestError(
            f"{target!r} is itself an alias of {further!r}, and aliases do not chain; "
            f"point {name!r} at {further!r}.",
            param="target",
            allowed=models,
        )
    if catalog.listed(target) is None:
        raise InvalidRequestError(
            f"The target {target!r} is not a known model. Known models: {', '.join(models)}.",
            param="target",
            allowed=models,
        )
    if target == name:
        return  # the name back to its own model
    pointing = sorted(a for a, t in catalog.aliases.items() if t == name and a != name)
    if pointing:
        raise InvalidRequestError(
            f"{name!r} is the target of the alias {pointing[0]!r}, and aliases do not chain; "
            f"point {pointing[0]!r} at {target!r} first.",
            param="name",
        )


def price_entry(catalog: Catalog, model: str) -> ModelEntry:
    """The entry, as listed, whose price an operator means: by a model's name or own alias."""
    entry = catalog.listed(model)
    if entry is None:
        known = ", ".join(sorted(e.name for e in catalog))
        raise NotFoundError(
            f"The model {model!r} does not exist. Known models: {known}.", param="model"
        )
    return entry
