"""The catalog of models a sorakit instance can serve, built from settings.

Names resolve in three steps: an operator's alias (`settings.aliases`, so an old app that sends
`sora-2` can be routed to another model without a code change), then a model's own aliases, then
the model names themselves. Overrides set at run time (`sorakit.catalog.overrides`: the admin
API's aliases and prices) are laid over the settings with `Catalog.apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from sorakit.catalog.capabilities import ModelEntry
from sorakit.catalog.images import simulator_image_models
from sorakit.catalog.overrides import Overrides
from sorakit.catalog.sora import sora_models
from sorakit.errors import ConfigurationError, NotFoundError
from sorakit.settings import Settings


class Catalog:
    """Model names (and aliases) to entries."""

    def __init__(self, entries: list[ModelEntry], aliases: Mapping[str, str] | None = None) -> None:
        self._listed: dict[str, ModelEntry] = {}
        self._names: dict[str, str] = {}
        for entry in entries:
            self._listed[entry.name] = entry
            for alias in entry.aliases:
                self._names[alias] = entry.name
        self._entries = dict(self._listed)
        self.settings_aliases = dict(aliases or {})
        self.aliases = dict(self.settings_aliases)
        """The operator aliases in force: the settings', then the run-time overrides."""
        self.overrides = Overrides()
        for alias, target in self.aliases.items():
            if self._lookup(target) is None:
                raise ConfigurationError(
                    f"the alias {alias!r} points at {target!r}, which is not a known model"
                )

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(self.aliases.get(name, name)) is not None

    def _lookup(self, name: str) -> ModelEntry | None:
        return self._entries.get(self._names.get(name, name))

    def apply(self, overrides: Overrides) -> None:
        """Lay run-time overrides over the settings: their aliases win, their prices replace the
        list prices (for jobs planned from now on)."""
        entries = {name: overrides.reprice(entry) for name, entry in self._listed.items()}
        aliases = dict(self.settings_aliases)
        for alias, target in overrides.aliases.items():
            if alias == target:
                aliases.pop(alias, None)
            else:
                aliases[alias] = target
        # Swapped in whole, so a request planned meanwhile sees one state or the other.
        self._entries, self.aliases, self.overrides = entries, aliases, overrides

    def listed(self, name: str) -> ModelEntry | None:
        """The entry as built, before any price override (None if the name has none of its own)."""
        return self._listed.get(self._names.get(name, name))

    def unaliased(self, name: str) -> ModelEntry | None:
        """The entry a name has of its own, ignoring operator aliases (None if it has none)."""
        return self._lookup(name)

    def serving(self, provider: str, provider_model: str, name: str) -> ModelEntry:
        """The entry a recorded job was made with: by provider and provider model, whatever the
        aliases say today (an operator may have re-pointed `sora-2` since)."""
        for entry in self._entries.values():
            if entry.provider == provider and entry.provider_model == provider_model:
                return entry
        return self.resolve(name)

    def route(self, name: str) -> tuple[ModelEntry, bool]:
        """The entry that serves a name, and whether an operator's alias routed it there."""
        target = self.aliases.get(name)
        entry = self._lookup(target or name)
        if entry is None:
            known = ", ".join(sorted(self._entries))
            raise NotFoundError(
                f"The model {name!r} does not exist. Known models: {known}.", param="model"
            )
        return entry, target is not None

    def videos(self) -> list[ModelEntry]:
        """The entries that make videos (what every video surface offers)."""
        return [entry for entry in self if entry.capabilities.output == "video"]

    def images(self) -> list[ModelEntry]:
        """The entries that make images (`/v1/images`, `sorakit image`)."""
        return [entry for entry in self if entry.capabilities.output == "image"]

    def resolve(self, name: str) -> ModelEntry:
        """The entry for a model name or alias; NotFoundError names the known models."""
        return self.route(name)[0]


def sora_provider(settings: Settings) -> str:
    """Which provider serves the Sora names: an `openai` server when one is set, else the simulator.

    An API key alone does not count: api.openai.com stopped serving /v1/videos on 2026-09-24, so
    only an explicit base URL routes Sora models to a remote server.
    """
    return "openai" if settings.openai_base_url else "simulator"


def build_catalog(settings: Settings) -> Catalog:
    """The catalog for these settings: Sora's names, every live provider's models, the image
    models, `sim-image` (with the OpenAI image names no other entry has), the aliases."""
    entries = sora_models(sora_provider(settings))
    for provider_models in live_model_lists():
        entries.extend(provider_models())
    entries.extend(_local_models(settings))
    for image_models in image_model_lists():
        entries.extend(image_models(settings))
    taken = {name for entry in entries for name in (entry.name, *entry.aliases)}
    entries.extend(simulator_image_models(taken))
    return Catalog(entries, settings.aliases)


def live_model_lists() -> list[Callable[[], list[ModelEntry]]]:
    """The catalog functions of the live providers (one line per provider)."""
    from sorakit.catalog.fal import fal_models
    from sorakit.catalog.google import google_models
    from sorakit.catalog.runway import runway_models

    return [fal_models, google_models, runway_models]


def _local_models(settings: Settings) -> list[ModelEntry]:
    """The open-weight models in `SORAKIT_LOCAL_MODELS` (none when it is unset)."""
    if not settings.local_models:
        return []
    from sorakit.catalog.local import local_models

    return local_models(settings)


def image_model_lists() -> list[Callable[[Settings], list[ModelEntry]]]:
    """The catalog functions of the image providers (one line per provider)."""
    from sorakit.catalog.fal_images import fal_image_models
    from sorakit.catalog.openai_images import openai_image_models

    return [fal_image_models, openai_image_models]
