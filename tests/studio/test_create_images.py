"""First-frame images on the Create page: the montage of several, the preview of the frame the
engine will send (the very bytes the job keeps), and the last frame and subject images."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sorakit.media.montage import LAYOUTS
from sorakit.server import create_app
from sorakit.settings import Settings
from tests.conftest import FakeProvider
from tests.studio.conftest import csrf_of
from tests.studio.test_create import HTMX, Studio

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def files(*images: bytes, field: str = "reference") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (f"image-{n}.png", data, "image/png")) for n, data in enumerate(images, 1)]


def preview(client: TestClient, images: list[Any], **fields: str) -> tuple[int, str]:
    data = {"model": "sora-2", "size": "1280x720", "csrf_token": csrf_of(client.get("/").text)}
    answer = client.post("/create/preview", data=data | fields, files=images, headers=HTMX)
    return answer.status_code, answer.text


def frame_of(html: str) -> Image.Image:
    match = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert match, html
    return Image.open(io.BytesIO(base64.b64decode(match.group(1))))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", ["1280x720", "720x1280"])
def test_each_layout_previews_a_montage_of_the_videos_size(
    studio: Studio, layout: str, size: str
) -> None:
    with studio() as client:
        status, html = preview(
            client, files(picture(RED), picture(BLUE), picture(GREEN)), layout=layout, size=size
        )
        assert status == 200, html
        frame = frame_of(html)
        assert f"{frame.width}x{frame.height}" == size
        assert "a montage of 3 images" in html
        colours = {
            frame.getpixel((x, y))
            for x in range(0, frame.width, 16)
            for y in range(0, frame.height, 16)
        }
        assert {RED, BLUE, GREEN} <= colours  # every image is in it, none cropped away


def test_a_strip_keeps_each_image_whole_in_its_own_tile(studio: Studio) -> None:
    with studio() as client:
        _, html = preview(client, files(picture(RED), picture(BLUE)), layout="Nx1")
        frame = frame_of(html)
        assert frame.size == (1280, 720)
        assert frame.getpixel((320, 360)) == RED and frame.getpixel((960, 360)) == BLUE
        assert frame.getpixel((320, 20)) == (0, 0, 0)  # letterboxed inside the tall tile


def test_one_image_is_fitted_as_the_engine_fits_it(studio: Studio) -> None:
    with studio() as client:
        status, html = preview(client, files(picture(RED, (400, 400))), size="portrait")
        assert status == 200
        assert frame_of(html).size == (720, 1280)
        assert "image -&gt; 720x1280 (crop)" in html and "montage" not in html
        _, empty = preview(client, [])
        assert "starts from the prompt alone" in empty and "<img" not in empty


def test_the_preview_is_the_very_frame_the_job_keeps(studio: Studio) -> None:
    with studio() as client:
        images = files(picture(RED), picture(BLUE), picture(GREEN))
        _, html = preview(client, images, layout="3x3")
        token = csrf_of(client.get("/").text)
        form = {"prompt": "three colours", "model": "sora-2", "seconds": "4", "size": "1280x720"}
        answer = client.post(
            "/create",
            data=form | {"layout": "3x3", "csrf_token": token},
            files=images,
            headers=HTMX,
        )
        assert answer.status_code == 200, answer.text
        video_id = re.search(r'data-video-id="([^"]+)"', answer.text)
        assert video_id
        engine = client.app.state.engine  # type: ignore[attr-defined]
        job = client.portal.call(engine.ledger.get, video_id.group(1))  # type: ignore[union-attr]
        kept = Path(job.assets["reference"].path).read_bytes()
        assert kept == base64.b64decode(re.findall(r"base64,([^\"]+)", html)[0])


def test_a_file_that_is_no_image_is_refused_by_name(studio: Studio) -> None:
    with studio() as client:
        notes = [("reference", ("notes.txt", b"just some words", "text/plain"))]
        status, html = preview(client, notes)
        assert status == 400 and 'role="alert"' in html
        assert "“notes.txt” is not an image the studio can read" in html
        assert "BytesIO" not in html and "Traceback" not in html
        status, html = preview(client, files(picture(RED)) + notes, layout="2x2")
        assert status == 400 and "notes.txt" in html
        status, html = preview(client, files(picture(RED), picture(BLUE)), layout="5x0")
        assert status == 400 and "layout 5x0 has 0 cells" in html
        status, html = preview(client, files(picture(RED)), size="123x45")
        assert status == 400 and "<code>1280x720</code>" in html


def test_the_preview_needs_the_form_token(studio: Studio) -> None:
    with studio() as client:
        client.get("/")
        answer = client.post("/create/preview", files=files(picture(RED)), headers=HTMX)
        assert answer.status_code == 403 and "reload the page" in answer.text


@pytest.fixture
def fal_fake(settings: Settings) -> Iterator[tuple[TestClient, FakeProvider]]:
    """The studio with fal served by a scripted provider, to see what a create sends."""
    fake = FakeProvider()
    with TestClient(
        create_app(settings, providers={"fal": fake}), follow_redirects=False
    ) as client:
        yield client, fake


def test_a_last_frame_and_subject_images_reach_the_provider(
    fal_fake: tuple[TestClient, FakeProvider],
) -> None:
    client, fake = fal_fake
    token = csrf_of(client.get("/").text)
    form = {"prompt": "a kite", "seconds": "8", "size": "1280x720", "csrf_token": token}
    answer = client.post(
        "/create",
        data=form | {"model": "fal/veo-3.1"},
        files=files(picture(RED)) + files(picture(BLUE, (64, 64)), field="last_frame"),
        headers=HTMX,
    )
    assert answer.status_code == 200, answer.text
    sent = fake.requests[-1]
    assert sent.reference is not None and sent.last_frame is not None
    assert (sent.last_frame.width, sent.last_frame.height) == (1280, 720)  # fitted like the first
    assert "last frame image -&gt; 1280x720 (crop)" in answer.text
    subjects = files(picture(RED, (100, 80)), picture(GREEN, (90, 90)), field="reference_images")
    answer = client.post(
        "/create", data=form | {"model": "fal/veo-3.1"}, files=subjects, headers=HTMX
    )
    assert answer.status_code == 200, answer.text
    sent = fake.requests[-1]
    assert sent.reference is None
    assert [(i.width, i.height) for i in sent.reference_images] == [(100, 80), (90, 90)]


def test_a_last_frame_for_a_model_without_one_is_refused(studio: Studio) -> None:
    with studio() as client:
        token = csrf_of(client.get("/").text)
        answer = client.post(
            "/create",
            data={"prompt": "a kite", "model": "sora-2", "csrf_token": token},
            files=files(picture(RED), field="last_frame"),
            headers=HTMX,
        )
        assert answer.status_code == 400 and "sora-2 does not take a last frame" in answer.text


def test_odd_input_to_the_new_routes_is_never_a_server_error(studio: Studio) -> None:
    with studio() as client:
        token = csrf_of(client.get("/").text)
        for path in ("/jobs/%00/last-frame", "/?from_last_frame=%00", "/?from_last_frame=x" * 50):
            assert client.get(path).status_code < 500, path
        odd_bodies: list[dict[str, Any]] = [
            {"content": b"--nope\r\n\r\n", "headers": {"content-type": "multipart/form-data"}},
            {
                "data": {
                    "csrf_token": token,
                    "layout": "%00",
                    "model": "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
                }
            },
            {
                "data": {"csrf_token": token, "size": "9999999x9999999"},
                "files": files(picture(RED)),
            },
            {"data": {"csrf_token": token}, "files": files(b"", b"GIF89a")},
        ]
        for path in ("/create/preview", "/create"):
            for body in [dict(b) for b in odd_bodies]:
                headers = HTMX | body.pop("headers", {})
                answer = client.post(path, headers=headers, **body)
                assert 400 <= answer.status_code < 500, (path, body.get("data"), answer.text)
                assert 'role="alert"' in answer.text or answer.status_code == 403
        for path in ("/jobs/video_nope/remix", "/jobs/video_nope/extend", "/create/enhance"):
            answer = client.post(path, data={"csrf_token": token, "seconds": "1e309"}, headers=HTMX)
            assert 400 <= answer.status_code < 500, path
