"""Images through the chat facade, by the official `openai` SDK against a real server on loopback:
image models (and sora2api's `gpt-image*` names) as chat models, a picture asked of a video
model, "animate it" after an image answer, and the gatekeeping `/v1/images` has."""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionUserMessageParam
from PIL import Image

from sorakit.server.routes import chat
from sorakit.server.routes.videos import data_url
from sorakit.settings import Settings
from tests.gateway.test_tenants import client, make_key

Serve = Callable[..., AbstractContextManager[str]]
IMAGE_ID = re.compile(r"img_[0-9a-f]{32}")
VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\((http://[^)\s]+)\)")


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return settings.model_copy(update={"simulator_render_seconds": 0.2})


@contextmanager
def api(serve: Serve, settings: Settings) -> Iterator[str]:
    with serve(settings) as url:
        yield f"{url}/v1"


def say(sdk: openai.OpenAI, messages: list[Any], model: str, n: int = 1) -> str:
    answer = sdk.chat.completions.create(model=model, messages=messages, n=n)
    assert answer.choices[0].finish_reason == "stop"
    text = answer.choices[0].message.content
    assert text is not None
    return text


def user(content: Any) -> ChatCompletionUserMessageParam:
    return {"role": "user", "content": content}


def png(size: tuple[int, int] = (320, 180), color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def picture(link: str) -> Image.Image:
    """The image behind a signed link, fetched with no key at all."""
    got = httpx.get(link)
    assert got.status_code == 200, got.text
    image = Image.open(io.BytesIO(got.content))
    image.load()
    return image


def rows(settings: Settings) -> list[tuple[str, str, str, float | None]]:
    with sqlite3.connect(settings.home / "sorakit.db") as db:
        return db.execute("select id, kind, status, cost from jobs order by created_at").fetchall()


def test_a_gpt_image_name_draws_the_words_behind_a_signed_link(
    serve: Serve, quick: Settings
) -> None:
    alice, bob = make_key(quick, "alice"), make_key(quick, "bob")
    with api(serve, quick) as url:
        sdk = client(url, alice)
        text = say(sdk, [user("a red fox in the snow")], "gpt-image-1")
        (image_id,) = set(IMAGE_ID.findall(text))
        assert text.startswith(f"Creating image {image_id} with gpt-image-1: 1024x1024.")
        assert "1024x1024, gpt-image-1's default size" in text  # the size nobody asked for
        (link,) = IMAGE_LINK.findall(text)
        drawn = picture(link)
        assert (drawn.format, drawn.size) == ("PNG", (1024, 1024))
        assert rows(quick) == [(image_id, "image", "completed", 0.0)]  # sim-image costs nothing
        assert sdk.videos.list().data == []
        mine = httpx.get(f"{url}/images/{image_id}", headers={"authorization": f"Bearer {alice}"})
        assert mine.status_code == 200 and mine.json()["prompt"] == "a red fox in the snow"
        for path in (f"/images/{image_id}", f"/images/{image_id}/content"):
            theirs = httpx.get(f"{url}{path}", headers={"authorization": f"Bearer {bob}"})
            assert theirs.status_code == 404 and theirs.json()["error"]["param"] == "image_id"
        forged = httpx.get(link[:-4] + ("0000" if not link.endswith("0000") else "1111"))
        assert forged.status_code == 403

        # sora2api's own names: the settings' image model at the name's shape.
        wide = say(sdk, [user("a harbour at dawn")], "gpt-image-landscape")
        assert "with gpt-image-1:" in wide
        width, height = picture(IMAGE_LINK.findall(wide)[0]).size
        assert width > height and f"{width}x{height}" in wide
        models = {m.id for m in sdk.models.list()}
        assert {"gpt-image", "gpt-image-portrait", "gpt-image-1", "sim-image"} <= models


def test_an_image_in_the_message_is_edited_and_n_makes_several(
    serve: Serve, quick: Settings
) -> None:
    with api(serve, quick) as url:
        sdk = client(url, make_key(quick, "alice"))
        parts = [
            {"type": "text", "text": "make the sky purple"},
            {"type": "image_url", "image_url": {"url": data_url(png(), "image/png")}},
        ]
        text = say(sdk, [user(parts)], "gpt-image")
        (image_id,) = set(IMAGE_ID.findall(text))
        assert "An edit of the image in this message." in text
        assert list((quick.assets_dir / image_id).glob("reference_image_1*"))
        assert picture(IMAGE_LINK.findall(text)[0]).size == (1024, 1024)  # gpt-image: square

        two = say(sdk, [user("a vertical poster of a jazz night")], "gpt-image-1", n=2)
        ids = list(dict.fromkeys(IMAGE_ID.findall(two)))
        assert len(ids) == 2 and two.startswith(f"Creating 2 images {ids[0]}, {ids[1]} with ")
        links = IMAGE_LINK.findall(two)
        assert len(links) == 2 and "Your 2 images are ready" in two
        for link in links:
            width, height = picture(link).size
            assert height > width  # "vertical", snapped to the model's portrait size
        assert [kind for _, kind, _, _ in rows(quick)] == ["image"] * 3


def test_streamed_with_progress_then_the_image(serve: Serve, settings: Settings) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 1.0})
    with api(serve, slow) as url:
        sdk = client(url, "anything")
        chunks = list(
            sdk.chat.completions.create(
                model="gpt-image-portrait",
                messages=[user("a lighthouse in a storm")],
                stream=True,
            )
        )
        assert chunks[0].choices[0].delta.role == "assistant"
        assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert text.startswith("Creating image img_") and "Image: " in text
        (link,) = IMAGE_LINK.findall(text)
        width, height = picture(link).size
        assert height > width
        raw = httpx.post(
            f"{url}/chat/completions",
            json={"model": "sim-image", "stream": True, "messages": [user("a kite")]},
            timeout=30,
        )
        states = [line for line in raw.text.splitlines() if '"sorakit"' in line]
        assert states and '"kind": "image"' in states[-1] and '"progress": 100' in states[-1]
        assert raw.text.rstrip().endswith("data: [DONE]")


def test_budgets_and_allow_lists_refuse_in_the_envelope_before_anything_is_made(
    serve: Serve, quick: Settings
) -> None:
    videos_only = make_key(quick, "videos-only", models=["sora-2"])
    budgeted = quick.model_copy(update={"budget_usd": 0.05})
    with api(serve, budgeted) as url:
        sdk = client(url, videos_only)
        with pytest.raises(openai.PermissionDeniedError):
            say(sdk, [user("a castle")], "gpt-image-1")
        with pytest.raises(openai.PermissionDeniedError):  # the image model is not the key's
            say(sdk, [user("draw a picture of a castle")], "sora-2")
        with pytest.raises(openai.PermissionDeniedError):
            sdk.chat.completions.create(model="gpt-image", messages=[user("a castle")], stream=True)
        assert "gpt-image-1" not in {m.id for m in sdk.models.list()}
        admin = make_key(quick, "admin", admin=True)
        priced = httpx.put(
            f"{url.removesuffix('/v1')}/admin/prices/sim-image",
            json={"usd_per_image": 0.04},
            headers={"authorization": f"Bearer {admin}"},
        )
        assert priced.status_code == 200, priced.text
        with pytest.raises(openai.BadRequestError) as over:
            say(client(url, admin), [user("a harbour")], "gpt-image-1", n=2)
        assert over.value.code == "budget_exceeded"
        with pytest.raises(openai.BadRequestError):
            client(url, admin).chat.completions.create(
                model="gpt-image-1", messages=[user("a harbour")], n=2, stream=True
            )
        assert rows(budgeted) == []
        say(client(url, admin), [user("a harbour")], "gpt-image-1")
    assert [(kind, cost) for _, kind, _, cost in rows(budgeted)] == [("image", 0.04)]


def test_a_picture_asked_of_a_video_model_then_animate_it(serve: Serve, quick: Settings) -> None:
    alice, bob = make_key(quick, "alice"), make_key(quick, "bob")
    with api(serve, quick) as url:
        sdk = client(url, alice)
        asked = [user("draw a picture of a lighthouse at night")]
        drawn = say(sdk, asked, "sora-2")
        (image_id,) = set(IMAGE_ID.findall(drawn))
        assert drawn.startswith(f"Creating image {image_id} with gpt-image-1: 1024x1024.")
        assert "Made with gpt-image-1, sorakit's image model: sora-2 makes videos." in drawn
        assert sdk.videos.list().data == [] and IMAGE_LINK.findall(drawn)

        history = [*asked, {"role": "assistant", "content": drawn}]
        animated = say(sdk, [*history, user("animate it")], "sora-2")
        video_id = VIDEO_ID.search(animated)
        assert video_id, animated
        assert f"Starting from image {image_id}, made earlier in this conversation." in animated
        assert list((quick.assets_dir / video_id.group(0)).glob("reference.*"))

        fresh = say(sdk, [*history, user("a video of a dog on a beach")], "sora-2")
        fresh_id = VIDEO_ID.search(fresh)
        assert fresh_id and image_id not in fresh  # not asked for: not used
        assert not list((quick.assets_dir / fresh_id.group(0)).glob("reference.*"))

        edited = say(sdk, [*history, user("make it snowy")], "gpt-image-1")
        assert f"An edit of {image_id}." in edited and IMAGE_LINK.findall(edited)

        # Another key sending alice's answer back cannot start from her image.
        with pytest.raises(openai.NotFoundError):
            say(client(url, bob), [*history, user("animate it")], "sora-2")
        assert client(url, bob).videos.list().data == []


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-image-1", "messages": [user("")]},
        {"model": "gpt-image-1", "messages": [user("[4s] a cat [4s] a dog")]},
        {"model": "gpt-image-1", "messages": [user("a cat")], "n": 0},
        {"model": "gpt-image-1", "messages": [user("a cat")], "n": "two"},
        {"model": "gpt-image-1", "messages": [user([{"type": "image_url", "image_url": {}}])]},
        {"model": "gpt-image-square", "messages": [user("a cat")]},
        {"model": "gpt-image", "messages": "a cat"},
        {
            "model": "gpt-image",
            "messages": [
                user(
                    [
                        {"type": "text", "text": "edit"},
                        {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}},
                    ]
                )
            ],
        },
        {
            "model": "gpt-image",
            "messages": [
                user(
                    [
                        {"type": "text", "text": "edit"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}},
                    ]
                )
            ],
        },
        {
            "model": "sora-2",
            "messages": [
                {"role": "assistant", "content": f"Creating image img_{'0' * 32} with x: 1x1."},
                user("animate it"),
            ],
        },
    ],
)
def test_bad_image_requests_are_refused_in_the_envelope(
    serve: Serve, quick: Settings, body: dict[str, Any]
) -> None:
    with api(serve, quick) as url:
        for stream in (False, True):
            answer = httpx.post(f"{url}/chat/completions", json={**body, "stream": stream})
            assert 400 <= answer.status_code < 500, answer.text
            assert answer.json()["error"]["message"]
        assert rows(quick) == []


def test_a_failed_image_is_an_error_not_a_link(serve: Serve, quick: Settings) -> None:
    with api(serve, quick) as url:
        sdk = client(url, "anything")
        with pytest.raises(openai.APIError) as failed:
            say(sdk, [user("a fight [[moderation_blocked]]")], "gpt-image-1")
        assert "moderation" in str(failed.value).lower()
        stream = sdk.chat.completions.create(
            model="gpt-image", messages=[user("again [[moderation_blocked]]")], stream=True
        )
        seen: list[object] = []
        with pytest.raises(openai.APIError):
            seen.extend(stream)
        assert seen  # the intro went out before the image failed
        assert {status for _, _, status, _ in rows(quick)} == {"failed"}
