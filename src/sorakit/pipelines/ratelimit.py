"""Client-side rate limits: a token bucket per provider credential that slows down on 429.

`TokenBucket` refills continuously (not in fixed 60 s windows, as the Streamlit studio did), so
N requests at R per minute take N/R minutes and no 60 s window ever holds more than R (with
`burst=1`). Waiters are served first come, first served. A 429 blocks the bucket until the
server's Retry-After and halves its rate; each success adds back a tenth of the configured rate
(AIMD), never above it, so a batch slows down instead of failing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from sorakit.errors import ConfigurationError, RateLimitedError
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

_EPSILON = 1e-9
"""Float slack when deciding whether a whole token has refilled."""


PROVIDER_TIER_RPM: dict[str, float] = {"vertex": 50.0}
"""Published default limits (Veo on Vertex: about 50 requests per minute per project, GA).
fal, Runway and Gemini publish spend-based tiers without a fixed RPM, and an `openai` provider
may be any server, so they are limited only by settings (and slowed down by their 429s)."""


class TokenBucket:
    """A token bucket with continuous refill, FIFO waiters and AIMD on 429.

    `rate_per_minute=None` never limits, but still honours `penalize`'s pause.
    """

    def __init__(
        self,
        rate_per_minute: float | None,
        burst: int = 1,
        *,
        min_rate_per_minute: float | None = None,
        increase_per_success: float | None = None,
        decrease_factor: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_minute is not None and not (0 < rate_per_minute < math.inf):
            raise ConfigurationError(
                f"a rate limit must be a positive number of requests per minute, "
                f"not {rate_per_minute}"
            )
        if burst < 1:
            raise ConfigurationError(f"a rate limit's burst must be at least 1, not {burst}")
        if not 0 < decrease_factor < 1:
            raise ConfigurationError("the rate limit's decrease factor must be between 0 and 1")
        self.max_rate = rate_per_minute
        """The configured requests per minute; the rate never goes above it."""
        self.rate = rate_per_minute
        """The requests per minute in force now (lower than `max_rate` after a 429)."""
        self.burst = burst
        self.min_rate = (
            min_rate_per_minute
            if min_rate_per_minute is not None
            else (rate_per_minute / 16 if rate_per_minute is not None else None)
        )
        self.increase = (
            increase_per_success
            if increase_per_success is not None
            else (rate_per_minute / 10 if rate_per_minute is not None else 0.0)
        )
        self.decrease_factor = decrease_factor
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._blocked_until = -math.inf
        self._lock = asyncio.Lock()  # FIFO: asyncio.Lock wakes its waiters in order
        self.acquired = 0
        """How many tokens were handed out."""
        self.penalties = 0
        """How many 429s were reported."""

    def _refill(self, now: float) -> None:
        if self.rate is not None and now > self._updated:
            elapsed = now - self._updated
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate / 60.0)
        self._updated = max(self._updated, now)

    def delay(self) -> float:
        """Seconds until a token would be free, if nobody else took it first."""
        now = self._clock()
        if now < self._blocked_until:
            return self._blocked_until - now
        self._refill(now)
        if self.rate is None:
            return 0.0
        deficit = 1.0 - self._tokens
        return 0.0 if deficit <= _EPSILON else deficit * 60.0 / self.rate

    async def acquire(self) -> float:
        """Wait for a token (first come, first served); returns the seconds waited."""
        start = self._clock()
        async with self._lock:
            # Recomputed after every sleep: a 429 may have pushed the next slot further out.
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
            if self.rate is not None:
                self._tokens -= 1.0
            self.acquired += 1
        return self._clock() - start

    def penalize(self, retry_after: float | None = None) -> None:
        """A 429: pause until `retry_after` seconds from now and cut the rate (once per pause)."""
        now = self._clock()
        self.penalties += 1
        already_paused = now < self._blocked_until
        self._refill(now)
        if self.rate is not None and self.min_rate is not None and not already_paused:
            self.rate = max(self.min_rate, self.rate * self.decrease_factor)
        if retry_after is not None and retry_after > 0:
            pause = retry_after
        elif self.rate is not None:
            pause = 60.0 / self.rate
        else:
            pause = 1.0
        until = max(self._blocked_until, now + pause)
        self._blocked_until = until
        # Exactly one request may go when the pause ends; the refill restarts from there.
        self._tokens = 1.0
        self._updated = until
        logger.info(
            "rate limited: pausing %.1f s, now %s requests per minute",
            until - now,
            f"{self.rate:g}" if self.rate is not None else "unlimited",
        )

    def success(self) -> None:
        """A request went through: raise the rate by one step, up to the configured rate."""
        if self.rate is None or self.max_rate is None or self.rate >= self.max_rate:
            return
        self._refill(self._clock())
        self.rate = min(self.max_rate, self.rate + self.increase)


def credential_key(provider: str, credential: str | None = None) -> str:
    """The limiter key of one provider credential; the secret is hashed, never kept."""
    if not credential:
        return provider
    digest = hashlib.sha256(credential.encode()).hexdigest()[:12]
    return f"{provider}:{digest}"


class RateLimiter:
    """One `TokenBucket` per key (`provider` or `provider:credential-hash`).

    A key's rate is `rates[key]`, else `rates[provider]`, else `default_rpm`; with none of them
    the key is not limited, but a 429 still pauses it.
    """

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        default_rpm: float | None = None,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.rates = dict(rates or {})
        self.default_rpm = default_rpm
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, TokenBucket] = {}

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> RateLimiter:
        """A limiter with the providers' published tier limits, overridden by
        `settings.rate_limits`."""
        rates = {**PROVIDER_TIER_RPM, **settings.rate_limits}
        return cls(rates, **kwargs)  # type: ignore[arg-type]

    def rate_for(self, key: str) -> float | None:
        """The configured requests per minute for `key`, or None for no limit."""
        if key in self.rates:
            return self.rates[key]
        provider = key.split(":", 1)[0]
        return self.rates.get(provider, self.default_rpm)

    def bucket(self, key: str) -> TokenBucket:
        """The bucket of `key`, made on first use."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(
                self.rate_for(key), self.burst, clock=self._clock, sleep=self._sleep
            )
            self._buckets[key] = bucket
        return bucket

    async def acquire(self, key: str) -> float:
        """Wait for `key`'s next slot; returns the seconds waited."""
        return await self.bucket(key).acquire()

    def penalize(self, key: str, retry_after: float | None = None) -> None:
        """Report a 429 for `key`."""
        self.bucket(key).penalize(retry_after)

    def success(self, key: str) -> None:
        """Report a request of `key` that went through."""
        self.bucket(key).success()

    @asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Wait for a slot, then report the block's outcome: a `RateLimitedError` penalizes."""
        await self.acquire(key)
        try:
            yield
        except RateLimitedError as exc:
            self.penalize(key, exc.retry_after)
            raise
        self.success(key)
