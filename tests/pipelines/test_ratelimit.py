"""The token bucket and the per-credential limiter, on a fake clock and once in real time."""

from __future__ import annotations

import asyncio
import time
from collections import deque

import pytest

from sorakit.errors import ConfigurationError, ProviderUnavailableError, RateLimitedError
from sorakit.pipelines.ratelimit import RateLimiter, TokenBucket, credential_key
from sorakit.settings import Settings


class FakeClock:
    """A monotonic clock that a sleep moves forward (only the head waiter ever sleeps)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def bucket(clock: FakeClock, rpm: float | None, burst: int = 1, **kwargs: float) -> TokenBucket:
    return TokenBucket(rpm, burst, clock=clock, sleep=clock.sleep, **kwargs)


async def acquire_all(limit: TokenBucket, clock: FakeClock, count: int) -> list[float]:
    """Start `count` waiters at once; the clock time at which each got its token, in order."""
    times: list[float] = []

    async def one() -> None:
        await limit.acquire()
        times.append(clock())

    await asyncio.gather(*(one() for _ in range(count)))
    return times


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """The most events in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = 0
    for index, start in enumerate(ordered):
        inside = [t for t in ordered[index:] if t < start + window - 1e-6]
        best = max(best, len(inside))
    return best


@pytest.mark.parametrize(("rpm", "count"), [(30, 100), (7, 25), (120, 300)])
async def test_never_more_than_the_rate_in_any_minute_and_makespan_is_n_over_r(
    rpm: float, count: int
) -> None:
    clock = FakeClock()
    start = clock()
    times = await acquire_all(bucket(clock, rpm), clock, count)
    assert len(times) == count
    assert max_in_window(times) <= rpm
    interval = 60.0 / rpm
    # The first goes at once; each next one exactly one interval later.
    assert times[0] == pytest.approx(start)
    assert times[-1] - start == pytest.approx((count - 1) * interval, rel=1e-9)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) == pytest.approx(interval, rel=1e-9)


async def test_a_burst_goes_at_once_then_the_rate_applies() -> None:
    clock = FakeClock()
    start = clock()
    times = await acquire_all(bucket(clock, 60, burst=5), clock, 8)
    assert [t - start for t in times] == pytest.approx([0, 0, 0, 0, 0, 1, 2, 3])


async def test_refill_is_continuous_not_a_fixed_window() -> None:
    clock = FakeClock()
    limit = bucket(clock, 60)
    assert await limit.acquire() == 0
    clock.now += 0.4  # 0.4 of a token has refilled
    assert await limit.acquire() == pytest.approx(0.6)
    clock.now += 30  # idle: the bucket refills to its burst, no further
    assert await limit.acquire() == 0
    assert await limit.acquire() == pytest.approx(1.0)


async def test_waiters_are_served_first_come_first_served() -> None:
    clock = FakeClock()
    limit = bucket(clock, 60)
    order: list[int] = []

    async def one(index: int) -> None:
        await limit.acquire()
        order.append(index)

    first = [asyncio.create_task(one(index)) for index in range(5)]
    await asyncio.sleep(0)  # the first five are queued before the next five arrive
    second = [asyncio.create_task(one(index)) for index in range(5, 10)]
    await asyncio.gather(*first, *second)
    assert order == list(range(10))


async def test_a_429_pauses_until_retry_after_and_halves_the_rate() -> None:
    clock = FakeClock()
    start = clock()
    limit = bucket(clock, 60)
    await limit.acquire()
    limit.penalize(retry_after=10)
    assert limit.rate == 30
    assert limit.delay() == pytest.approx(10)
    await limit.acquire()
    assert clock() - start == pytest.approx(10)
    await limit.acquire()  # now at the halved rate: one every 2 s
    assert clock() - start == pytest.approx(12)


async def test_penalties_during_one_pause_cut_the_rate_once() -> None:
    clock = FakeClock()
    limit = bucket(clock, 60)
    for _ in range(5):  # five requests in flight all come back 429
        limit.penalize(retry_after=3)
    assert limit.rate == 30
    assert limit.penalties == 5
    assert limit.delay() == pytest.approx(3)
    clock.now += 3
    limit.penalize()  # a new pause after the first ended: cut again, pause one interval
    assert limit.rate == 15
    assert limit.delay() == pytest.approx(60 / 15)


async def test_successes_restore_the_rate_additively_never_above_the_configured_rate() -> None:
    clock = FakeClock()
    limit = bucket(clock, 40)
    limit.penalize(retry_after=1)
    assert limit.rate == 20
    limit.success()
    assert limit.rate == pytest.approx(24)
    for _ in range(50):
        limit.success()
    assert limit.rate == 40


async def test_the_rate_never_falls_below_its_floor() -> None:
    clock = FakeClock()
    limit = bucket(clock, 64)
    for _ in range(20):
        limit.penalize(retry_after=1)
        clock.now += 1.5
    assert limit.rate == pytest.approx(4)  # 64 / 16


async def test_an_unlimited_bucket_still_honours_a_pause() -> None:
    clock = FakeClock()
    start = clock()
    limit = bucket(clock, None)
    times = await acquire_all(limit, clock, 50)
    assert times == [start] * 50
    limit.penalize(retry_after=5)
    await limit.acquire()
    assert clock() - start == pytest.approx(5)
    limit.success()
    assert limit.rate is None


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_per_minute": 0}, {"rate_per_minute": -3}, {"rate_per_minute": 10, "burst": 0}],
)
def test_impossible_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        TokenBucket(**kwargs)  # type: ignore[arg-type]


async def test_a_batch_against_a_stricter_server_slows_down_instead_of_failing() -> None:
    """We believe 30 RPM; the server allows 12 per minute and answers 429 beyond."""
    clock = FakeClock()
    limiter = RateLimiter({"fal": 30}, clock=clock, sleep=clock.sleep)
    key = credential_key("fal", "key-1:secret")
    served: deque[float] = deque()
    accepted: list[float] = []
    rejected = 0

    def server() -> None:
        nonlocal rejected
        now = clock()
        while served and served[0] <= now - 60:
            served.popleft()
        if len(served) >= 12:
            rejected += 1
            raise RateLimitedError("slow down", provider="fal", status_code=429, retry_after=5)
        served.append(now)
        accepted.append(now)

    async def job() -> None:
        while True:
            try:
                async with limiter.slot(key):
                    server()
                return
            except RateLimitedError:
                continue

    await asyncio.gather(*(job() for _ in range(40)))
    assert len(accepted) == 40
    assert max_in_window(accepted) <= 12
    learned = limiter.bucket(key).rate
    assert learned is not None and learned < 30  # it learned to go slower
    assert rejected < 20  # slowed down rather than hammering


async def test_the_limiter_keeps_a_bucket_per_credential() -> None:
    clock = FakeClock()
    start = clock()
    limiter = RateLimiter({"fal": 60, "runway": 6}, clock=clock, sleep=clock.sleep)
    one, two = credential_key("fal", "key-a"), credential_key("fal", "key-b")
    assert one != two and "key-a" not in one and one.startswith("fal:")
    assert credential_key("fal") == "fal"
    await limiter.acquire(one)
    assert await limiter.acquire(two) == 0  # another credential has its own bucket
    assert await limiter.acquire(one) == pytest.approx(1.0)
    assert limiter.rate_for(credential_key("runway", "x")) == 6
    assert limiter.rate_for("google") is None
    waited = [await limiter.acquire("google") for _ in range(20)]
    assert waited == [0] * 20 and clock() - start == pytest.approx(1.0)


async def test_slot_reports_429_and_success_but_not_other_errors() -> None:
    clock = FakeClock()
    limiter = RateLimiter(default_rpm=60, clock=clock, sleep=clock.sleep)
    with pytest.raises(RateLimitedError):
        async with limiter.slot("openai"):
            raise RateLimitedError("429", retry_after=8)
    limit = limiter.bucket("openai")
    assert limit.penalties == 1 and limit.rate == 30
    assert limit.delay() == pytest.approx(8)
    with pytest.raises(ProviderUnavailableError):
        async with limiter.slot("openai"):
            raise ProviderUnavailableError("500")
    assert limit.rate == 30 and limit.penalties == 1
    async with limiter.slot("openai"):
        pass
    assert limit.rate == pytest.approx(36)


def test_from_settings_reads_the_rate_limits(settings: Settings) -> None:
    limiter = RateLimiter.from_settings(settings.model_copy(update={"rate_limits": {"fal": 45}}))
    assert limiter.rate_for(credential_key("fal", "k")) == 45
    assert limiter.bucket("fal").max_rate == 45
    assert limiter.rate_for(credential_key("vertex", "p")) == 50  # the published tier default
    assert limiter.rate_for(credential_key("runway", "k")) is None
    quicker = settings.model_copy(update={"rate_limits": {"vertex": 120}})
    assert RateLimiter.from_settings(quicker).rate_for("vertex") == 120


async def test_real_time_acquisitions_are_spaced_by_the_rate() -> None:
    limit = TokenBucket(600)  # one every 0.1 s, on the real monotonic clock
    start = time.monotonic()
    stamps: list[float] = []

    async def one() -> None:
        await limit.acquire()
        stamps.append(time.monotonic() - start)

    await asyncio.gather(*(one() for _ in range(5)))
    assert stamps[0] < 0.05
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps), gaps  # stamps carry a little scheduling jitter
    assert stamps[-1] == pytest.approx(0.4, abs=0.15)
