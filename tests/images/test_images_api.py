"""The Images API through the official `openai` SDK against a real `sorakit serve` on loopback."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import openai
import pytest

from sorakit.settings import Settings
from tests.gateway.test_tenants import make_key
from tests.images.conftest import decode, image_bytes, left_half_mask

Serve = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def server(settings: Settings, serve: Serve) -> Iterator[str]:
    with serve(settings) as url:
        yield url


def sdk(url: str, key: str = "any-token-works") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def ledger_rows(settings: Settings) -> list[tuple[str, str, float | None]]:
    with sqlite3.connect(settings.home / "sorakit.db") as db:
        return db.execute(
            "select id, kind, estimated_cost from jobs order by created_at"
        ).fetchall()


def test_generate_b64_two_images_are_two_jobs(server: str, settings: Settings) -> None:
    with sdk(server) as client:
        answer = client.images.generate(
            prompt="a lighthouse at dusk", model="gpt-image-1", n=2, size="1536x1024"
        )
    assert len(answer.data) == 2 and answer.size == "1536x1024"
    assert answer.output_format == "png" and answer.created > 0
    for item in answer.data:
        assert item.url is None and item.b64_json
        picture = decode(base64.b64decode(item.b64_json))
        assert (picture.format, picture.size) == ("PNG", (1536, 1024))
    rows = ledger_rows(settings)
    assert [(kind, cost) for _, kind, cost in rows] == [("image", 0.0), ("image", 0.0)]
    assert all(job_id.startswith("img_") for job_id, _, _ in rows)


def test_generate_url_links_to_the_image_without_a_key(server: str) -> None:
    with sdk(server) as client:
        answer = client.images.generate(
            prompt="a red kite", response_format="url", output_format="webp", size="auto"
        )
    [item] = answer.data
    assert item.b64_json is None and item.url and "signature=" in item.url
    fetched = httpx.get(item.url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/webp"
    picture = decode(fetched.content)
    assert (picture.format, picture.size) == ("WEBP", (1024, 1024))
    forged = httpx.get(item.url.replace("signature=", "signature=0"))
    assert forged.status_code == 403 and forged.json()["error"]["param"] == "signature"


def test_edit_with_a_mask_keeps_the_masked_half(server: str) -> None:
    with sdk(server) as client:
        answer = client.images.edit(
            image=("photo.png", image_bytes((640, 480), "blue"), "image/png"),
            mask=("mask.png", left_half_mask((640, 480)), "image/png"),
            prompt="a cat on the left",
            size="1024x1024",
            output_format="jpeg",
        )
    [item] = answer.data
    picture = decode(base64.b64decode(item.b64_json or ""))
    assert (picture.format, picture.size) == ("JPEG", (1024, 1024))
    kept = picture.convert("RGB").getpixel((1000, 300))
    assert kept[2] > 200 and kept[0] < 40  # blue, through JPEG
    assert picture.convert("RGB").getpixel((20, 300))[2] < 200


def test_edit_takes_several_images(server: str) -> None:
    with sdk(server) as client:
        answer = client.images.edit(
            image=[
                ("a.png", image_bytes((300, 300), "red"), "image/png"),
                ("b.jpg", image_bytes((200, 100), "green", "JPEG"), "image/jpeg"),
            ],
            prompt="the two together",
            size="512x512",
        )
    assert decode(base64.b64decode(answer.data[0].b64_json or "")).size == (512, 512)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"size": "999x999"}, "size"),
        ({"n": 0}, "n"),
        ({"n": 11}, "n"),
        ({"model": "no-such-model"}, "model"),
        ({"model": "sora-2"}, "model"),
        ({"output_format": "gif"}, "output_format"),
        ({"quality": "ultra"}, "quality"),
        ({"response_format": "file"}, "response_format"),
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"output_compression": 101}, "output_compression"),
        ({"frame_count": 4}, "frame_count"),
        ({"stream": True}, "stream"),
    ],
)
def test_bad_generations_are_clear_400s(server: str, kwargs: dict[str, object], param: str) -> None:
    with sdk(server) as client, pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(prompt="a harbour", **kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert error.status_code in (400, 404), error.response.text
    assert error.response.json()["error"]["param"] == param
    if kwargs.get("model") == "sora-2":
        assert "sora-2 makes videos: use /v1/videos" in error.response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("files", "param"),
    [
        ({"image": ("x.png", b"not an image", "image/png")}, "image"),
        ({"image": ("x.gif", image_bytes(fmt="GIF"), "image/gif")}, "image"),
        (
            {
                "image": ("x.png", image_bytes((640, 480)), "image/png"),
                "mask": ("m.png", left_half_mask((100, 100)), "image/png"),
            },
            "mask",
        ),
        (
            {
                "image": ("x.png", image_bytes((640, 480)), "image/png"),
                "mask": ("m.jpg", image_bytes((640, 480), fmt="JPEG"), "image/jpeg"),
            },
            "mask",
        ),
        ({}, "image"),
    ],
)
def test_bad_edits_are_clear_400s(server: str, files: dict[str, object], param: str) -> None:
    answer = httpx.post(
        f"{server}/v1/images/edits",
        data={"prompt": "a harbour"},
        files=files or {"unused": ("u.txt", b"x", "text/plain")},
    )
    if not files:
        assert answer.json()["error"]["param"] == "unused"
        answer = httpx.post(f"{server}/v1/images/edits", data={"prompt": "a harbour"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


def test_images_and_videos_stay_apart(server: str, settings: Settings) -> None:
    with sdk(server) as client:
        answer = client.images.generate(prompt="a harbour", size="512x512")
        [image_id] = [row[0] for row in ledger_rows(settings)]
        with pytest.raises(openai.BadRequestError, match="makes images: use /v1/images"):
            client.videos.create(prompt="a harbour", model="gpt-image-1")
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(image_id)
        assert client.videos.list().data == []
        models = {model.id for model in client.models.list()}
    assert {"sim-image", "gpt-image-1", "sora-2"} <= models
    assert answer.data[0].b64_json
    job = httpx.get(f"{server}/v1/images/{image_id}").json()
    assert (job["object"], job["status"], job["size"]) == ("image", "completed", "512x512")
    content = httpx.get(f"{server}/v1/images/{image_id}/content")
    assert content.status_code == 200 and decode(content.content).format == "PNG"


def test_another_tenant_cannot_see_your_image(settings: Settings, serve: Serve) -> None:
    mine, theirs = make_key(settings, "me"), make_key(settings, "them")
    with serve(settings) as url:
        with sdk(url, mine) as client:
            client.images.generate(prompt="my harbour", size="512x512")
        [image_id] = [row[0] for row in ledger_rows(settings)]
        for path in (f"/v1/images/{image_id}", f"/v1/images/{image_id}/content"):
            own = httpx.get(url + path, headers={"authorization": f"Bearer {mine}"})
            other = httpx.get(url + path, headers={"authorization": f"Bearer {theirs}"})
            nobody = httpx.get(url + path)
            assert own.status_code == 200
            assert other.status_code == 404 and other.json()["error"]["param"] == "image_id"
            assert nobody.status_code == 401


def test_budgets_and_model_allow_lists_hold_for_images(settings: Settings, serve: Serve) -> None:
    budgeted = settings.model_copy(update={"budget_usd": 0.05})
    open_key = make_key(settings, "videos-only", models=["sora-2"])
    with (
        serve(budgeted) as url,
        sdk(url, open_key) as client,
        pytest.raises(openai.PermissionDeniedError),
    ):
        client.images.generate(prompt="a harbour")
    # sim-image costs nothing, so an admin price makes the budget bite.
    priced = budgeted.model_copy(update={"aliases": {}})
    with serve(priced) as url:
        admin = make_key(priced, "admin", admin=True)
        headers = {"authorization": f"Bearer {admin}"}
        set_price = httpx.put(
            f"{url}/admin/prices/sim-image", json={"usd_per_image": 0.04}, headers=headers
        )
        assert set_price.status_code == 200, set_price.text
        with sdk(url, admin) as client:
            with pytest.raises(openai.BadRequestError) as caught:
                client.images.generate(prompt="a harbour", n=2)
            assert caught.value.code == "budget_exceeded"
            answer = client.images.generate(prompt="a harbour", n=1)
    assert len(answer.data) == 1
    assert [(kind, cost) for _, kind, cost in ledger_rows(settings)] == [("image", 0.04)]


def test_a_wait_that_runs_out_names_the_jobs_which_go_on(settings: Settings, serve: Serve) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 4.0, "image_wait_seconds": 0.2})
    with serve(slow) as url:
        answer = httpx.post(
            f"{url}/v1/images/generations", json={"prompt": "slow", "n": 2}, timeout=30
        )
        assert answer.status_code == 504, answer.text
        message = answer.json()["error"]["message"]
        ids = [row[0] for row in ledger_rows(settings)]
        assert len(ids) == 2 and all(image_id in message for image_id in ids)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {httpx.get(f"{url}/v1/images/{i}").json()["status"] for i in ids}
            if states == {"completed"}:
                break
            time.sleep(0.1)
        assert states == {"completed"}
