"""Last frames and reference images: planned, archived with the job, and sent after a restart."""

from __future__ import annotations

import io

import anyio
import pytest
from PIL import Image

from sorakit.catalog import Catalog, ModelCapabilities, ModelEntry
from sorakit.engine import Engine
from sorakit.errors import InvalidRequestError, ReferenceImageError
from sorakit.ledger import JobStatus
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings
from tests.conftest import FakeProvider

FRAMES = ModelEntry(
    name="frames-1",
    provider="fake",
    provider_model="frames-1",
    capabilities=ModelCapabilities(
        sizes=("1280x720", "720x1280"),
        seconds=(4, 8),
        default_size="1280x720",
        default_seconds=4,
        last_frame=True,
        reference_images=2,
    ),
)
PLAIN = ModelEntry(
    name="plain-1",
    provider="fake",
    provider_model="plain-1",
    capabilities=ModelCapabilities(
        sizes=("1280x720",), seconds=(4,), default_size="1280x720", default_seconds=4
    ),
)


def png(size: tuple[int, int], color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


async def engine_for(settings: Settings, fake: FakeProvider) -> Engine:
    engine = await Engine.open(settings, providers={"fake": fake})
    engine.catalog = Catalog([FRAMES, PLAIN])
    return engine


async def test_last_frame_and_references_reach_the_provider_after_a_restart(
    settings: Settings,
) -> None:
    fake = FakeProvider(steps=1)
    async with await engine_for(settings, fake) as engine:
        job = await engine.create(
            "from red to blue",
            model="frames-1",
            reference=png((640, 360), "red"),
            last_frame=png((1920, 1080), "blue"),
            reference_images=[png((300, 500), "green"), png((4000, 1000), "white")],
            submit=False,
        )
    assert set(job.assets) == {
        "reference",
        "last_frame",
        "reference_image_1",
        "reference_image_2",
    }
    assert "last frame image -> 1280x720 (crop)" in job.options["changes"]
    async with await engine_for(settings, fake) as engine:  # a new process finds them on disk
        done = await engine.wait(job.id)
    assert done.status is JobStatus.COMPLETED
    (request,) = fake.requests
    assert request.reference is not None and request.last_frame is not None
    assert (request.last_frame.width, request.last_frame.height) == (1280, 720)
    with Image.open(io.BytesIO(request.last_frame.data)) as image:
        assert image.getpixel((640, 360)) == (0, 0, 255)
    sizes = [(image.width, image.height) for image in request.reference_images]
    assert sizes == [(300, 500), (2048, 512)]  # kept as they are, only capped
    with Image.open(io.BytesIO(request.reference_images[0].data)) as image:
        assert image.size == (300, 500) and image.getpixel((10, 10)) == (0, 128, 0)
    assert request.callback_url is None  # no public URL configured


async def test_models_without_them_refuse_them(settings: Settings) -> None:
    fake = FakeProvider()
    async with await engine_for(settings, fake) as engine:
        with pytest.raises(InvalidRequestError, match="plain-1 does not take a last frame") as e:
            await engine.create("x", model="plain-1", last_frame=png((1280, 720), "red"))
        assert e.value.param == "last_frame"
        with pytest.raises(InvalidRequestError, match="takes no reference images"):
            await engine.create("x", model="plain-1", reference_images=[png((9, 9), "red")])
        with pytest.raises(InvalidRequestError, match="at most 2 reference images; got 3"):
            await engine.create("x", model="frames-1", reference_images=[png((9, 9), "red")] * 3)
        with pytest.raises(ReferenceImageError) as bad:
            await engine.create("x", model="frames-1", reference_images=[b"not an image"])
        assert bad.value.param == "reference_images[0]"
        with pytest.raises(ReferenceImageError, match="must match") as wrong_size:
            await engine.create("x", model="frames-1", last_frame=png((640, 360), "red"), fit=None)
        assert wrong_size.value.param == "last_frame"
        assert await engine.ledger.unfinished() == []  # nothing was recorded
    assert fake.requests == []


async def test_a_public_url_gives_each_job_a_signed_callback_that_wakes_its_tracker(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"public_url": "https://videos.example.com/"})
    fake = FakeProvider(steps=1)
    fake.expected_render_seconds = lambda request: 3600.0  # type: ignore[method-assign]
    async with await engine_for(settings, fake) as engine:
        job = await engine.create("wake me", model="frames-1")
        (request,) = fake.requests
        assert request.callback_url is not None
        prefix = f"https://videos.example.com/callbacks/{job.id}?token="
        assert request.callback_url.startswith(prefix)
        assert engine.callbacks is not None
        token = request.callback_url.removeprefix(prefix)
        assert engine.callbacks.verify(job.id, token)
        assert not engine.callbacks.verify(job.id, "0" * len(token))
        assert not engine.callbacks.verify("video_other", token)

        finished = anyio.Event()

        async def track() -> None:
            await engine.wait(job.id)
            finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(track)
            # An hour-long render is first checked minutes from now; the callback cuts that short.
            with anyio.fail_after(10):
                while not engine.runner.wake(job.id):
                    await anyio.sleep(0.01)
                await finished.wait()
        assert (await engine.get(job.id)).status is JobStatus.COMPLETED
    # The key is kept: a restarted server signs and checks the same URLs.
    async with await engine_for(settings, fake) as engine:
        assert engine.callbacks is not None and engine.callbacks.verify(job.id, token)


def test_no_public_url_means_no_signer(settings: Settings) -> None:
    pool = ProviderPool(settings)
    engine = Engine(settings, ledger=None, providers=pool)  # type: ignore[arg-type]
    assert engine.callbacks is None and engine.runner.wake("video_x") is False
