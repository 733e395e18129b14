"""The catalog of models a sorakit instance can serve, built from settings."""

from __future__ import annotations

from collections.abc import Iterator

from sorakit.catalog.capabilities import ModelEntry
from sorakit.catalog.sora import sora_models
from sorakit.errors import NotFoundError
from sorakit.settings import Settings


class Catalog:
    """Model names (and aliases) to entries."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._aliases: dict[str, str] = {}
        for entry in entries:
            self._entries[entry.name] = entry
            for alias in entry.aliases:
                self._aliases[alias] = entry.name

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def resolve(self, name: str) -> ModelEntry:
        """The entry for a model name or alias; NotFoundError names the known models."""
        entry = self._entries.get(self._aliases.get(name, name))
        if entry is None:
            known = ", ".join(sorted(self._entries))
            raise NotFoundError(
                f"The model {name!r} does not exist. Known models: {known}.", param="model"
            )
        return entry


def sora_provider(settings: Settings) -> str:
    """Which provider serves the Sora names: an `openai` server when one is set, else the simulator.

    An API key alone does not count: api.openai.com stopped serving /v1/videos on 2026-09-24, so
    only an explicit base URL routes Sora models to a remote server.
    """
    return "openai" if settings.openai_base_url else "simulator"


def build_catalog(settings: Settings) -> Catalog:
    """The catalog for these settings."""
    return Catalog(sora_models(sora_provider(settings)))
