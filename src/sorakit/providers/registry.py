"""Provider registration: a name, and a factory that builds the provider from settings.

Adding a provider is one module plus one line in `PROVIDERS`. Modules are imported only when a
provider is first used, so an unused provider's SDK costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sorakit.errors import ConfigurationError
from sorakit.providers.base import Provider
from sorakit.settings import Settings

ProviderFactory = Callable[[Settings], Provider]


@dataclass(frozen=True)
class Registration:
    """How to build a provider, and how to tell whether its credential is configured."""

    factory: ProviderFactory
    configured: Callable[[Settings], bool]
    credential: str
    """The variable a user sets to enable it."""


def _simulator(settings: Settings) -> Provider:
    from sorakit.providers.simulator import SimulatorProvider

    return SimulatorProvider(settings)


def _openai(settings: Settings) -> Provider:
    from sorakit.providers.openai import OpenAIProvider

    return OpenAIProvider.from_settings(settings)


def _runway(settings: Settings) -> Provider:
    from sorakit.providers.runway import RunwayProvider

    return RunwayProvider.from_settings(settings)


def _fal(settings: Settings) -> Provider:
    from sorakit.providers.fal import FalProvider

    return FalProvider.from_settings(settings)


def _gemini(settings: Settings) -> Provider:
    from sorakit.providers.google import GeminiProvider

    return GeminiProvider.from_settings(settings)


def _vertex(settings: Settings) -> Provider:
    from sorakit.providers.google import VertexVeoProvider

    return VertexVeoProvider.from_settings(settings)


PROVIDERS: dict[str, Registration] = {
    "simulator": Registration(_simulator, lambda _settings: True, "(none: built in)"),
    "openai": Registration(_openai, lambda s: bool(s.openai_base_url), "OPENAI_BASE_URL"),
    "fal": Registration(_fal, lambda s: s.fal_key is not None, "FAL_KEY"),
    "gemini": Registration(_gemini, lambda s: s.gemini_api_key is not None, "GEMINI_API_KEY"),
    "vertex": Registration(_vertex, lambda s: bool(s.vertex_project), "GOOGLE_CLOUD_PROJECT"),
    "runway": Registration(
        _runway, lambda s: s.runway_api_secret is not None, "RUNWAYML_API_SECRET"
    ),
}


def is_configured(name: str, settings: Settings) -> bool:
    """Whether the provider called `name` has its credential set."""
    registration = PROVIDERS.get(name)
    return registration is not None and registration.configured(settings)


class ProviderPool:
    """Provider instances by name, built on first use and closed together."""

    def __init__(
        self,
        settings: Settings,
        *,
        instances: Mapping[str, Provider] | None = None,
        factories: Mapping[str, ProviderFactory] | None = None,
    ) -> None:
        self._settings = settings
        self._factories = dict(factories or {n: r.factory for n, r in PROVIDERS.items()})
        self._instances: dict[str, Provider] = dict(instances or {})

    def get(self, name: str) -> Provider:
        """The provider called `name`, built now if it was not yet."""
        provider = self._instances.get(name)
        if provider is None:
            factory = self._factories.get(name)
            if factory is None:
                known = ", ".join(sorted(self._factories))
                raise ConfigurationError(f"unknown provider {name!r}; known providers: {known}")
            provider = self._instances[name] = factory(self._settings)
        return provider

    async def aclose(self) -> None:
        """Close every provider that was built."""
        for provider in self._instances.values():
            await provider.aclose()
        self._instances.clear()
