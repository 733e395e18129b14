"""Provider registration: a name, and a factory that builds the provider from settings.

Adding a provider is one module plus one line in `PROVIDERS`. Modules are imported only when a
provider is first used, so an unused provider's SDK costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sorakit.errors import ConfigurationError
from sorakit.providers.base import Provider
from sorakit.settings import Settings

ProviderFactory = Callable[[Settings], Provider]


def _simulator(settings: Settings) -> Provider:
    from sorakit.providers.simulator import SimulatorProvider

    return SimulatorProvider(settings)


def _openai(settings: Settings) -> Provider:
    from sorakit.providers.openai import OpenAIProvider

    return OpenAIProvider.from_settings(settings)


PROVIDERS: dict[str, ProviderFactory] = {
    "simulator": _simulator,
    "openai": _openai,
}


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
        self._factories = dict(factories or PROVIDERS)
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
