"""Upstream credential pools: which of a provider's credentials a new job goes to, and what the
provider's answers do to a credential.

A provider's pool is the credential its environment variable sets (`FAL_KEY`, ...) plus those
added through `sorakit pools add` or the admin API (sealed with `SORAKIT_SECRET_KEY`). A new job
takes an active credential below its concurrency limit, round-robin or least-loaded, and keeps
it: the remote job exists only on that account, so every status call, download, deletion and
remix of it goes through the same credential.

- A 429 cools the credential down for its Retry-After; new jobs go to the others meanwhile.
- An authentication failure (401/403) counts against it; `pool_auth_failures` in a row disable
  it (shown in `sorakit pools` and `/admin/pools` with the reason) until an admin enables it.
- A create is moved to another credential only after a definite refusal (429, 401/403). After
  an ambiguous failure (a timeout, a 5xx) the job may exist on its first account, so it stays
  there, where `find` and the idempotency key can still recognise it: never paid twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from sorakit.engine.endpoints import (
    ENDPOINT_OPTION,
    Endpoint,
    current_endpoint,
    endpoint_key,
    endpoint_provider,
    key_variable,
)
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    ProviderAuthError,
    RateLimitedError,
)
from sorakit.ledger import JobRecord, Ledger
from sorakit.ledger.credentials import CredentialRecord, env_credential_id
from sorakit.logs import remember_secret
from sorakit.providers._proxy import checked_proxy
from sorakit.providers.base import Provider
from sorakit.providers.registry import PROVIDERS, ProviderPool, UpstreamCredential, is_configured
from sorakit.security.secretbox import SecretBox
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_COOLDOWN = 10.0
"""Seconds a 429 without Retry-After cools a credential down."""
MIN_COOLDOWN = 1.0
"""A 429 with `Retry-After: 0` still rests the credential this long, so a pool never spins."""
MAX_COOLDOWN = 3600.0
OPENED_SECONDS = 30.0
"""How long an opened credential is used before the ledger is read again."""
WAIT_STEP = 0.5
"""How often a create that waits for a free credential looks again (other processes free
credentials too, so this is a poll rather than only an in-process signal)."""


class UpstreamPools:
    """Picks credentials for jobs and keeps each credential's state in the ledger."""

    def __init__(self, settings: Settings, ledger: Ledger, providers: ProviderPool) -> None:
        self.settings = settings
        self.ledger = ledger
        self.providers = providers
        self._lock = asyncio.Lock()
        self._last: dict[str, str] = {}
        self._box: SecretBox | None = None
        self._opened: dict[str, tuple[UpstreamCredential, float]] = {}
        self.given_keys: dict[str, str] = {}  # provider -> how its key was handed in (--api-key)

    def poolable(self, provider: str) -> bool:
        registration = PROVIDERS.get(provider)
        return registration is not None and registration.poolable

    @property
    def box(self) -> SecretBox:
        """The secret box of `SORAKIT_SECRET_KEY` (a `ConfigurationError` without one)."""
        if self._box is None:
            key = self.settings.secret_key
            self._box = SecretBox(key.get_secret_value() if key is not None else "")
        return self._box

    def configured(self, provider: str) -> bool:
        """Whether the settings (or a ready-made instance) give the provider a credential."""
        return is_configured(provider, self.settings) or self.providers.given(provider)

    async def members(self, provider: str, job: JobRecord | None = None) -> list[CredentialRecord]:
        """The provider's credentials, the environment's first (its state row made on demand);
        for a job bound to an endpoint, the environment's is that endpoint's, set or not now."""
        endpoint = Endpoint.of(job) if job is not None else None
        configured = self.configured(provider) or endpoint is not None
        if configured:
            await self.ledger.ensure_env_credential(provider, _env_label(provider))
        records = await self.ledger.credentials(provider)
        if not configured:
            records = [r for r in records if r.source != "env"]
        records = endpoint.judged(records) if endpoint is not None else records
        return sorted(records, key=lambda r: r.source != "env")  # stable: then oldest first

    async def pooled_providers(self) -> set[str]:
        """The providers that have stored credentials (so need no variable set)."""
        return {r.provider for r in await self.ledger.credentials() if r.source == "stored"}

    async def check(self, provider: str) -> None:
        """Refuse, before any row exists, a job whose provider has no credential at all."""
        if provider not in await self.pooled_providers():
            self.providers.get(provider)  # raises the provider's own "set FAL_KEY" sentence

    async def bind(self, provider: str, source: JobRecord | None = None) -> dict[str, Any]:
        """`check`, then the option binding a new job to its server (a remix: its source's)."""
        if source is not None and ENDPOINT_OPTION in source.options:
            return {ENDPOINT_OPTION: source.options[ENDPOINT_OPTION]}
        await self.check(provider)
        usable = self.poolable(provider) and is_configured(provider, self.settings)
        if not usable or self.providers.given(provider):
            return {}  # the simulator, only pooled credentials, or a ready-made instance
        return current_endpoint(self.settings, provider, self.given_keys, lambda: self.box).option()

    async def opened(self, credential_id: str) -> UpstreamCredential:
        """A credential with its secret and proxy opened.

        Cached for `OPENED_SECONDS`: an admin's change made through another process is picked
        up after that, and a changed secret or proxy gets a fresh provider instance.
        """
        cached = self._opened.get(credential_id)
        if cached is not None and time.monotonic() - cached[1] < OPENED_SECONDS:
            return cached[0]
        record = await self.ledger.credential(credential_id)
        proxy = self.box.open(record.proxy) if record.proxy else None
        secret = None
        if record.source == "env":
            pool = await self.ledger.pool(record.provider)
            if proxy is None and pool is not None and pool.proxy:
                proxy = self.box.open(pool.proxy)
        elif record.secret is None:
            raise ConfigurationError(f"the credential {credential_id} has been removed")
        else:
            secret = self.box.open(record.secret)
        remember_secret(secret)
        remember_secret(urlsplit(proxy).password if proxy else None)
        credential = UpstreamCredential(record.id, secret, proxy, record.base_url)
        if cached is not None and cached[0] != credential:
            await self.providers.forget(credential_id)
        self._opened[credential_id] = (credential, time.monotonic())
        return credential

    async def forget(self, credential_id: str) -> None:
        """Drop what is cached of a credential an admin changed."""
        self._opened.pop(credential_id, None)
        await self.providers.forget(credential_id)

    async def provider_for(self, job: JobRecord) -> Provider:
        """The provider instance on the server and credential that created (or will create) the
        job: its endpoint's, else (an older job) the settings'."""
        credential = await self.opened(job.credential_id) if job.credential_id else None
        endpoint = Endpoint.of(job)
        if endpoint is None or self.providers.given(job.provider):
            return self.providers.get(job.provider, credential)
        if credential is not None and credential.secret is not None:
            secret: str | None = credential.secret  # a pool member's own key
        else:
            secret = endpoint_key(f"job {job.id}", endpoint, self.settings, lambda: self.box)
        return endpoint_provider(self.providers, self.settings, endpoint, secret, credential)

    def _labeller(self, job: JobRecord) -> Callable[[CredentialRecord], str]:
        """How a message names a job's credentials: the environment's by where its key is from."""
        given, box = self.given_keys, lambda: self.box
        return (Endpoint.of(job) or current_endpoint(self.settings, job.provider, given, box)).label

    async def assign(
        self, job: JobRecord, *, pinned: str | None = None, avoid: Collection[str] = ()
    ) -> JobRecord:
        """Record on a pending job the credential it is created with; waits while every usable
        credential is cooling down or at its concurrency limit."""
        if not self.poolable(job.provider):
            return job
        while True:
            async with self._lock:
                wait, chosen = await self._choose(job, pinned=pinned, avoid=avoid)
                if chosen is not None:
                    self._last[job.provider] = chosen.id
                    if chosen.id != job.credential_id:
                        job = await self.ledger.update(job.id, credential_id=chosen.id)
                    return job
            await asyncio.sleep(wait)

    async def has_ready(self, job: JobRecord, *, pinned: str | None) -> bool:
        """Whether a credential could take the job right now (after its own was cooled)."""
        if not self.poolable(job.provider):
            return False
        try:
            _wait, chosen = await self._choose(job, pinned=pinned, avoid=())
        except ProviderAuthError:
            return False
        return chosen is not None

    async def _choose(
        self, job: JobRecord, *, pinned: str | None, avoid: Collection[str]
    ) -> tuple[float, CredentialRecord | None]:
        members = await self.members(job.provider, job)
        if pinned is not None:
            members = [m for m in members if m.id == pinned]
            if not members:
                raise ProviderAuthError(
                    f"the {job.provider} credential {pinned} that holds this job's source is gone",
                    provider=job.provider,
                )
        candidates = [m for m in members if m.enabled and m.id not in avoid]
        if not candidates:
            raise ProviderAuthError(
                _none_left(job.provider, members, avoid, self._labeller(job)), provider=job.provider
            )
        now = time.time()
        load = await self.ledger.credential_load([m.id for m in candidates])
        if job.credential_id in load:  # the job itself is unfinished: do not count it
            load[job.credential_id] -= 1
        ready = [
            m
            for m in candidates
            if m.state(now) == "active"
            and (m.max_concurrency is None or load.get(m.id, 0) < m.max_concurrency)
        ]
        if not ready:
            cooling = [
                (m.cooldown_until or now) - now for m in candidates if m.state(now) == "cooling"
            ]
            if len(cooling) < len(candidates):  # some are full: a slot may free at any time
                return WAIT_STEP, None
            return min(max(min(cooling), 0.05), WAIT_STEP * 4), None
        pool = await self.ledger.pool(job.provider)
        strategy = pool.strategy if pool is not None else self.settings.pool_strategy
        return 0.0, self._pick(job.provider, strategy, candidates, ready, load)

    def _pick(
        self,
        provider: str,
        strategy: str,
        members: list[CredentialRecord],
        ready: list[CredentialRecord],
        load: dict[str, int],
    ) -> CredentialRecord:
        """Round-robin from the last pick; least-loaded takes the lightest, ties in turn."""
        order = [m.id for m in members]
        last = self._last.get(provider)
        start = order.index(last) + 1 if last in order else 0
        turn = {member_id: (i - start) % len(order) for i, member_id in enumerate(order)}
        if strategy == "least-loaded":
            return min(ready, key=lambda m: (_share(m, load), turn[m.id]))
        return min(ready, key=lambda m: turn[m.id])

    async def rate_limited(self, job: JobRecord, error: RateLimitedError) -> None:
        """A 429 on the job's credential: cool it down for the server's Retry-After."""
        if job.credential_id is None:
            return
        seconds = error.retry_after if error.retry_after is not None else DEFAULT_COOLDOWN
        until = time.time() + min(max(seconds, MIN_COOLDOWN), MAX_COOLDOWN)
        await self.ledger.note_rate_limited(job.credential_id, until, _first_line(error.message))
        logger.info(
            "%s credential %s rate-limited; cooling down %.1fs",
            job.provider,
            job.credential_id,
            until - time.time(),
        )

    async def auth_failed(self, job: JobRecord, error: ProviderAuthError) -> None:
        """An authentication failure on the job's credential; repeated ones disable it."""
        if job.credential_id is None:
            return
        # A key handed in (--api-key) lives for one run: its refusal is noted, never counted.
        once = job.credential_id == env_credential_id(job.provider) and Endpoint.handed(job)
        record = await self.ledger.note_auth_failure(
            job.credential_id,
            _first_line(error.message),
            disable_after=None if once else self.settings.pool_auth_failures,
        )
        if record is not None and not record.enabled:
            logger.warning(
                "%s credential %s (%s) disabled: %s",
                job.provider,
                record.id,
                record.label,
                record.disabled_reason,
            )

    async def used(self, job: JobRecord) -> None:
        """A create on the job's credential was accepted."""
        if job.credential_id is not None:
            await self.ledger.note_used(job.credential_id, submitted=True)


class PoolAdmin:
    """What `sorakit pools` and `/admin/pools` do: add, change and show credentials.

    Secrets and proxies are sealed before they reach the ledger and never leave it opened.
    """

    def __init__(self, pools: UpstreamPools) -> None:
        self.pools = pools
        self.ledger = pools.ledger

    async def describe(self) -> list[dict[str, Any]]:
        """Every poolable provider with its strategy and credentials (their state, no secret)."""
        described = []
        for name in sorted(n for n, r in PROVIDERS.items() if r.poolable):
            members = await self.pools.members(name)
            load = await self.ledger.credential_load([m.id for m in members])
            pool = await self.ledger.pool(name)
            described.append(
                {
                    "provider": name,
                    "strategy": pool.strategy if pool else self.pools.settings.pool_strategy,
                    "has_proxy": bool(pool and pool.proxy) or name in self.pools.settings.proxies,
                    "credentials": [m.public(load.get(m.id, 0)) for m in members],
                }
            )
        return described

    async def add(
        self,
        provider: str,
        *,
        secret: str,
        label: str | None = None,
        max_concurrency: int | None = None,
        proxy: str | None = None,
        base_url: str | None = None,
    ) -> CredentialRecord:
        """Store a new credential, sealed."""
        _check_provider(provider)
        if not secret.strip():
            raise InvalidRequestError("the credential's secret is empty", param="secret")
        box = self.pools.box
        return await self.ledger.add_credential(
            provider,
            label=label or f"{provider} credential",
            secret=box.seal(secret.strip()),
            proxy=box.seal(_checked_proxy(proxy)) if proxy else None,
            base_url=_checked_base_url(base_url) if base_url else None,
            max_concurrency=max_concurrency,
        )

    async def change(self, credential_id: str, **changes: Any) -> CredentialRecord:
        """Enable, disable, relabel, limit, re-key or re-proxy a credential."""
        fields: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "secret":
                if not isinstance(value, str) or not value.strip():
                    raise InvalidRequestError("the credential's secret is empty", param="secret")
                fields["secret"] = self.pools.box.seal(value.strip())
            elif name == "proxy":
                fields["proxy"] = self.pools.box.seal(_checked_proxy(value)) if value else None
            elif name == "enabled":
                fields["enabled"] = bool(value)
                if not value:
                    fields["disabled_reason"] = "disabled by an admin"
            elif name in ("label", "max_concurrency"):
                fields[name] = value
            else:
                raise InvalidRequestError(f"unknown field {name!r}", param=name)
        await self._sync()
        record = await self.ledger.credential(credential_id)
        if record.source == "env" and ("secret" in fields or "proxy" in fields):
            raise InvalidRequestError(
                "a credential from the environment takes its secret and proxy from there",
                param="secret" if "secret" in fields else "proxy",
            )
        updated = await self.ledger.update_credential(credential_id, **fields)
        await self.pools.forget(credential_id)
        return updated

    async def _sync(self) -> None:
        """Make the state rows of the environment's credentials, so they can be changed."""
        for name, registration in PROVIDERS.items():
            if registration.poolable and self.pools.configured(name):
                await self.ledger.ensure_env_credential(name, _env_label(name))

    async def remove(self, credential_id: str) -> CredentialRecord:
        removed = await self.ledger.remove_credential(credential_id)
        await self.pools.forget(credential_id)
        return removed

    async def configure(
        self,
        provider: str,
        *,
        strategy: str | None = None,
        proxy: str | None = None,
        clear_proxy: bool = False,
    ) -> dict[str, Any]:
        """Set a provider's strategy and the proxy its environment credential goes through
        (kept unless a new one is given or `clear_proxy`)."""
        _check_provider(provider)
        if strategy not in (None, *STRATEGIES):
            raise InvalidRequestError(
                f"unknown strategy {strategy!r}", param="strategy", allowed=STRATEGIES
            )
        current = await self.ledger.pool(provider)
        chosen = strategy or (current.strategy if current else self.pools.settings.pool_strategy)
        sealed = current.proxy if current and not clear_proxy else None
        if proxy:
            sealed = self.pools.box.seal(_checked_proxy(proxy))
        await self.ledger.set_pool(provider, strategy=chosen, proxy=sealed)
        await self.pools.forget(env_credential_id(provider))
        return {"provider": provider, "strategy": chosen, "has_proxy": sealed is not None}

    async def reseal(self) -> int:
        """Seal every stored secret and proxy again with the first key (after a rotation)."""
        box, count = self.pools.box, 0
        for record in await self.ledger.credentials():
            fields = {
                name: box.reseal(value)
                for name, value in (("secret", record.secret), ("proxy", record.proxy))
                if value
            }
            if fields:
                await self.ledger.update_credential(record.id, **fields)
                count += 1
        for name in PROVIDERS:
            pool = await self.ledger.pool(name)
            if pool is not None and pool.proxy:
                await self.ledger.set_pool(
                    name, strategy=pool.strategy, proxy=box.reseal(pool.proxy)
                )
                count += 1
        return count


STRATEGIES = ("round-robin", "least-loaded")


def _check_provider(provider: str) -> None:
    poolable = sorted(n for n, r in PROVIDERS.items() if r.poolable)
    if provider not in poolable:
        raise InvalidRequestError(
            f"{provider!r} has no credential pool", param="provider", allowed=poolable
        )


def _checked_proxy(proxy: str) -> str:
    """The same rules as `SORAKIT_PROXIES`, as a 400 on `proxy` (its password masked)."""
    try:
        checked = checked_proxy(proxy, "", where="the proxy")
    except ConfigurationError as exc:
        raise InvalidRequestError(exc.message, param="proxy") from None
    if checked is None:
        raise InvalidRequestError("the proxy URL is empty", param="proxy")
    return checked


def _checked_base_url(url: str) -> str:
    try:
        parsed = urlsplit(url)
        usable = parsed.scheme in ("http", "https") and bool(parsed.hostname)
    except ValueError:  # an unterminated IPv6 literal, say
        usable = False
    if not usable:
        raise InvalidRequestError("a base URL is an http(s) URL with a host", param="base_url")
    return url


def _env_label(provider: str) -> str:
    return f"{key_variable(provider) or PROVIDERS[provider].credential} (environment)"


def _share(member: CredentialRecord, load: dict[str, int]) -> float:
    """How full a credential is: its share of its limit, or its job count without one."""
    count = load.get(member.id, 0)
    return count / member.max_concurrency if member.max_concurrency else float(count)


def _none_left(
    provider: str,
    members: list[CredentialRecord],
    avoid: Collection[str],
    label: Callable[[CredentialRecord], str],
) -> str:
    if not members:
        return f"no {provider} credential is configured"
    refused = [m for m in members if m.enabled and m.id in avoid]
    if len(members) == len(refused) == 1:
        return f"{provider} refused {label(refused[0])}: {refused[0].last_error}"
    if refused:
        reasons = "; ".join(f"{label(m)}: {m.last_error}" for m in refused)
        return f"every {provider} credential refused this request ({reasons})"
    reasons = "; ".join(f"{label(m)}: {m.disabled_reason or 'disabled'}" for m in members)
    return f"every {provider} credential is disabled ({reasons}); enable one with `sorakit pools`"


def _first_line(message: str) -> str:
    return message.splitlines()[0][:300] if message else ""


__all__ = ["PoolAdmin", "UpstreamPools", "env_credential_id"]
