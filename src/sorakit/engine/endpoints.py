"""Which server and which key made a job, kept with the job (`options["endpoint"]`), so every
later call on it (status, download, cancel, delete, a remix of it) goes back there, from any
process, whatever the environment says by then.

Kept: the provider's settings that name its server (base URL, project, ...) and where its key
came from, never the key. A key read from a variable (`OPENAI_API_KEY`) is read from it again; a
key handed in (`--api-key`, `api_key=`) is sealed with `SORAKIT_SECRET_KEY` when one is set, and
otherwise has to be handed in again (the error says how). A job made without a key is sent none.
The key the settings hold now goes to a job's server only if the settings name that server (or
no server at all): a key is never sent to a server it was not meant for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import AliasChoices, SecretStr

from sorakit.errors import ConfigurationError
from sorakit.ledger import JobRecord
from sorakit.ledger.credentials import CredentialRecord
from sorakit.logs import remember_secret
from sorakit.providers.base import Provider
from sorakit.providers.registry import PROVIDERS, ProviderPool, UpstreamCredential, is_configured
from sorakit.security.secretbox import SecretBox
from sorakit.settings import Settings

ENDPOINT_OPTION = "endpoint"


def key_variable(provider: str) -> str | None:
    """The environment variable a provider's key is read from (`OPENAI_API_KEY`, `FAL_KEY`...)."""
    field_name = PROVIDERS[provider].secret_field
    if field_name is None:
        return None
    alias = Settings.model_fields[field_name].validation_alias
    names = (
        [c for c in alias.choices if isinstance(c, str)] if isinstance(alias, AliasChoices) else []
    )
    plain = [name for name in names if not name.startswith("SORAKIT_")]
    return plain[0] if plain else f"SORAKIT_{field_name.upper()}"


def describe_key(key_from: str | None) -> str:
    """Where a key came from, as a message says it."""
    if key_from is None:
        return "no key"
    return f"the key {'from' if key_from.startswith('-') or '=' in key_from else 'in'} {key_from}"


@dataclass(frozen=True)
class Endpoint:
    """The server a job was made on, and where its key came from (None: it was sent none)."""

    provider: str
    fields: Mapping[str, Any]
    key_from: str | None
    sealed_key: str | None = None
    """The key sealed with `SORAKIT_SECRET_KEY`, when it was handed in rather than read."""

    @classmethod
    def of(cls, job: JobRecord) -> Endpoint | None:
        """The endpoint a job was bound to (None for a job made before endpoints were kept)."""
        return cls.from_option(job.provider, job.options.get(ENDPOINT_OPTION))

    @classmethod
    def from_option(cls, provider: str, data: object) -> Endpoint | None:
        """The endpoint an `option()`'s value keeps (None for none, or an unknown provider)."""
        if not isinstance(data, dict) or provider not in PROVIDERS:
            return None
        return cls(
            provider, dict(data.get("settings") or {}), data.get("key_from"), data.get("sealed")
        )

    def option(self) -> dict[str, Any]:
        """The job option that keeps this endpoint."""
        data: dict[str, Any] = {"settings": dict(self.fields), "key_from": self.key_from}
        if self.sealed_key is not None:
            data["sealed"] = self.sealed_key
        return {ENDPOINT_OPTION: data}

    @staticmethod
    def handed(job: JobRecord) -> bool:
        """Whether the job's key was handed in rather than read from a variable."""
        endpoint = Endpoint.of(job)
        return endpoint is not None and endpoint.handed_in

    @property
    def handed_in(self) -> bool:
        """Whether the key was handed in (`--api-key`) rather than read from a variable."""
        return self.key_from is not None and self.key_from != key_variable(self.provider)

    @property
    def where(self) -> str:
        """The server, as a message names it."""
        field_name = PROVIDERS[self.provider].base_url_field
        url = self.fields.get(field_name) if field_name else None
        return str(url) if url else f"the default {self.provider} server"

    def label(self, member: CredentialRecord) -> str:
        """A credential of this job's provider as a message names it: the environment's by where
        its key came from, a pool member by its label and id."""
        if member.source != "env":
            return f"{member.label} ({member.id})"
        if self.key_from is None:
            return f"no key (set {key_variable(self.provider)}) at {self.where}"
        return f"{describe_key(self.key_from)} at {self.where}"

    def judged(self, members: list[CredentialRecord]) -> list[CredentialRecord]:
        """The members as they stand for this job: a key handed in is judged on its own, so the
        environment credential's failures and disabling (earned by other keys) do not apply."""
        if not self.handed_in:
            return members
        return [
            replace(m, enabled=True, disabled_reason=None, auth_failures=0)
            if m.source == "env"
            else m
            for m in members
        ]

    def matches(self, settings: Settings) -> bool:
        """Whether the settings name this same server (so the key they hold is meant for it)."""
        return all(
            _normal(getattr(settings, name)) == _normal(value)
            for name, value in self.fields.items()
        )


def current_endpoint(
    settings: Settings, provider: str, given: Mapping[str, str], box: Callable[[], SecretBox]
) -> Endpoint:
    """The endpoint the settings configure for a new job; `given` names keys handed in."""
    registration = PROVIDERS[provider]
    fields = {name: getattr(settings, name) for name in registration.endpoint_fields}
    field_name = registration.secret_field
    secret: SecretStr | None = getattr(settings, field_name) if field_name else None
    if secret is None:
        return Endpoint(provider, fields, None)
    if provider not in given:
        return Endpoint(provider, fields, key_variable(provider))
    sealed = box().seal(secret.get_secret_value()) if settings.secret_key is not None else None
    return Endpoint(provider, fields, given[provider], sealed)


def endpoint_key(
    what: str, endpoint: Endpoint, settings: Settings, box: Callable[[], SecretBox]
) -> str | None:
    """The key to send to a job's server: sealed with the job, or the settings' own; `what`
    names what the endpoint is kept with, for the error (`job video_…`, `pipeline long_…`)."""
    if endpoint.key_from is None:
        return None
    if endpoint.sealed_key is not None and settings.secret_key is not None:
        with contextlib.suppress(ConfigurationError):  # else sealed with a key rotated away
            key = box().open(endpoint.sealed_key)
            remember_secret(key)  # redacted from every log line from now on
            return key
    field_name = PROVIDERS[endpoint.provider].secret_field
    current: SecretStr | None = getattr(settings, field_name) if field_name else None
    elsewhere = is_configured(endpoint.provider, settings) and not endpoint.matches(settings)
    if current is not None and not elsewhere:
        return current.get_secret_value()
    variable = key_variable(endpoint.provider)
    made = f"{what} was made on {endpoint.where} with {describe_key(endpoint.key_from)}"
    if endpoint.sealed_key is not None:
        why = "sealed with a SORAKIT_SECRET_KEY that is not set (or listed) now"
    elif endpoint.handed_in:
        why = "which is not kept without SORAKIT_SECRET_KEY"
    else:
        why = f"and {variable} is not set now"
    if current is not None:
        why = f"and the {endpoint.provider} settings now name another server, whose key stays there"
    again = f"pass it again ({endpoint.key_from} KEY) or set {variable}"
    if not endpoint.handed_in:
        again = f"set {variable} (or pass the key again)"
    raise ConfigurationError(f"{made}, {why}; {again}")


def endpoint_provider(
    providers: ProviderPool,
    settings: Settings,
    endpoint: Endpoint,
    secret: str | None,
    credential: UpstreamCredential | None,
) -> Provider:
    """The provider instance for a job's endpoint (a pool member's base URL and proxy win)."""
    registration = PROVIDERS[endpoint.provider]
    update: dict[str, Any] = dict(endpoint.fields)
    if credential is not None and credential.base_url and registration.base_url_field:
        update[registration.base_url_field] = credential.base_url
    proxy = credential.proxy if credential is not None else None
    if proxy:
        update["proxies"] = {**settings.proxies, endpoint.provider: proxy}
    # Instances are shared by jobs on the same server, key and proxy; the key is in memory only.
    digest = hashlib.sha256(json.dumps([update, secret], sort_keys=True).encode()).hexdigest()
    if registration.secret_field is not None:
        update[registration.secret_field] = SecretStr(secret) if secret is not None else None
    owner = credential.id if credential is not None else endpoint.provider
    return providers.built(
        endpoint.provider, f"{owner}@{digest[:24]}", settings.model_copy(update=update)
    )


def _normal(value: object) -> object:
    return value.rstrip("/") if isinstance(value, str) else value
