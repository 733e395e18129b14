"""Who is calling: a gateway API key (or nobody, while the gateway runs open), and its limits.

With no tenant keys in the ledger the gateway keeps the open behaviour of a plain `sorakit
serve` (any bearer token, every video visible), which `sorakit serve` allows on loopback only.
Once a tenant key exists, every request needs a valid key; a key sees only its own videos, and
the admin key sees all. Lookups are cached for a few seconds, so a revocation made by another
process takes effect within `CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections import deque
from dataclasses import dataclass

from sorakit.engine import Owner
from sorakit.errors import AuthenticationError, LimitExceededError, PermissionDeniedError
from sorakit.ledger import ApiKeyRecord, Ledger
from sorakit.ledger.keys import hash_key, key_prefix

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Principal:
    """The caller: an API key, or None when the gateway runs open."""

    key: ApiKeyRecord | None = None

    @property
    def sees_all(self) -> bool:
        """Open mode and the admin key see every video."""
        return self.key is None or self.key.admin

    @property
    def owner(self) -> Owner | None:
        """What the caller's new jobs are recorded under (and budgeted against)."""
        if self.key is None:
            return None
        return Owner(self.key.id, self.key.budget_usd, sees_all=self.key.admin)

    def may_see(self, owner: str | None) -> bool:
        return self.sees_all or (self.key is not None and owner == self.key.id)

    def scoped(self, client_key: str | None) -> str | None:
        """An Idempotency-Key, made private to the caller (two tenants may pick the same one)."""
        if client_key is None or self.key is None:
            return client_key
        return f"{self.key.id}:{client_key}"


class Gatekeeper:
    """Authenticates requests and enforces each key's models, rate and concurrency."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._keys: dict[str, tuple[float, ApiKeyRecord | None]] = {}
        self._open: tuple[float, bool] = (0.0, True)
        self._windows: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self) -> None:
        """Drop cached keys (after this process created or revoked one)."""
        self._keys.clear()
        self._open = (0.0, True)

    async def is_open(self) -> bool:
        """Whether no tenant key exists (cached briefly)."""
        expires, value = self._open
        if time.monotonic() < expires:
            return value
        value = await self.ledger.tenant_keys() == 0
        self._open = (time.monotonic() + CACHE_SECONDS, value)
        return value

    async def principal(self, authorization: str | None) -> Principal:
        """The caller behind an `Authorization` header; `AuthenticationError` when refused."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        prefix = key_prefix(token)
        if prefix is not None:
            key = await self._key(prefix)
            if key is not None and hmac.compare_digest(key.secret_hash, hash_key(token)):
                if not key.active:
                    raise AuthenticationError("This API key has been revoked.")
                return Principal(key)
        if await self.is_open():
            return Principal()
        if not token:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer sk-sorakit-…'."
            )
        raise AuthenticationError("Incorrect API key provided.")

    async def _key(self, prefix: str) -> ApiKeyRecord | None:
        cached = self._keys.get(prefix)
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        key = await self.ledger.key_by_prefix(prefix)
        self._keys[prefix] = (time.monotonic() + CACHE_SECONDS, key)
        return key

    def lock(self, principal: Principal) -> asyncio.Lock:
        """Serialises one key's creates, so its concurrency is checked and taken atomically."""
        name = principal.key.id if principal.key else ""
        return self._locks.setdefault(name, asyncio.Lock())

    async def admit(self, principal: Principal, model: str) -> None:
        """Refuse a new job the key may not start; call it holding `lock(principal)`."""
        key = principal.key
        if key is None or key.admin:
            return
        if key.models is not None and model not in key.models:
            raise PermissionDeniedError(
                f"This API key may not use the model '{model}'; it may use "
                f"{', '.join(key.models)}.",
                param="model",
            )
        if (
            key.concurrency is not None
            and await self.ledger.running_jobs(key.id) >= key.concurrency
        ):
            raise LimitExceededError(
                f"This API key already has {key.concurrency} videos in progress, its limit; "
                "retry when one finishes.",
                code="concurrency_limit_exceeded",
                retry_after=5.0,
            )
        if key.rpm is not None:
            self._take(key.id, key.rpm)

    def _take(self, key_id: str, rpm: float) -> None:
        """Count one create in the key's sliding window, or refuse it with when to retry.

        The window allows `floor(rpm)` creates (at least one) in the time that many take at
        `rpm`: a whole rpm is the plain minute, and 0.5 allows one video per two minutes.
        """
        if not 0 < rpm < math.inf:  # the ledger refuses such a limit; a row may predate that
            raise PermissionDeniedError(
                f"This API key's rate limit ({rpm} per minute) allows no videos; ask the "
                "operator to correct it."
            )
        allowance = max(1, math.floor(rpm))
        span = WINDOW_SECONDS * allowance / rpm
        now = time.monotonic()
        window = self._windows.setdefault(key_id, deque())
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= allowance:
            retry = window[0] + span - now
            raise LimitExceededError(
                f"This API key may create {rpm:g} videos per minute; retry in {retry:.0f} s.",
                code="rate_limit_exceeded",
                retry_after=retry,
            )
        window.append(now)
