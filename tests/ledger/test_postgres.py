"""The ledger on a real PostgreSQL (`scripts/postgres start` sets SORAKIT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import sorakit
from sorakit.ledger import JobStatus, Ledger
from sorakit.settings import get_settings

URL = os.environ.get("SORAKIT_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        URL is None, reason="SORAKIT_TEST_POSTGRES_URL is not set (scripts/postgres start)"
    ),
]


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new database on the test server, dropped afterwards."""
    import asyncpg

    assert URL is not None
    admin_dsn = URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"sorakit_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A fresh database for one test."""
    async with fresh_database() as url:
        yield url


async def test_migrations_and_events_on_postgres(database_url: str) -> None:
    ledger = await Ledger.open(database_url)
    try:
        await ledger.create_job(
            id="video_pg",
            kind="generate",
            model="sora-2",
            provider="simulator",
            provider_model="sora-2",
            prompt="p",
            seconds=4,
            size="720x1280",
            idempotency_key="k",
            options={"changes": ["a"]},
        )
        await ledger.update("video_pg", status=JobStatus.QUEUED, remote_id="sim_pg")
        job = await ledger.get("sim_pg")
        assert job.options == {"changes": ["a"]} and job.status is JobStatus.QUEUED
        assert [e.status for e in await ledger.events("video_pg")] == ["pending", "queued"]
    finally:
        await ledger.close()
    await (await Ledger.open(database_url)).close()  # migrating again is a no-op


async def test_generate_with_a_postgres_ledger(database_url: str, tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path, database_url=database_url, simulator_render_seconds=0.3)
    async with sorakit.AsyncClient(settings=settings) as client:
        job = await client.generate("a cat on postgres")
        assert job.status is sorakit.JobStatus.COMPLETED
        assert [j.id for j in await client.jobs()] == [job.id]
    assert not (tmp_path / "sorakit.db").exists()
