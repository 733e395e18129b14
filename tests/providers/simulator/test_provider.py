"""The simulator provider behaves like a remote Sora: lifecycle, content, refusals, faults, state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    MediaError,
    NotFoundError,
    ProviderConnectionError,
    ProviderUnavailableError,
    RateLimitedError,
    ReferenceImageError,
)
from sorakit.providers.base import ReferenceImage, SourceVideo
from sorakit.providers.simulator import SimulatorProvider
from sorakit.providers.simulator.state import MODERATION_MARKER, MODERATION_MESSAGE
from sorakit.settings import Settings, get_settings

MakeProvider = Callable[..., SimulatorProvider]


async def fetch(provider: SimulatorProvider, job_id: str, variant: str = "video") -> bytes:
    async with provider.download(job_id, variant) as download:  # type: ignore[arg-type]
        chunks = [chunk async for chunk in download.chunks]
    assert all(len(chunk) <= 64 * 1024 for chunk in chunks)
    return b"".join(chunks)


async def completed(provider: SimulatorProvider, clock: Any, sim: Any, **fields: Any) -> str:
    job = await provider.submit(sim.request(**fields))
    clock.advance(10)
    assert (await provider.retrieve(job.id)).status == "completed"
    return job.id


async def test_lifecycle_queued_in_progress_completed(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    job = await provider.submit(sim.request(seconds=2))

    assert (job.status, job.progress, job.seconds, job.size) == ("queued", 0, "2", "160x96")
    assert job.id.startswith("sim_") and job.poll_after is not None and job.poll_after > 0
    progress = []
    for _ in range(4):
        clock.advance(2)
        state = await provider.retrieve(job.id)
        assert state.status == "in_progress"
        progress.append(state.progress)
    assert progress == sorted(progress) and progress[0] < progress[-1] < 100
    files = provider.store.media_files(job.id)
    assert not files.complete(), "nothing is rendered before completion"
    clock.advance(2)
    done = await provider.retrieve(job.id)
    assert (done.status, done.progress, done.poll_after) == ("completed", 100, None)
    assert files.complete(), "the retrieve that sees completion renders the video"
    assert len(sim.decode_frames(files.video)) == 48


async def test_download_streams_each_variant_exactly(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    job_id = await completed(provider, clock, sim, size="1280x720", seconds=2)
    files = provider.store.media_files(job_id)

    for variant, media_type, path in [
        ("video", "video/mp4", files.video),
        ("thumbnail", "image/webp", files.thumbnail),
        ("spritesheet", "image/jpeg", files.spritesheet),
    ]:
        async with provider.download(job_id, variant) as download:  # type: ignore[arg-type]
            assert download.media_type == media_type
            assert download.expected_size == path.stat().st_size
            data = b"".join([chunk async for chunk in download.chunks])
        assert data == path.read_bytes()
    assert files.video.stat().st_size > 64 * 1024, "the video took several chunks"


async def test_content_before_completion_and_unknown_ids(
    provider: SimulatorProvider, sim: Any
) -> None:
    job = await provider.submit(sim.request())

    with pytest.raises(InvalidStateError, match="queued"):
        await fetch(provider, job.id)
    with pytest.raises(NotFoundError):
        await provider.retrieve("sim_000000000000000000000000")
    with pytest.raises(NotFoundError):
        await fetch(provider, "video_unknown")
    with pytest.raises(InvalidRequestError, match="variant"):
        await fetch(provider, job.id, "poster")


async def test_remix_keeps_size_and_length_and_looks_different(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    source = await completed(provider, clock, sim, size="192x108", seconds=2)

    remix = await provider.submit(
        sim.request("remix", prompt="now in winter", source_id=source, size="1x1", seconds=9)
    )

    assert (remix.size, remix.seconds, remix.remixed_from) == ("192x108", "2", source)
    clock.advance(10)
    await provider.retrieve(remix.id)
    a = sim.decode_frames(provider.store.media_files(source).video)
    b = sim.decode_frames(provider.store.media_files(remix.id).video)
    assert len(a) == len(b) == 48
    assert sim.mad(a[24], b[24]) > 10.0


async def test_extend_stitches_and_continues(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    source = await completed(provider, clock, sim, seconds=1)

    extension = await provider.submit(
        sim.request("extend", prompt="it bows", seconds=2, source_id=source)
    )

    assert (extension.seconds, extension.size, extension.remixed_from) == ("3", "160x96", None)
    clock.advance(10)
    await provider.retrieve(extension.id)
    frames = sim.decode_frames(provider.store.media_files(extension.id).video)
    first = sim.decode_frames(provider.store.media_files(source).video)
    assert len(frames) == 72
    assert sim.mad(frames[0], first[0]) < 1.0, "the source's segment is rendered again"
    assert sim.mad(frames[24], frames[23]) < 2.0, "the new segment opens on the last frame"


async def test_extend_refusals(provider: SimulatorProvider, clock: Any, sim: Any) -> None:
    source = await completed(provider, clock, sim, seconds=20)

    with pytest.raises(InvalidRequestError, match="120"):
        await provider.submit(sim.request("extend", seconds=101, source_id=source))
    with pytest.raises(InvalidRequestError, match="characters"):
        await provider.submit(sim.request("extend", source_id=source, characters=("char_x",)))
    with pytest.raises(NotFoundError):
        await provider.submit(sim.request("extend", source_id="sim_nope"))
    pending = await provider.submit(sim.request(seconds=1))
    with pytest.raises(InvalidStateError, match="completed"):
        await provider.submit(sim.request("extend", source_id=pending.id))
    chain = source
    for _ in range(6):
        chain = (await provider.submit(sim.request("extend", seconds=1, source_id=chain))).id
        clock.advance(10)
    with pytest.raises(InvalidRequestError, match="6 times"):
        await provider.submit(sim.request("extend", seconds=1, source_id=chain))


async def test_edit_of_a_job_opens_on_its_first_frame(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    source = await completed(provider, clock, sim, size="192x108", seconds=1)

    edit = await provider.submit(sim.request("edit", prompt="make it night", source_id=source))

    assert (edit.size, edit.seconds) == ("192x108", "1")
    clock.advance(10)
    await provider.retrieve(edit.id)
    a = sim.decode_frames(provider.store.media_files(source).video)
    b = sim.decode_frames(provider.store.media_files(edit.id).video)
    assert sim.mad(a[0], b[0]) < 3.0
    assert sim.mad(a[-1], b[-1]) > 5.0


async def test_edit_of_an_uploaded_clip(provider: SimulatorProvider, clock: Any, sim: Any) -> None:
    clip = SourceVideo(sim.make_mp4(seconds=2.0, size=(96, 64)))

    edit = await provider.submit(sim.request("edit", source_video=clip, size="1280x720", seconds=8))

    assert (edit.size, edit.seconds) == ("96x64", "2")
    clock.advance(10)
    await provider.retrieve(edit.id)
    frames = sim.decode_frames(provider.store.media_files(edit.id).video)
    assert len(frames) == 48
    assert sim.mad(frames[0], np.asarray(sim.picture(96, 64, seed=0))) < 8.0
    with pytest.raises(MediaError):
        await provider.submit(sim.request("edit", source_video=SourceVideo(b"garbage")))
    with pytest.raises(InvalidRequestError, match="video"):
        await provider.submit(sim.request("edit"))


async def test_reference_image_is_the_first_frame(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    image = sim.picture(160, 96, seed=2)
    reference = ReferenceImage(sim.png_bytes(image), "image/png", 160, 96)

    job_id = await completed(provider, clock, sim, reference=reference)

    frames = sim.decode_frames(provider.store.media_files(job_id).video)
    assert sim.mad(frames[0], np.asarray(image)) < 4.0
    wrong = ReferenceImage(sim.png_bytes(sim.picture(100, 100)), "image/png", 100, 100)
    with pytest.raises(InvalidRequestError, match="Inpaint image must match"):
        await provider.submit(sim.request(reference=wrong))
    with pytest.raises(ReferenceImageError):
        await provider.submit(sim.request(reference=ReferenceImage(b"nope", "image/png", 160, 96)))


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "1280x"}, "size"),
        ({"size": "161x96"}, "size"),
        ({"size": "0x96"}, "size"),
        ({"size": "8192x96"}, "size"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": 121}, "seconds"),
        ({"prompt": "  "}, "prompt"),
        ({"prompt": "x" * 32001}, "prompt"),
    ],
)
async def test_invalid_requests_are_refused(
    provider: SimulatorProvider, sim: Any, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(sim.request(**fields))
    assert caught.value.param == param
    assert provider.store.created_ids() == []


async def test_jobs_outlive_the_provider(make_provider: MakeProvider, clock: Any, sim: Any) -> None:
    job = await make_provider().submit(sim.request())
    clock.advance(10)

    other = make_provider()
    assert (await other.retrieve(job.id)).status == "completed"
    assert await fetch(other, job.id) == other.store.media_files(job.id).video.read_bytes()
    assert other.store.created_ids() == [job.id]


async def test_idempotent_submit_makes_one_job(make_provider: MakeProvider, sim: Any) -> None:
    one, two = make_provider(), make_provider()
    request = sim.request()

    jobs = await asyncio.gather(*(p.submit(request) for p in (one, two, one, two, one)))

    assert len({job.id for job in jobs}) == 1
    assert one.store.created_ids() == [jobs[0].id]
    assert len(list(one.store.jobs.glob("*.json"))) == 1, "the losers' records are discarded"
    again = await one.submit(sim.request())
    assert again.id != jobs[0].id and len(one.store.created_ids()) == 2


async def test_find_returns_the_job_of_a_key(provider: SimulatorProvider, sim: Any) -> None:
    request = sim.request()
    job = await provider.submit(request)

    found = await provider.find(request, since=0)

    assert found is not None and found.id == job.id
    assert await provider.find(sim.request(), since=0) is None
    assert await provider.find(request, since=0, exclude={job.id}) is None


async def test_a_lost_create_is_found_afterwards(make_provider: MakeProvider, sim: Any) -> None:
    provider = make_provider(faults="lost_create=1")
    request = sim.request()

    with pytest.raises(ProviderConnectionError):
        await provider.submit(request)

    assert len(provider.store.created_ids()) == 1
    found = await provider.find(request, since=0)
    assert found is not None and found.id == provider.store.created_ids()[0]
    with pytest.raises(ProviderConnectionError):
        await provider.submit(request)  # the retry's answer is lost too, but it makes no job
    assert len(provider.store.created_ids()) == 1


@pytest.mark.parametrize("operation", ["submit", "retrieve", "download", "find", "delete"])
async def test_transport_faults_raise_the_right_errors(
    make_provider: MakeProvider, clock: Any, sim: Any, operation: str
) -> None:
    job_id = await completed(make_provider(), clock, sim)
    request = sim.request()

    async def call(provider: SimulatorProvider) -> object:
        if operation == "submit":
            return await provider.submit(request)
        if operation == "retrieve":
            return await provider.retrieve(job_id)
        if operation == "download":
            return await fetch(provider, job_id)
        if operation == "find":
            return await provider.find(request, since=0)
        return await provider.delete(job_id)

    with pytest.raises(RateLimitedError) as limited:
        await call(make_provider(faults="rate_limit=1,retry_after=2.5"))
    assert (limited.value.retry_after, limited.value.status_code) == (2.5, 429)
    statuses = set()
    for seed in range(12):
        with pytest.raises(ProviderUnavailableError) as unavailable:
            await call(make_provider(faults="server_error=1", seed=seed))
        statuses.add(unavailable.value.status_code)
    assert statuses == {500, 503}
    with pytest.raises(ProviderConnectionError):
        await call(make_provider(faults="reset=1"))
    assert make_provider().store.created_ids() == [job_id], "no faulted call made a job"


async def test_a_reset_download_breaks_off_mid_stream(
    make_provider: MakeProvider, clock: Any, sim: Any
) -> None:
    job_id = await completed(make_provider(), clock, sim, size="640x360", seconds=2)
    received = bytearray()

    with pytest.raises(ProviderConnectionError):
        async with make_provider(faults="reset=1").download(job_id) as download:
            async for chunk in download.chunks:
                received += chunk

    assert 0 < len(received) < make_provider().store.media_files(job_id).video.stat().st_size


async def test_truncated_downloads_are_short_loudly_or_silently(
    make_provider: MakeProvider, clock: Any, sim: Any
) -> None:
    job_id = await completed(make_provider(), clock, sim, size="640x360", seconds=2)
    size = make_provider().store.media_files(job_id).video.stat().st_size
    provider = make_provider(faults="truncate=1", seed=3)
    announced = set()

    for _ in range(12):
        async with provider.download(job_id) as download:
            data = b"".join([chunk async for chunk in download.chunks])
        assert len(data) < size
        announced.add(download.expected_size)

    assert announced == {size, None}


async def test_the_moderation_marker_fails_the_job(
    provider: SimulatorProvider, clock: Any, sim: Any
) -> None:
    job = await provider.submit(sim.request(prompt=f"a cat {MODERATION_MARKER}"))

    clock.advance(4)
    assert (await provider.retrieve(job.id)).status == "in_progress"
    clock.advance(1)
    failed = await provider.retrieve(job.id)
    assert (failed.status, failed.error_code, failed.error_message) == (
        "failed",
        "moderation_blocked",
        MODERATION_MESSAGE,
    )
    with pytest.raises(InvalidStateError):
        await fetch(provider, job.id)
    with pytest.raises(InvalidStateError, match="completed"):
        await provider.submit(sim.request("remix", source_id=job.id))


async def test_moderation_faults_are_decided_at_creation(
    make_provider: MakeProvider, clock: Any, sim: Any
) -> None:
    provider = make_provider(faults="moderation=1")
    job = await provider.submit(sim.request())

    assert job.status == "queued"
    clock.advance(10)
    assert (await provider.retrieve(job.id)).error_code == "moderation_blocked"
    assert (await make_provider().retrieve(job.id)).status == "failed", "stored in the record"


async def test_characters(provider: SimulatorProvider, clock: Any, sim: Any) -> None:
    character = await provider.create_character("  Mochi ", SourceVideo(sim.make_mp4()))

    assert character.id.startswith("char_") and character.name == "Mochi"
    assert await provider.retrieve_character(character.id) == character
    job_id = await completed(
        provider, clock, sim, prompt="Mochi on a piano", characters=(character.id,)
    )
    assert provider.store.load_job(job_id).segments[0].characters == ("Mochi",)  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        await provider.retrieve_character("char_missing")
    with pytest.raises(NotFoundError):
        await provider.submit(sim.request(characters=("char_missing",)))
    with pytest.raises(InvalidRequestError, match="at most 2"):
        await provider.submit(sim.request(characters=(character.id,) * 3))
    with pytest.raises(InvalidRequestError, match="name"):
        await provider.create_character("x" * 81, SourceVideo(sim.make_mp4()))
    with pytest.raises(MediaError):
        await provider.create_character("Rex", SourceVideo(b"not a video"))


async def test_delete(provider: SimulatorProvider, clock: Any, sim: Any) -> None:
    job_id = await completed(provider, clock, sim)
    pending = await provider.submit(sim.request())

    await provider.delete(job_id)

    with pytest.raises(NotFoundError):
        await provider.retrieve(job_id)
    assert not provider.store.media_files(job_id).video.parent.exists()
    with pytest.raises(NotFoundError):
        await provider.delete(job_id)
    with pytest.raises(InvalidStateError):
        await provider.delete(pending.id)


async def test_settings_drive_render_time_curve_and_faults(tmp_path: Path, sim: Any) -> None:
    settings = get_settings(home=tmp_path, simulator_render_seconds=7.5, simulator_progress="stall")
    provider = SimulatorProvider(settings)

    assert provider.expected_render_seconds(sim.request()) == 7.5
    job = await provider.submit(sim.request())
    assert provider.store.load_job(job.id).progress_curve == "stall"  # type: ignore[union-attr]
    assert not provider.faults.plan.active
    with pytest.raises(ConfigurationError, match="SORAKIT_SIMULATOR_FAULTS"):
        SimulatorProvider(get_settings(home=tmp_path, simulator_faults="boom=1"))


async def test_real_time_lifecycle(tmp_path: Path, sim: Any) -> None:
    provider = SimulatorProvider(get_settings(home=tmp_path, simulator_render_seconds=0.4))
    job = await provider.submit(sim.request())

    seen = [job.status]
    while seen[-1] != "completed":
        await asyncio.sleep(0.05)
        seen.append((await provider.retrieve(job.id)).status)

    assert seen[0] == "queued" and "in_progress" in seen
    assert len(await fetch(provider, job.id)) > 0


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and flock are POSIX")
async def test_a_render_killed_midway_is_redone_by_another_process(
    sim_settings: Settings, make_provider: MakeProvider, clock: Any, sim: Any
) -> None:
    job = await make_provider().submit(sim.request(size="640x360", seconds=8))
    clock.advance(10)
    script = textwrap.dedent(
        f"""
        import asyncio
        from sorakit.providers.simulator import SimulatorProvider
        from sorakit.settings import get_settings
        settings = get_settings(home={str(sim_settings.home)!r})
        provider = SimulatorProvider(settings, clock=lambda: {clock.now})
        asyncio.run(provider.retrieve({job.id!r}))
        """
    )
    media = make_provider().store.media_files(job.id).video.parent
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not list(media.glob("*.part")):  # the render has begun writing
            assert child.poll() is None and time.monotonic() < deadline
            await asyncio.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    provider = make_provider()
    assert not provider.store.media_files(job.id).complete(), "killed before it finished"

    assert (await provider.retrieve(job.id)).status == "completed"
    frames = sim.decode_frames(provider.store.media_files(job.id).video)
    assert len(frames) == 192
    names = sorted(p.name for p in media.iterdir())
    assert names == ["spritesheet.jpg", "thumbnail.webp", "video.mp4"], "no dead temp file"
