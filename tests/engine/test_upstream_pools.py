"""Upstream credential pools in the engine: picking, cooling down, disabling, staying put.

Each credential is its own account: the `openai` provider's factory builds a separate scripted
fake per secret, so a follow-up call made on the wrong credential finds no job there and fails.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from sorakit.engine import Engine
from sorakit.engine.upstream import PoolAdmin, UpstreamPools
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    ProviderAuthError,
    RateLimitedError,
)
from sorakit.ledger import JobStatus, Ledger
from sorakit.ledger.credentials import env_credential_id
from sorakit.providers.registry import ProviderPool
from sorakit.security.secretbox import SecretBox, generate_key
from sorakit.settings import Settings, get_settings
from tests.conftest import FakeProvider
from tests.ledger.test_postgres import URL as PG_URL, fresh_database

ENV = env_credential_id("openai")
KEY = generate_key()


class Accounts(dict[str, FakeProvider]):
    """One scripted provider per upstream secret."""

    built: list[Settings]

    def build(self, settings: Settings) -> FakeProvider:
        self.built = [*getattr(self, "built", []), settings]
        secret = settings.fal_key or settings.openai_api_key
        assert secret is not None
        return self.setdefault(secret.get_secret_value(), FakeProvider(steps=1))

    @property
    def creates(self) -> int:
        return sum(account.creates for account in self.values())


@pytest.fixture
def pool_settings(isolated_env: Path) -> Settings:
    return get_settings(
        home=isolated_env,
        openai_base_url="http://upstream.invalid/v1",
        openai_api_key="acct-env",
        secret_key=KEY,
        pool_auth_failures=2,
    )


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


@pytest.fixture
async def engine(pool_settings: Settings, accounts: Accounts) -> Engine:
    ledger = await Ledger.open(pool_settings.ledger_url)
    factories = {"openai": accounts.build, "fal": accounts.build}
    providers = ProviderPool(pool_settings, factories=factories)
    engine = Engine(pool_settings, ledger, providers=providers)
    yield engine  # type: ignore[misc]
    await engine.aclose()


async def add(engine: Engine, secret: str, **options: object) -> str:
    record = await PoolAdmin(engine.upstream).add("openai", secret=secret, label=secret, **options)  # type: ignore[arg-type]
    return record.id


async def test_round_robin_spreads_jobs_and_follow_ups_stay_on_their_credential(
    engine: Engine, accounts: Accounts
) -> None:
    b, c = await add(engine, "acct-b"), await add(engine, "acct-c")
    jobs = [await engine.create(f"shot {i}", model="sora-2") for i in range(6)]
    done = [await engine.wait(job.id) for job in jobs]
    assert all(job.status is JobStatus.COMPLETED for job in done)
    assert [job.credential_id for job in done] == [ENV, b, c, ENV, b, c]
    assert {secret: account.creates for secret, account in accounts.items()} == {
        "acct-env": 2,
        "acct-b": 2,
        "acct-c": 2,
    }
    # Every status call and download went to the account that holds the job.
    for secret, account in accounts.items():
        polled = {remote_id for remote_id, count in account.polls.items() if count}
        assert polled == set(account.jobs), secret


async def test_a_429_cools_the_credential_down_and_the_job_moves_on(
    engine: Engine, accounts: Accounts
) -> None:
    b = await add(engine, "acct-b")
    accounts.build(engine.settings)  # the environment's account, scripted before first use
    accounts["acct-env"].enqueue("submit", RateLimitedError("slow down", retry_after=30))
    started = time.time()
    first = await engine.wait((await engine.create("one", model="sora-2")).id)
    assert first.status is JobStatus.COMPLETED and first.credential_id == b
    env = await engine.ledger.credential(ENV)
    assert env.state() == "cooling" and env.cooldown_until is not None
    assert env.cooldown_until == pytest.approx(started + 30, abs=3)
    second = await engine.wait((await engine.create("two", model="sora-2")).id)
    assert second.credential_id == b  # the cooling credential is passed over
    assert accounts["acct-env"].creates == 0 and accounts.creates == 2
    assert time.time() - started < 10  # nobody waited out the 30 s


async def test_repeated_auth_failures_disable_a_credential_and_jobs_keep_completing(
    engine: Engine, accounts: Accounts
) -> None:
    bad = await add(engine, "acct-bad")
    accounts.build(engine.settings)
    accounts.setdefault("acct-bad", FakeProvider(steps=1)).enqueue(
        "submit", *(ProviderAuthError("401 invalid key", provider="openai") for _ in range(5))
    )
    done = [await engine.wait((await engine.create(f"s{i}", model="sora-2")).id) for i in range(5)]
    assert all(job.status is JobStatus.COMPLETED and job.credential_id == ENV for job in done)
    record = await engine.ledger.credential(bad)
    assert record.state() == "disabled" and record.auth_failures == 2
    assert "2 authentication failures in a row" in (record.disabled_reason or "")
    listed = {
        c["id"]: c for p in await PoolAdmin(engine.upstream).describe() for c in p["credentials"]
    }
    assert listed[bad]["state"] == "disabled" and "secret" not in listed[bad]
    # An admin enables it again: its count starts over and it takes jobs.
    await PoolAdmin(engine.upstream).change(bad, enabled=True)
    assert (await engine.ledger.credential(bad)).state() == "active"


async def test_when_every_credential_is_disabled_the_job_fails_with_the_reasons(
    engine: Engine, accounts: Accounts
) -> None:
    await PoolAdmin(engine.upstream).change(ENV, enabled=False)
    with pytest.raises(ProviderAuthError, match="every openai credential is disabled"):
        await engine.create("lonely", model="sora-2")
    (failed,), _more = await engine.ledger.list_jobs()
    assert failed.status is JobStatus.FAILED
    assert "every openai credential is disabled" in (failed.error_message or "")
    assert accounts.creates == 0


async def test_an_ambiguous_create_stays_on_its_credential(
    engine: Engine, accounts: Accounts
) -> None:
    await add(engine, "acct-b")
    accounts.build(engine.settings).lose_next_create = True  # created, but the answer is lost
    done = await engine.wait((await engine.create("once", model="sora-2")).id)
    assert done.status is JobStatus.COMPLETED and done.credential_id == ENV
    assert accounts.creates == 1  # found again on its own account, never re-made elsewhere
    assert ("find", done.idempotency_key) in accounts["acct-env"].history


async def test_a_remix_goes_to_the_credential_that_holds_its_source(
    engine: Engine, accounts: Accounts
) -> None:
    b = await add(engine, "acct-b")
    source = await engine.wait((await engine.create("source", model="sora-2")).id)
    assert source.credential_id == ENV
    remix = await engine.wait((await engine.remix(source.id, "again")).id)
    assert remix.status is JobStatus.COMPLETED and remix.credential_id == ENV
    other = await engine.wait((await engine.create("next", model="sora-2")).id)
    assert other.credential_id == b


async def test_concurrency_per_credential_is_never_exceeded(
    engine: Engine, accounts: Accounts
) -> None:
    await PoolAdmin(engine.upstream).change(ENV, max_concurrency=1)
    b = await add(engine, "acct-b", max_concurrency=1)
    await PoolAdmin(engine.upstream).configure("openai", strategy="least-loaded")
    peak: dict[str, int] = {}
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for cid, count in (await engine.ledger.credential_load([ENV, b])).items():
                peak[cid] = max(peak.get(cid, 0), count)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    jobs = [await engine.create(f"c{i}", model="sora-2", submit=False) for i in range(4)]
    done = await asyncio.gather(*(engine.wait(job.id) for job in jobs))
    stop.set()
    await sampler
    assert all(job.status is JobStatus.COMPLETED for job in done)
    assert peak == {ENV: 1, b: 1}
    assert sorted(job.credential_id or "" for job in done) == sorted([ENV, ENV, b, b])


async def test_secrets_are_sealed_at_rest_and_keys_rotate(
    engine: Engine, pool_settings: Settings
) -> None:
    await add(engine, "acct-very-secret-value", proxy="socks5://user:pw-secret@10.0.0.9:1080")
    raw = Path(pool_settings.ledger_url.removeprefix("sqlite+aiosqlite:///")).read_bytes()
    assert b"acct-very-secret-value" not in raw and b"pw-secret" not in raw
    (record,) = [r for r in await engine.ledger.credentials("openai") if r.source == "stored"]
    assert SecretBox(KEY).open(record.secret or "") == "acct-very-secret-value"
    with pytest.raises(ConfigurationError, match="the key changed"):
        SecretBox(generate_key()).open(record.secret or "")
    new = generate_key()
    rotated = pool_settings.model_copy(update={"secret_key": SecretStr(f"{new},{KEY}")})
    pools = UpstreamPools(rotated, engine.ledger, engine.providers)
    assert await PoolAdmin(pools).reseal() == 1
    resealed = await engine.ledger.credential(record.id)
    assert SecretBox(new).open(resealed.secret or "") == "acct-very-secret-value"
    assert SecretBox(new).open(resealed.proxy or "").endswith("@10.0.0.9:1080")


async def test_bad_pool_input_is_refused(engine: Engine) -> None:
    admin = PoolAdmin(engine.upstream)
    with pytest.raises(InvalidRequestError, match="no credential pool"):
        await admin.add("simulator", secret="x")
    with pytest.raises(InvalidRequestError, match="proxy"):
        await admin.add("openai", secret="x", proxy="ftp://host")
    with pytest.raises(InvalidRequestError, match="secret"):
        await admin.add("openai", secret="  ")
    with pytest.raises(InvalidRequestError, match="strategy"):
        await admin.configure("openai", strategy="random")
    with pytest.raises(InvalidRequestError, match="environment"):
        await admin.change(ENV, secret="other")


async def test_without_a_secret_key_stored_credentials_are_refused(isolated_env: Path) -> None:
    settings = get_settings(home=isolated_env, openai_base_url="http://upstream.invalid/v1")
    engine = await Engine.open(settings)
    try:
        with pytest.raises(ConfigurationError, match="SORAKIT_SECRET_KEY"):
            await PoolAdmin(engine.upstream).add("openai", secret="acct")
    finally:
        await engine.aclose()


async def test_a_pool_of_stored_credentials_needs_no_variable(
    engine: Engine, accounts: Accounts
) -> None:
    admin = PoolAdmin(engine.upstream)
    first = await admin.add("fal", secret="fal-a:1", label="a")
    second = await admin.add("fal", secret="fal-b:2", label="b")
    done = [
        await engine.wait((await engine.create(f"f{i}", model="fal/kling-3.0-pro", seconds=5)).id)
        for i in range(2)
    ]
    assert [job.credential_id for job in done] == [first.id, second.id]
    assert all(job.status is JobStatus.COMPLETED for job in done)
    assert accounts["fal-a:1"].creates == accounts["fal-b:2"].creates == 1
    await admin.change(first.id, enabled=False)
    await admin.change(second.id, enabled=False)
    with pytest.raises(ProviderAuthError, match="every fal credential is disabled"):
        await engine.create("none left", model="fal/kling-3.0-pro", seconds=5)


async def test_a_credential_carries_its_own_proxy_and_base_url(
    engine: Engine, accounts: Accounts
) -> None:
    admin = PoolAdmin(engine.upstream)
    await admin.configure("openai", proxy="http://pool-proxy.test:3128")
    b = await add(
        engine, "acct-b", proxy="socks5://u:p@cred-proxy.test:1080", base_url="http://b.test/v1"
    )
    done = [await engine.wait((await engine.create(f"p{i}", model="sora-2")).id) for i in range(2)]
    assert [job.credential_id for job in done] == [ENV, b]
    by_secret = {s.openai_api_key.get_secret_value(): s for s in accounts.built if s.openai_api_key}
    assert by_secret["acct-env"].proxies == {"openai": "http://pool-proxy.test:3128"}
    assert by_secret["acct-env"].openai_base_url == "http://upstream.invalid/v1"
    assert by_secret["acct-b"].proxies == {"openai": "socks5://u:p@cred-proxy.test:1080"}
    assert by_secret["acct-b"].openai_base_url == "http://b.test/v1"


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None, reason="SORAKIT_TEST_POSTGRES_URL is not set")
async def test_pools_and_overrides_on_postgres(isolated_env: Path, accounts: Accounts) -> None:
    async with fresh_database() as url:
        settings = get_settings(
            home=isolated_env,
            database_url=url,
            openai_base_url="http://upstream.invalid/v1",
            openai_api_key="acct-env",
            secret_key=KEY,
            pool_auth_failures=1,
        )
        ledger = await Ledger.open(url)
        providers = ProviderPool(settings, factories={"openai": accounts.build})
        engine = Engine(settings, ledger, providers=providers)
        try:
            bad = await add(engine, "acct-bad")
            accounts.setdefault("acct-bad", FakeProvider(steps=1)).enqueue(
                "submit", ProviderAuthError("401", provider="openai")
            )
            done = [
                await engine.wait((await engine.create(f"pg{i}", model="sora-2")).id)
                for i in range(3)
            ]
            assert all(job.status is JobStatus.COMPLETED for job in done)
            assert (await engine.ledger.credential(bad)).state() == "disabled"
            assert await engine.ledger.credential_load([ENV, bad]) == {}
            await ledger.set_override("alias", "sora-2", "sora-2-pro")
            assert [o.name for o in await ledger.list_overrides("alias")] == ["sora-2"]
        finally:
            await engine.aclose()
