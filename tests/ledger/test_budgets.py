"""Budgets kept by the ledger: reserve at insert, commit on completion, release unbilled failures."""

from __future__ import annotations

import dataclasses
import os

import anyio
import pytest

from sorakit.catalog import Catalog, ModelEntry
from sorakit.catalog.sora import SORA_2_PRO
from sorakit.engine import Engine, Step
from sorakit.errors import BudgetExceededError
from sorakit.ledger import JobStatus, Ledger
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings
from tests.conftest import FakeProvider

# sora-2 lists at $0.10 per second: a 4 s clip reserves $0.40.


async def test_the_budget_reserves_commits_and_releases(settings: Settings) -> None:
    settings = settings.model_copy(update={"budget_usd": 1.0})
    fake = FakeProvider(steps=1)
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        first = await engine.create("one", seconds=4)
        second = await engine.create("two", seconds=4, submit=False)
        assert (await engine.ledger.spend()).reserved == pytest.approx(0.8)
        with pytest.raises(BudgetExceededError, match=r"\$0\.40; with \$0\.80 already") as e:
            await engine.create("three", seconds=4, reference=make_png())
        assert e.value.code == "budget_exceeded"
        assert len(await engine.ledger.unfinished()) == 2  # nothing recorded...
        assert sorted(p.name for p in settings.assets_dir.iterdir()) == []  # ...or left on disk

        done = await engine.wait(first.id)
        assert done.status is JobStatus.COMPLETED
        spend = await engine.ledger.spend()
        assert (spend.committed, spend.reserved) == (pytest.approx(0.4), pytest.approx(0.4))

        fake.fail_with = ("moderation_blocked", "no")  # the provider does not bill failures
        assert (await engine.wait(second.id)).status is JobStatus.FAILED
        assert (await engine.ledger.spend()).total == pytest.approx(0.4)
        await engine.create("four fits again", seconds=4, submit=False)
        assert fake.creates == 2  # the refused job never reached the provider


async def test_a_pipeline_budget_caps_its_own_jobs_only(settings: Settings) -> None:
    async with await Engine.open(settings, providers={"simulator": FakeProvider()}) as engine:
        step = Step("pipe_a", "segment-1", budget_usd=0.5)
        job = await engine.create("a", seconds=4, step=step, submit=False)
        assert (job.pipeline_id, job.pipeline_step) == ("pipe_a", "segment-1")
        again = await engine.create("a, asked again", seconds=4, step=step, submit=False)
        assert again.id == job.id  # a step is created once
        with pytest.raises(BudgetExceededError, match="pipeline pipe_a's budget of \\$0.50"):
            await engine.create("b", seconds=4, step=Step("pipe_a", "segment-2", 0.5))
        await engine.create("c", seconds=4, step=Step("pipe_b", "segment-1", 0.5), submit=False)
        await engine.create("no pipeline", seconds=12, submit=False)
        assert (await engine.ledger.spend("pipe_a")).total == pytest.approx(0.4)
        assert (await engine.ledger.spend()).total == pytest.approx(2.0)


async def test_an_unknown_price_cannot_be_budgeted(settings: Settings) -> None:
    settings = settings.model_copy(update={"budget_usd": 10.0})
    unpriced = dataclasses.replace(
        SORA_2_PRO,
        price_per_second={"720x1280": 0.30},
        unpriced={"1920x1080": "no price was published"},
    )
    catalog = Catalog([ModelEntry("sora-2-pro", "simulator", "sora-2-pro", unpriced)])
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"simulator": FakeProvider()})
    async with Engine(settings, ledger, catalog=catalog, providers=pool) as engine:
        with pytest.raises(BudgetExceededError, match="price of sora-2-pro at 1920x1080") as err:
            await engine.create("x", model="sora-2-pro", size="1920x1080", submit=False)
    assert "no price was published; give it a price with `sorakit prices set sora-2-pro" in str(
        err.value
    )


async def test_concurrent_creates_never_pass_the_cap(settings: Settings) -> None:
    await concurrent_creates(settings, settings.ledger_url)


@pytest.mark.postgres
@pytest.mark.skipif(
    "SORAKIT_TEST_POSTGRES_URL" not in os.environ, reason="no Postgres (scripts/postgres start)"
)
async def test_concurrent_creates_never_pass_the_cap_on_postgres(settings: Settings) -> None:
    from tests.ledger.test_postgres import fresh_database

    async with fresh_database() as url:
        await concurrent_creates(settings, url)


async def concurrent_creates(settings: Settings, url: str) -> None:
    """Two engines (as two processes would) race 20 creates against room for exactly 5."""
    settings = settings.model_copy(update={"budget_usd": 2.0, "database_url": url})
    engines = [await Engine.open(settings, providers={"simulator": FakeProvider()}) for _ in "ab"]
    accepted: list[str] = []
    refused = 0

    async def one(engine: Engine, index: int) -> None:
        nonlocal refused
        try:
            job = await engine.create(f"job {index}", seconds=4, submit=False)
            accepted.append(job.id)
        except BudgetExceededError:
            refused += 1

    try:
        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(one, engines[index % 2], index)
        assert (len(accepted), refused) == (5, 15)
        assert (await engines[0].ledger.spend()).reserved == pytest.approx(2.0)
    finally:
        for engine in engines:
            await engine.aclose()


def make_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (720, 1280), "red").save(buffer, "PNG")
    return buffer.getvalue()
