"""Provider registration: a name, and a factory that builds the provider from settings.

Adding a provider is one module plus one line in `PROVIDERS`. Modules are imported only when a
provider is first used, so an unused provider's SDK costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

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
    secret_field: str | None = None
    """The settings field that holds its secret; a pooled credential replaces it."""
    base_url_field: str | None = None
    """The settings field that holds its base URL; a pooled credential may replace it."""

    @property
    def poolable(self) -> bool:
        """Whether the provider takes a secret, and so can have a pool of credentials."""
        return self.secret_field is not None


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
    "openai": Registration(
        _openai,
        lambda s: bool(s.openai_base_url),
        "OPENAI_BASE_URL",
        "openai_api_key",
        "openai_base_url",
    ),
    "fal": Registration(
        _fal, lambda s: s.fal_key is not None, "FAL_KEY", "fal_key", "fal_queue_url"
    ),
    "gemini": Registration(
        _gemini,
        lambda s: s.gemini_api_key is not None,
        "GEMINI_API_KEY",
        "gemini_api_key",
        "gemini_base_url",
    ),
    "vertex": Registration(
        _vertex,
        lambda s: bool(s.vertex_project),
        "GOOGLE_CLOUD_PROJECT",
        "vertex_access_token",
        "vertex_base_url",
    ),
    "runway": Registration(
        _runway,
        lambda s: s.runway_api_secret is not None,
        "RUNWAYML_API_SECRET",
        "runway_api_secret",
        "runway_base_url",
    ),
}


@dataclass(frozen=True)
class UpstreamCredential:
    """A pooled credential, opened: what a provider instance is built from."""

    id: str
    secret: str | None
    """None for the credential the environment configures."""
    proxy: str | None = None
    base_url: str | None = None


def credential_settings(settings: Settings, name: str, credential: UpstreamCredential) -> Settings:
    """The settings a provider instance for `credential` is built from."""
    registration = PROVIDERS[name]
    update: dict[str, object] = {}
    if registration.secret_field is not None and credential.secret is not None:
        update[registration.secret_field] = SecretStr(credential.secret)
    if registration.base_url_field is not None and credential.base_url:
        update[registration.base_url_field] = credential.base_url
    if credential.proxy:
        update["proxies"] = {**settings.proxies, name: credential.proxy}
    return settings.model_copy(update=update)


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
        self._given = frozenset(self._instances)
        self._retired: list[Provider] = []

    def given(self, name: str) -> bool:
        """Whether the provider was handed in ready-made (so counts as configured)."""
        return name in self._given

    def get(self, name: str, credential: UpstreamCredential | None = None) -> Provider:
        """The provider called `name` (on one pooled credential), built now if it was not yet.

        Without a credential, or with a bare one from the environment, this is the provider the
        settings configure; any other credential gets its own instance, built from a copy of the
        settings with its secret, base URL and proxy in place.
        """
        if credential is None or not (credential.secret or credential.proxy or credential.base_url):
            key = name
        else:
            key = credential.id
        provider = self._instances.get(key)
        if provider is None:
            factory = self._factories.get(name)
            if factory is None:
                known = ", ".join(sorted(self._factories))
                raise ConfigurationError(f"unknown provider {name!r}; known providers: {known}")
            settings = self._settings
            if credential is not None and key != name:
                settings = credential_settings(settings, name, credential)
            provider = self._instances[key] = factory(settings)
        return provider

    async def forget(self, credential_id: str) -> None:
        """Build a credential's instance afresh next time (it changed or was removed).

        The old instance may still be polling jobs, so it is closed with the pool, not now.
        """
        provider = self._instances.pop(credential_id, None)
        if provider is not None:
            self._retired.append(provider)

    async def aclose(self) -> None:
        """Close every provider that was built."""
        for provider in [*self._instances.values(), *self._retired]:
            await provider.aclose()
        self._instances.clear()
        self._retired.clear()
