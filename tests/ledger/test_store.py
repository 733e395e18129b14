"""The ledger on a real SQLite file: migrations, events, paging, unfinished jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sorakit.errors import NotFoundError
from sorakit.ledger import JobStatus, Ledger


def job_fields(job_id: str, **extra: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "id": job_id,
        "kind": "generate",
        "model": "sora-2",
        "provider": "simulator",
        "provider_model": "sora-2",
        "prompt": "p",
        "seconds": 4,
        "size": "720x1280",
        "idempotency_key": f"key-{job_id}",
    }
    fields.update(extra)
    return fields


@pytest.fixture
async def ledger(tmp_path: Path) -> Ledger:
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path}/ledger/sorakit.db")
    yield ledger  # type: ignore[misc]
    await ledger.close()


async def test_migrations_create_the_schema_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    for _ in range(2):  # re-opening applies nothing twice
        await (await Ledger.open(url)).close()
    with sqlite3.connect(tmp_path / "x.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        version = db.execute("select version_num from alembic_version").fetchall()
        mode = db.execute("pragma journal_mode").fetchone()[0]
    assert {
        "jobs",
        "job_events",
        "assets",
        "pipelines",
        "api_keys",
        "upstream_credentials",
    } <= tables
    assert version == [("m009",)]
    assert mode == "wal"


async def test_status_changes_are_events(ledger: Ledger) -> None:
    await ledger.create_job(**job_fields("video_a"))
    await ledger.update("video_a", status=JobStatus.QUEUED, remote_id="sim_1")
    await ledger.update("video_a", progress=50)
    await ledger.update("video_a", progress=50)  # no change, no event
    await ledger.update("video_a", status=JobStatus.COMPLETED, progress=100)
    events = await ledger.events("video_a")
    assert [(e.status, e.progress) for e in events] == [
        ("pending", 0),
        ("queued", 0),
        ("queued", 50),
        ("completed", 100),
    ]
    assert (await ledger.get("sim_1")).id == "video_a"


async def test_idempotency_keys_are_unique(ledger: Ledger) -> None:
    from sqlalchemy.exc import IntegrityError

    await ledger.create_job(**job_fields("video_a", client_key="c1"))
    with pytest.raises(IntegrityError):
        await ledger.create_job(**job_fields("video_b", idempotency_key="key-video_a"))
    assert (await ledger.by_client_key("c1")).id == "video_a"  # type: ignore[union-attr]


async def test_paging_by_cursor(ledger: Ledger) -> None:
    for i in range(5):
        await ledger.create_job(**job_fields(f"video_{i}", created_at=1000.0 + i))
    page, more = await ledger.list_jobs(limit=2)
    assert [j.id for j in page] == ["video_4", "video_3"] and more
    page, more = await ledger.list_jobs(limit=2, after="video_3")
    assert [j.id for j in page] == ["video_2", "video_1"] and more
    page, more = await ledger.list_jobs(limit=2, after="video_1")
    assert [j.id for j in page] == ["video_0"] and not more
    page, _ = await ledger.list_jobs(limit=3, order="asc", after="video_0")
    assert [j.id for j in page] == ["video_1", "video_2", "video_3"]
    with pytest.raises(NotFoundError):
        await ledger.list_jobs(after="video_missing")


async def test_unfinished_and_assets_and_delete(ledger: Ledger) -> None:
    await ledger.create_job(**job_fields("video_a"))
    await ledger.create_job(**job_fields("video_b", status="completed"))
    await ledger.create_job(**job_fields("video_c", status="fetching"))
    assert [j.id for j in await ledger.unfinished()] == ["video_a", "video_c"]
    await ledger.add_asset("video_b", "video", "/x.mp4", 10, "ab" * 32, "video/mp4")
    await ledger.add_asset("video_b", "video", "/y.mp4", 11, "cd" * 32, "video/mp4")
    job = await ledger.get("video_b")
    assert job.assets["video"].path == "/y.mp4" and job.video_path == "/y.mp4"
    await ledger.delete_job("video_b")
    with pytest.raises(NotFoundError):
        await ledger.get("video_b")


async def test_a_ledger_of_the_first_schema_is_upgraded_with_its_jobs(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from sorakit.ledger import store

    path = tmp_path / "old.db"
    with create_engine(f"sqlite:///{path}").begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(store._MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "m001")
    with sqlite3.connect(path) as db:
        db.execute(
            "insert into jobs (id, kind, status, model, provider, provider_model, prompt, seconds,"
            " size, idempotency_key, progress, options, submit_attempts, created_at, updated_at)"
            " values ('video_old', 'generate', 'completed', 'sora-2', 'simulator', 'sora-2', 'p',"
            " 4, '720x1280', 'k', 100, '{}', 1, 1.0, 1.0)"
        )
        db.execute(
            "insert into job_events (job_id, at, status, progress, detail)"
            " values ('video_old', 1.0, 'completed', 100, 'archived')"
        )
        db.execute(
            "insert into assets (job_id, variant, path, size, sha256, media_type, created_at)"
            " values ('video_old', 'video', '/x.mp4', 1, 'ab', 'video/mp4', 1.0)"
        )
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{path}")
    try:
        job = await ledger.get("video_old")
        assert job.status is JobStatus.COMPLETED and job.pipeline_id is None
        # Nothing cascaded away with the schema change.
        assert set(job.assets) == {"video"} and len(await ledger.events("video_old")) == 1
        assert await ledger.list_pipelines() == []
    finally:
        await ledger.close()


async def test_a_migration_cut_short_leaves_nothing_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from alembic.config import Config

    from sorakit.ledger import store

    def first_step_then_die(connection: object) -> None:
        config = Config()
        config.set_main_option("script_location", str(store._MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "m001")
        raise RuntimeError("killed mid-migration")

    monkeypatch.setattr(store, "_upgrade", first_step_then_die)
    url = f"sqlite+aiosqlite:///{tmp_path}/cut.db"
    with pytest.raises(RuntimeError):
        await Ledger.open(url)
    with sqlite3.connect(tmp_path / "cut.db") as db:
        assert db.execute("select name from sqlite_master where type='table'").fetchall() == []
    monkeypatch.undo()
    await (await Ledger.open(url)).close()  # and the next start migrates cleanly


async def test_a_held_job_is_read_from_memory_until_its_hold_ends(ledger: Ledger) -> None:
    await ledger.create_job(**job_fields("video_h"))
    ledger.hold("video_h")
    await ledger.update("video_h", status=JobStatus.IN_PROGRESS, progress=40)
    other = await Ledger.open(ledger.engine.url.render_as_string(hide_password=False))
    try:  # a write that bypasses this process (which a lease rules out) shows what is served
        await other.update("video_h", progress=90)
        held = await ledger.get("video_h")
        assert (held.status, held.progress) == (JobStatus.IN_PROGRESS, 40)
        ledger.release_hold("video_h")
        assert (await ledger.get("video_h")).progress == 90
    finally:
        await other.close()
    ledger.hold("video_h")
    await ledger.update("video_h", status=JobStatus.COMPLETED, progress=100)
    assert (await ledger.get("video_h")).status is JobStatus.COMPLETED  # finished: not held
