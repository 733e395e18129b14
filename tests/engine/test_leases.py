"""Two workers on one ledger: every job is submitted, polled and downloaded by one of them only."""

from __future__ import annotations

import os
from collections import Counter

import anyio
import pytest

from sorakit.engine import Engine
from sorakit.ledger import JobStatus
from sorakit.settings import Settings
from tests.conftest import FakeProvider


async def two_workers_resume(settings: Settings) -> None:
    fake = FakeProvider(steps=3)
    async with await Engine.open(settings, providers={"simulator": fake}) as first:
        ids = [(await first.create(f"job {i}", seconds=4, submit=False)).id for i in range(8)]
        second = await Engine.open(settings, providers={"simulator": fake})
        try:
            async with anyio.create_task_group() as group:  # two servers restarting at once
                group.start_soon(first.resume)
                group.start_soon(second.resume)
        finally:
            await second.aclose()
        jobs = [await first.get(i) for i in ids]
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    assert fake.creates == 8  # each job created once
    calls = Counter(operation for operation, _ in fake.history)
    assert calls["download"] == 8  # and archived once
    assert calls["retrieve"] == 8 * 3  # and polled by one worker only


async def test_two_workers_on_sqlite_share_the_jobs_without_doubling_any(
    settings: Settings,
) -> None:
    await two_workers_resume(settings)


@pytest.mark.postgres
@pytest.mark.skipif(
    "SORAKIT_TEST_POSTGRES_URL" not in os.environ, reason="no Postgres (scripts/postgres start)"
)
async def test_two_workers_on_postgres_share_the_jobs_without_doubling_any(
    settings: Settings,
) -> None:
    from tests.ledger.test_postgres import fresh_database

    async with fresh_database() as url:
        await two_workers_resume(settings.model_copy(update={"database_url": url}))


async def test_a_lease_that_runs_out_is_taken_over(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        job = await engine.create("stuck", seconds=4, submit=False)
        # A worker on another host claimed it and went silent.
        assert await engine.ledger.claim(job.id, "elsewhere:1:dead", seconds=0.3)
        assert not await engine.ledger.claim(job.id, engine.runner.worker)
        done = await engine.wait(job.id)  # follows, then takes over when the lease expires
    assert done.status is JobStatus.COMPLETED and fake.creates == 1


async def test_a_lease_of_a_dead_local_process_is_taken_at_once(settings: Settings) -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}:0000"
    async with await Engine.open(settings, providers={"simulator": FakeProvider()}) as engine:
        job = await engine.create("orphan", seconds=4, submit=False)
        assert await engine.ledger.claim(job.id, dead, seconds=3600)
        assert await engine.ledger.claim(job.id, engine.runner.worker)
