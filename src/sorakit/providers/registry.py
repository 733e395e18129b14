"""Provider registration: a name, and a factory that builds the provider from settings.

Adding a provider is one module plus one line in `PROVIDERS`. Modules are imported only when a
provider is first used, so an unused provider's SDK costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
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
    endpoint_fields: tuple[str, ...] = ()
    """The settings fields (no secret) that say which server a job goes to; kept with each job."""

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


def _local(settings: Settings) -> Provider:
    from sorakit.providers.local import LocalProvider

    return LocalProvider.from_settings(settings)


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
        ("openai_base_url",),
    ),
    "fal": Registration(
        _fal,
        lambda s: s.fal_key is not None,
        "FAL_KEY",
        "fal_key",
        "fal_queue_url",
        ("fal_queue_url", "fal_api_url"),
    ),
    "gemini": Registration(
        _gemini,
        lambda s: s.gemini_api_key is not None,
        "GEMINI_API_KEY",
        "gemini_api_key",
        "gemini_base_url",
        ("gemini_base_url",),
    ),
    "vertex": Registration(
        _vertex,
        lambda s: bool(s.vertex_project),
        "GOOGLE_CLOUD_PROJECT",
        "vertex_access_token",
        "vertex_base_url",
        (
            "vertex_project",
            "vertex_location",
            "vertex_base_url",
            "vertex_output_gcs_uri",
            "gcs_base_url",
        ),
    ),
    "local": Registration(_local, lambda s: bool(s.local_models), "SORAKIT_LOCAL_MODELS"),
    "runway": Registration(
        _runway,
        lambda s: s.runway_api_secret is not None,
        "RUNWAYML_API_SECRET",
        "runway_api_secret",
        "runway_base_url",
        ("runway_base_url",),
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


def check_proxy_settings(settings: Settings, providers: Collection[str] = ()) -> None:
    """Check every `SORAKIT_PROXIES` entry now, not when its provider is first used, so a bad
    one (`ftp://`, a typo in a provider's name) stops the start with a `ConfigurationError`."""
    from sorakit.providers._proxy import check_proxies  # httpx: not for a mere model listing

    check_proxies(settings.proxies, {*PROVIDERS, *providers})


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
        check_proxy_settings(settings, {*self._factories, *self._instances})
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
            return self.built(name, name, self._settings)
        return self.built(
            name, credential.id, credential_settings(self._settings, name, credential)
        )

    def built(self, name: str, key: str, settings: Settings) -> Provider:
        """The provider called `name` built from `settings`, kept under `key` for later calls."""
        provider = self._instances.get(key)
        if provider is None:
            factory = self._factories.get(name)
            if factory is None:
                known = ", ".join(sorted(self._factories))
                raise ConfigurationError(f"unknown provider {name!r}; known providers: {known}")
            provider = self._instances[key] = factory(settings)
        return provider

    async def forget(self, credential_id: str) -> None:
        """Build a credential's instance afresh next time (it changed or was removed).

        The old instance may still be polling jobs, so it is closed with the pool, not now.
        """
        for key in [k for k in self._instances if k.split("@", 1)[0] == credential_id]:
            self._retired.append(self._instances.pop(key))  # its job-endpoint instances too

    async def aclose(self) -> None:
        """Close every provider that was built."""
        for provider in [*self._instances.values(), *self._retired]:
            await provider.aclose()
        self._instances.clear()
        self._retired.clear()
