"""The job runner against a scripted fake provider: submit once, retry, find, check downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from sorakit.engine import Engine
from sorakit.errors import ProviderConnectionError, ProviderUnavailableError, RateLimitedError
from sorakit.ledger import JobStatus
from sorakit.settings import Settings
from tests.conftest import FakeProvider


@pytest.fixture
async def engine(settings: Settings, fake_provider: FakeProvider) -> Engine:
    engine = await Engine.open(settings, providers={"simulator": fake_provider})
    yield engine  # type: ignore[misc]
    await engine.aclose()


async def test_job_is_a_row_before_anything_is_sent(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    job = await engine.create("a cat", submit=False)
    assert job.status is JobStatus.PENDING
    assert fake_provider.history == []
    stored = await engine.get(job.id)
    assert stored.idempotency_key.startswith("sorakit-")
    assert stored.estimated_cost == pytest.approx(0.4)


async def test_generate_tracks_and_archives(engine: Engine, fake_provider: FakeProvider) -> None:
    job = await engine.create("a cat", seconds=8)
    assert job.remote_id == "fake_1" and job.status is JobStatus.QUEUED
    seen: list[int] = []
    done = await engine.wait(job.id, lambda j: seen.append(j.progress))
    assert done.status is JobStatus.COMPLETED and done.progress == 100
    video = Path(done.video_path or "")
    assert video.read_bytes() == fake_provider.video
    assert done.assets["video"].size == len(fake_provider.video)
    assert seen == sorted(seen) and seen[-1] == 100
    statuses = [e.status for e in await engine.ledger.events(job.id)]
    assert statuses[:2] == ["pending", "queued"] and statuses[-1] == "completed"
    assert done.cost == pytest.approx(0.8)


async def test_transient_errors_are_retried(engine: Engine, fake_provider: FakeProvider) -> None:
    fake_provider.enqueue("submit", RateLimitedError("slow down", retry_after=0.01))
    fake_provider.enqueue(
        "retrieve", ProviderUnavailableError("503"), ProviderConnectionError("reset")
    )
    fake_provider.enqueue("download", ProviderUnavailableError("500"))
    job = await engine.create("a cat")
    done = await engine.wait(job.id)
    assert done.status is JobStatus.COMPLETED
    assert fake_provider.creates == 1


async def test_lost_create_is_found_not_resent(engine: Engine, fake_provider: FakeProvider) -> None:
    fake_provider.lose_next_create = True
    job = await engine.create("a cat")
    assert job.remote_id == "fake_1"
    assert ("find", job.idempotency_key) in fake_provider.history
    assert fake_provider.creates == 1
    assert [op for op, _ in fake_provider.history].count("submit") == 1


async def test_truncated_download_never_becomes_an_asset(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.truncate_next = True
    job = await engine.create("a cat")
    done = await engine.wait(job.id)
    assert Path(done.video_path or "").read_bytes() == fake_provider.video
    assert [op for op, _ in fake_provider.history].count("download") == 2
    leftovers = [p for p in Path(done.video_path or "").parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


async def test_failure_keeps_the_providers_reason(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    fake_provider.fail_with = ("moderation_blocked", "blocked by moderation")
    job = await engine.create("a cat")
    done = await engine.wait(job.id)
    assert done.status is JobStatus.FAILED
    assert (done.error_code, done.error_message) == ("moderation_blocked", "blocked by moderation")
    assert "video" not in done.assets


async def test_resume_submits_pending_and_tracks_in_flight(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    pending = await engine.create("never sent", submit=False)
    in_flight = await engine.create("sent")
    finished = await engine.resume()
    assert {j.id for j in finished} == {pending.id, in_flight.id}
    assert all(j.status is JobStatus.COMPLETED for j in finished)
    assert fake_provider.creates == 2
    assert await engine.resume() == []


async def test_resume_after_a_create_whose_answer_was_lost(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    job = await engine.create("a cat", submit=False)
    # The create reached the provider, then the process died before the answer was stored.
    request = await engine.runner.submit_request(job, None)
    await fake_provider.submit(request)
    await engine.ledger.update(job.id, submit_attempts=1)
    [done] = await engine.resume()
    assert done.status is JobStatus.COMPLETED
    assert fake_provider.creates == 1


async def test_cancel_and_delete(engine: Engine) -> None:
    job = await engine.create("a cat")
    cancelled = await engine.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert await engine.resume() == []
    await engine.delete(job.id)
    with pytest.raises(Exception, match="No video found"):
        await engine.get(job.id)


async def test_cancel_on_the_simulator(settings: Settings) -> None:
    async with await Engine.open(
        settings.model_copy(update={"simulator_render_seconds": 30.0})
    ) as engine:
        job = await engine.create("a long one")
        cancelled = await engine.cancel(job.id)
        assert cancelled.status is JobStatus.CANCELLED and cancelled.remote_id


async def test_a_missing_credential_is_refused_before_anything_is_recorded(
    settings: Settings,
) -> None:
    from sorakit.errors import ConfigurationError

    async with await Engine.open(settings) as engine:
        with pytest.raises(ConfigurationError, match="RUNWAYML_API_SECRET"):
            await engine.create("a cat", model="runway/gen4.5", seconds=5, size="1280x720")
        assert (await engine.ledger.list_jobs())[0] == []


async def test_the_fitted_reference_is_recorded_with_the_job_and_sent(
    engine: Engine, fake_provider: FakeProvider
) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(buffer, "PNG")
    sent: list[object] = []
    original = fake_provider.submit

    async def spy(request):  # type: ignore[no-untyped-def]
        sent.append(request.reference)
        return await original(request)

    fake_provider.submit = spy  # type: ignore[method-assign]
    job = await engine.create(
        "a red cat", size="1280x720", reference=buffer.getvalue(), submit=False
    )
    assert job.assets["reference"].size > 0  # recorded in the same transaction as the job
    await engine.wait(job.id)
    [reference] = sent
    assert reference is not None
    assert Image.open(io.BytesIO(reference.data)).size == (1280, 720)  # type: ignore[attr-defined]
