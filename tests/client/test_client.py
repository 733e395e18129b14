"""The library's front door: the blocking facade and the async client on the simulator."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

import sorakit
from sorakit.settings import Settings


def test_blocking_client_generates_remixes_and_lists(settings: Settings) -> None:
    with sorakit.Client(settings=settings) as client:
        job = client.generate("a calico cat playing a piano", seconds=8, size="1280x720")
        assert job.status is sorakit.JobStatus.COMPLETED
        with av.open(job.video_path or "") as container:
            assert container.streams.video[0].width == 1280
        seen: list[str] = []
        night = client.remix(job.id, "at night", on_progress=lambda j: seen.append(j.status.value))
        assert night.status is sorakit.JobStatus.COMPLETED and seen[-1] == "completed"
        longer = client.extend(job.id, "the cat bows", seconds=4)
        assert longer.total_seconds == "12"
        assert [j.id for j in client.jobs()] == [longer.id, night.id, job.id]
        with pytest.raises(sorakit.ModerationBlockedError) as blocked:
            client.generate("a cat [[moderation_blocked]]")
        assert blocked.value.code == "moderation_blocked"
        with pytest.raises(sorakit.InvalidRequestError, match="allows"):
            client.generate("x", seconds=5)


async def test_async_client_without_waiting_then_cancel(settings: Settings, tmp_path: Path) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 30.0})
    async with sorakit.AsyncClient(settings=slow) as client:
        job = await client.generate("a slow one", wait=False)
        assert job.status is sorakit.JobStatus.QUEUED and job.remote_id
        cancelled = await client.cancel(job.id)
        assert cancelled.status is sorakit.JobStatus.CANCELLED
        assert await client.resume() == []
        models = {m.name for m in await client.models()}
        assert {"sora-2", "sora-2-pro"} <= models


async def test_base_url_and_api_key_route_to_a_server(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    from sorakit.settings import get_settings

    with serve(get_settings(home=tmp_path / "server", simulator_render_seconds=0.3)) as url:
        async with sorakit.AsyncClient(
            base_url=f"{url}/v1", api_key="k", home=tmp_path / "c"
        ) as client:
            job = await client.generate("over the wire")
    assert job.provider == "openai" and job.remote_id and job.remote_id != job.id
    assert Path(job.video_path or "").stat().st_size == job.assets["video"].size


async def test_edit_a_local_clip(settings: Settings, tmp_path: Path) -> None:
    from tests.conftest import make_mp4

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(make_mp4(1.0, (320, 240)))
    async with sorakit.AsyncClient(settings=settings) as client:
        edited = await client.edit(clip, "add snow")
    assert (edited.kind, edited.size, edited.status) == (
        "edit",
        "320x240",
        sorakit.JobStatus.COMPLETED,
    )
    assert edited.assets["source"].size == clip.stat().st_size


def test_blocking_client_makes_a_long_video_from_an_edited_plan(
    settings: Settings, tmp_path: Path
) -> None:
    with sorakit.Client(settings=settings) as client:
        plan = client.plan_long("a hot-air balloon at dawn", 16, segments=2, planner="offline")
        plan.segments[0].prompt = "The balloon fills with air beside a barn."
        path = plan.save(tmp_path / "plan.json")
        film = client.long("a hot-air balloon at dawn", 16, segments=2, plan=path)
    assert [job.prompt for job in film.segments][0] == "The balloon fills with air beside a barn."
    assert film.video is not None and film.video.is_file()
    with av.open(str(film.video)) as container:
        assert float(container.duration or 0) / 1e6 == pytest.approx(16 - 1 / 24, abs=0.05)
