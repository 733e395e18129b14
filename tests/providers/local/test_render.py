"""The local provider on the CPU with a tiny random Wan pipeline: the real diffusers code path.

Renders are a few denoising steps at 32x32, so each costs a second or two; the MP4s are probed
with our media layer, progress is read step by step, and a cancel lands between two steps.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import anyio
import pytest

from sorakit.engine import Engine
from sorakit.ledger import JobStatus
from sorakit.media import probe
from sorakit.providers.base import RemoteJob, SubmitRequest
from sorakit.providers.local import LocalProvider
from sorakit.providers.local._provider import seed_for
from sorakit.settings import Settings, get_settings
from tests.providers.local.conftest import needs_extra

pytestmark = pytest.mark.usefixtures("tiny_wan_folder")  # skips, with the reason, without torch


def request(key: str, *, seconds: int = 1, size: str = "32x32") -> SubmitRequest:
    return SubmitRequest(
        kind="generate",
        model="local-tiny-wan",
        prompt="a red fox in the snow",
        seconds=seconds,
        size=size,
        idempotency_key=key,
    )


async def follow(provider: LocalProvider, remote_id: str, every: float = 0.005) -> list[RemoteJob]:
    """Every distinct state until the job finishes (polled far faster than a step takes)."""
    states: list[RemoteJob] = []
    while True:
        state = await provider.retrieve(remote_id)
        if not states or (state.status, state.progress) != (states[-1].status, states[-1].progress):
            states.append(state)
        if state.finished:
            return states
        await anyio.sleep(every)


async def test_the_engine_renders_a_real_mp4_of_the_models_frames_and_size(
    local_settings: Settings,
) -> None:
    async with await Engine.open(local_settings) as engine:
        job = await engine.create(
            "a red fox in the snow", model="local-tiny-wan", seconds=1, size="48x32"
        )
        seen: list[int] = []
        done = await engine.wait(job.id, lambda j: seen.append(j.progress))
    assert done.status is JobStatus.COMPLETED, done.error_message
    info = probe(Path(done.video_path or ""))
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height) == (48, 32)
    assert info.video.frames == 9 and info.video.frame_rate == 8  # 1 s at 8 fps: 4k+1 frames
    assert info.video.codec == "h264" and info.audio.codec == "aac"
    assert seen == sorted(seen) and seen[-1] == 100


async def test_progress_moves_with_each_denoising_step_and_the_seed_is_recorded(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAKIT_LOCAL_STEPS", "4")
    provider = LocalProvider(get_settings())
    try:
        first = await provider.submit(request("key-1"))
        assert first.status == "queued" and first.progress == 0
        states = await follow(provider, first.id)
    finally:
        await provider.aclose()
    assert states[-1].status == "completed", states[-1].error_message
    rendering = [s.progress for s in states if s.status == "in_progress"]
    assert [p for p in rendering if p] == [23, 47, 71, 97]  # 95 % over 4 steps, then encoding
    assert all(s.expected_seconds for s in states if s.status == "in_progress" and s.progress)
    record = json.loads((local_settings.home / "local" / "jobs" / f"{first.id}.json").read_text())
    assert record["seed"] == seed_for("key-1") and record["frames"] == 9
    assert record["status"] == "completed" and record["steps_done"] == 4


async def test_a_retried_submit_returns_the_same_job(local_settings: Settings) -> None:
    provider = LocalProvider(local_settings)
    try:
        first = await provider.submit(request("same-key"))
        again = await provider.submit(request("same-key"))
        assert again.id == first.id
        assert (await provider.find(request("same-key"), since=0.0)) is not None
        await follow(provider, first.id)
    finally:
        await provider.aclose()
    # A new process finds the finished job on disk and serves it.
    later = LocalProvider(local_settings)
    assert (await later.retrieve(first.id)).status == "completed"
    async with later.download(first.id) as download:
        data = b"".join([chunk async for chunk in download.chunks])
    assert data[4:8] == b"ftyp" and len(data) == download.expected_size


async def test_cancel_stops_the_render_between_steps(
    local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAKIT_LOCAL_STEPS", "200")
    async with await Engine.open(get_settings()) as engine:
        job = await engine.create("a slow fox", model="local-tiny-wan", seconds=1, size="32x32")
        provider = engine.providers.get("local")
        assert isinstance(provider, LocalProvider) and job.remote_id
        while (await provider.retrieve(job.remote_id)).progress in (None, 0):
            await anyio.sleep(0.01)
        cancelled = await engine.cancel(job.id)
        assert cancelled.status is JobStatus.CANCELLED
        with anyio.fail_after(60):
            states = await follow(provider, job.remote_id)
    assert states[-1].status == "failed" and states[-1].error_code == "cancelled"
    assert "of 200 steps" in (states[-1].error_message or "")
    assert not (get_settings().home / "local" / "videos" / f"{job.remote_id}.mp4").exists()


async def test_missing_weights_fail_the_job_naming_the_setting_and_folder(
    local_settings: Settings, tiny_wan: Path
) -> None:
    shutil.rmtree(tiny_wan / "transformer")
    provider = LocalProvider(local_settings)
    try:
        job = await provider.submit(request("no-weights"))
        states = await follow(provider, job.id)
    finally:
        await provider.aclose()
    failed = states[-1]
    assert failed.status == "failed" and failed.error_code == "model_unavailable"
    assert "SORAKIT_LOCAL_MODELS" in (failed.error_message or "")
    assert str(tiny_wan.resolve()) in (failed.error_message or "")


async def test_an_interrupted_render_reads_as_failed_not_lost(local_settings: Settings) -> None:
    needs_extra()
    jobs = local_settings.home / "local" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "local_abc123.json").write_text(
        json.dumps(
            {
                "id": "local_abc123",
                "idempotency_key": "k",
                "status": "in_progress",
                "created_at": time.time(),
            }
        )
    )
    state = await LocalProvider(local_settings).retrieve("local_abc123")
    assert state.status == "failed" and state.error_code == "interrupted"


def test_memory_options_reach_the_pipeline(local_settings: Settings) -> None:
    from sorakit.providers.local._folders import find_model
    from sorakit.providers.local._render import PipelineHost

    settings = local_settings.model_copy(
        update={"local_vae_tiling": True, "local_vae_slicing": True, "local_offload": "model"}
    )
    host = PipelineHost(settings)
    pipe = host.pipeline(find_model(settings, "local-tiny-wan"))
    assert pipe.vae.use_tiling and pipe.vae.use_slicing
    assert host.device == "cpu" and str(pipe.device) == "cpu"  # offload is for CUDA only
