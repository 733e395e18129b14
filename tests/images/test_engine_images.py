"""Image jobs through the engine: planning refusals, ledger rows, budgets, idempotency, resume."""

from __future__ import annotations

import io
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sorakit.catalog import Catalog, build_catalog
from sorakit.engine import Engine
from sorakit.engine.engine import Owner
from sorakit.errors import BudgetExceededError, InvalidRequestError, ReferenceImageError
from sorakit.ledger import JobStatus
from sorakit.settings import Settings, get_settings
from tests.images.conftest import decode, image_bytes, left_half_mask


def reprice(engine: Engine, usd: float) -> None:
    """Give sim-image a price per image (in this engine's catalog only)."""
    entries = []
    for entry in engine.catalog:
        if entry.name == "sim-image":
            caps = entry.capabilities
            prices = dict.fromkeys(caps.price_per_image, usd)
            entry = replace(entry, capabilities=replace(caps, price_per_image=prices))
        entries.append(entry)
    engine.catalog = Catalog(entries)


def creates(settings: Settings) -> list[str]:
    log = settings.simulator_dir / "creates.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
async def engine(settings: Settings) -> Engine:
    async with await Engine.open(settings) as opened:
        yield opened  # type: ignore[misc]


async def test_n_images_are_n_ledger_jobs_of_kind_image(engine: Engine, settings: Settings) -> None:
    jobs = await engine.create_image("a lighthouse at dusk", n=3, size="1536x1024")
    assert len({job.id for job in jobs}) == 3
    assert all(job.id.startswith("img_") and len(job.id) == 36 for job in jobs)
    done = await engine.wait_images(jobs, timeout=60)
    for job in done:
        assert (job.kind, job.status, job.seconds, job.size) == (
            "image",
            JobStatus.COMPLETED,
            0,
            "1536x1024",
        )
        assert job.model == "gpt-image-1" and job.provider_model == "sim-image"
        picture = decode(Path(job.assets["image"].path).read_bytes())
        assert (picture.format, picture.size) == ("PNG", (1536, 1024))
        assert job.assets["image"].media_type == "image/png"
        assert "thumbnail" not in job.assets and "video" not in job.assets
    with sqlite3.connect(settings.home / "sorakit.db") as db:
        kinds = db.execute("select kind, count(*) from jobs group by kind").fetchall()
    assert kinds == [("image", 3)]
    assert len(creates(settings)) == 3


async def test_one_prompt_paints_one_picture_and_formats_differ(engine: Engine) -> None:
    first = await engine.wait_images(await engine.create_image("a red kite", size="512x512"))
    again = await engine.wait_images(await engine.create_image("a red kite", size="512x512"))
    other = await engine.wait_images(await engine.create_image("a blue boat", size="512x512"))
    pixels = [
        decode(Path(job.assets["image"].path).read_bytes()).convert("RGB").tobytes()
        for job in (first[0], again[0], other[0])
    ]
    assert pixels[0] == pixels[1] and pixels[0] != pixels[2]
    for fmt, pil in (("jpeg", "JPEG"), ("webp", "WEBP")):
        [job] = await engine.wait_images(
            await engine.create_image("a red kite", size="1024x1536", output_format=fmt)
        )
        picture = decode(Path(job.assets["image"].path).read_bytes())
        assert (picture.format, picture.size) == (pil, (1024, 1536))
        assert job.assets["image"].media_type == f"image/{fmt}"


async def test_an_edit_keeps_what_the_mask_keeps(engine: Engine) -> None:
    source = image_bytes((640, 480), "blue")
    [job] = await engine.wait_images(
        await engine.create_image(
            "a cat on the left",
            model="gpt-image-1",
            images=[source],
            mask=left_half_mask((640, 480)),
            size="1024x1024",
        )
    )
    picture = decode(Path(job.assets["image"].path).read_bytes()).convert("RGB")
    assert picture.size == (1024, 1024)
    # The source is cropped to a square (its middle 480x480): the mask's opaque half is the
    # right part of that square, kept pixel for pixel; the left part is repainted.
    assert picture.getpixel((1000, 300)) == (0, 0, 255)
    assert picture.getpixel((20, 300)) != (0, 0, 255)
    assert "mask" in job.assets and "reference_image_1" in job.assets


@pytest.mark.parametrize(
    ("kwargs", "param", "words"),
    [
        ({"size": "999x999"}, "size", "sim-image allows"),
        ({"n": 0}, "n", "from 1 to 10"),
        ({"n": 11}, "n", "from 1 to 10"),
        ({"output_format": "gif"}, "output_format", "'png', 'jpeg' or 'webp'"),
        ({"model": "sora-2"}, "model", "sora-2 makes videos: use /v1/videos"),
        ({"images": [b"not an image"]}, "image", "not a readable image"),
        ({"images": [image_bytes(fmt="GIF")]}, "image", "send a PNG, JPEG or WebP"),
        ({"mask": left_half_mask()}, "mask", "needs an image"),
        (
            {"images": [image_bytes((640, 480))], "mask": left_half_mask((320, 240))},
            "mask",
            "it must be the size of the first image",
        ),
        (
            {"images": [image_bytes((640, 480))], "mask": image_bytes((640, 480))},
            "mask",
            "no alpha channel",
        ),
        ({"images": [image_bytes()] * 5}, "image", "at most 4 input images"),
    ],
)
async def test_bad_requests_are_refused_before_any_row(
    engine: Engine, settings: Settings, kwargs: dict[str, object], param: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await engine.create_image("a harbour", **kwargs)  # type: ignore[arg-type]
    assert caught.value.param == param and words in str(caught.value)
    assert (await engine.ledger.list_jobs())[0] == [] and creates(settings) == []


async def test_a_video_create_naming_an_image_model_names_the_image_endpoint(
    engine: Engine,
) -> None:
    for name in ("sim-image", "gpt-image-1", "dall-e-3"):
        with pytest.raises(InvalidRequestError, match=rf"{name} makes images: use /v1/images"):
            await engine.create("a harbour", model=name)


async def test_an_image_is_no_source_for_a_remix(engine: Engine) -> None:
    [job] = await engine.wait_images(await engine.create_image("a harbour", size="512x512"))
    with pytest.raises(Exception, match="it is an image"):
        await engine.remix(job.id, "at night")


async def test_a_budget_refuses_the_whole_request_with_nothing_sent(tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path / "h", simulator_render_seconds=0.2, budget_usd=1.0)
    async with await Engine.open(settings) as engine:
        reprice(engine, 0.4)  # two images fit in $1, three do not
        with pytest.raises(BudgetExceededError):
            await engine.create_image("a harbour", n=3)
        assert (await engine.ledger.list_jobs())[0] == [] and creates(settings) == []
        assert not any((settings.assets_dir).glob("img_*"))
        jobs = await engine.create_image("a harbour", n=2)
        assert [job.estimated_cost for job in jobs] == [0.4, 0.4]
        await engine.wait_images(jobs)


async def test_an_owner_budget_counts_images(tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path / "h", simulator_render_seconds=0.2)
    async with await Engine.open(settings) as engine:
        reprice(engine, 0.3)
        key, _ = await engine.ledger.create_key("tenant", budget_usd=0.5)
        owner = Owner(key.id, key.budget_usd)
        [job] = await engine.create_image("one", owner=owner)
        assert job.owner == key.id
        with pytest.raises(BudgetExceededError):
            await engine.create_image("two", owner=owner)
        await engine.wait_images([job])


async def test_a_retried_client_key_pays_nothing_twice(engine: Engine, settings: Settings) -> None:
    first = await engine.create_image("a harbour", n=2, client_key="retry-me")
    again = await engine.create_image("a harbour", n=2, client_key="retry-me")
    assert [job.id for job in again] == [job.id for job in first]
    await engine.wait_images(first)
    assert len(creates(settings)) == 2


async def test_rows_left_unsent_or_unfinished_are_resumed_once(tmp_path: Path) -> None:
    """A crash after the rows were written (nothing sent), or while rendering: resume ends both."""
    settings = get_settings(home=tmp_path / "h", simulator_render_seconds=0.5)
    async with await Engine.open(settings) as engine:
        unsent = await engine.create_image("never sent", n=2, submit=False)
        rendering = await engine.create_image(
            "sent", images=[image_bytes()], mask=left_half_mask(), output_format="webp"
        )
        assert all(job.remote_id is None for job in unsent)
        assert rendering[0].remote_id is not None
    # A new process on the same ledger (the first one "died" without tracking anything).
    async with await Engine.open(settings) as engine:
        finished = await engine.resume()
        assert {job.id for job in finished} == {job.id for job in [*unsent, *rendering]}
        assert all(job.status is JobStatus.COMPLETED for job in finished)
        edited = await engine.get(rendering[0].id)
        assert decode(Path(edited.assets["image"].path).read_bytes()).format == "WEBP"
    assert len(creates(settings)) == 3


def test_offline_the_openai_image_names_are_sim_image(settings: Settings) -> None:
    catalog = build_catalog(settings)
    for name in ("gpt-image-1", "gpt-image-1-mini", "dall-e-3"):
        assert catalog.resolve(name).name == "sim-image"
    assert all(entry.capabilities.output == "video" for entry in catalog.videos())
    assert "sim-image" not in {entry.name for entry in catalog.videos()}
    assert catalog.resolve("sim-image").capabilities.price("1024x1024", 0) == 0.0


def test_a_real_gpt_image_1_entry_takes_its_name_from_sim_image(tmp_path: Path) -> None:
    settings = get_settings(
        home=tmp_path / "h", openai_base_url="http://127.0.0.1:9/v1", openai_api_key="sk-test"
    )
    catalog = build_catalog(settings)
    assert catalog.resolve("gpt-image-1").provider == "openai"
    assert "gpt-image-1" not in catalog.resolve("sim-image").aliases


def test_a_pillow_image_is_an_input_too(tmp_path: Path) -> None:
    from sorakit.engine.images import load_input

    picture = Image.new("RGBA", (300, 200), (10, 20, 30, 128))
    loaded = load_input(picture, "image")
    assert (loaded.width, loaded.height, loaded.media_type) == (300, 200, "image/png")
    assert Image.open(io.BytesIO(loaded.data)).mode == "RGBA"
    with pytest.raises(ReferenceImageError):
        load_input(str(tmp_path / "missing.png"), "image")


def test_an_image_model_is_priced_per_image(settings: Settings) -> None:
    from sorakit.catalog.overrides import PriceOverride

    catalog = build_catalog(settings)
    entry = catalog.resolve("sim-image")
    price = PriceOverride.parse({"usd_per_image": {"512x512": 0.01}}, entry)
    repriced = price.apply(entry.capabilities)
    assert (repriced.price("512x512", 0), repriced.price("1024x1024", 0)) == (0.01, 0.0)
    assert PriceOverride.parse(price.to_json(), entry) == price  # as stored, read back
    with pytest.raises(InvalidRequestError, match="price it with 'usd_per_image'"):
        PriceOverride.parse({"usd_per_second": 0.1}, entry)
    with pytest.raises(InvalidRequestError, match="sim-image has no size"):
        PriceOverride.parse({"usd_per_image": {"7x7": 0.1}}, entry)
    with pytest.raises(InvalidRequestError, match="makes videos"):
        PriceOverride.parse({"usd_per_image": 0.1}, catalog.resolve("sora-2"))
