"""A first frame drawn from a prompt on the Create page: an image job on the caller's key, budget
and limits, shown with its cost, then the first frame of the video (fitted as the preview shows),
alone or in a montage with uploads; another key's image, a video's id or an unfinished image are
refused."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

from fastapi.testclient import TestClient

from sorakit.catalog.sync import set_price
from sorakit.engine import Engine, Owner
from sorakit.ledger import JobRecord
from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, sign_in
from tests.studio.test_create import HTMX, Studio
from tests.studio.test_create_images import RED, files, frame_of, picture


def price_images(settings: Settings, usd: float) -> None:
    """Price sim-image in the settings' ledger (as `sorakit prices set` does) before serving."""

    async def run() -> None:
        async with await Engine.open(settings) as engine:
            await set_price(engine.catalog, engine.ledger, "sim-image", {"usd_per_image": usd})

    asyncio.run(run())


def draw(client: TestClient, **fields: str) -> tuple[int, str]:
    token = csrf_of(client.get("/").text)
    data = {"prompt": "a lighthouse at dusk", "model": "sora-2", "size": "1280x720"}
    answer = client.post("/create/draw", data=data | {"csrf_token": token, **fields}, headers=HTMX)
    return answer.status_code, answer.text


def drawn_id(html: str) -> str:
    match = re.search(r'name="from_image" value="(img_[0-9a-f]+)"', html)
    assert match, html
    return match.group(1)


def job_of(client: TestClient, job_id: str) -> JobRecord:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    job: JobRecord = client.portal.call(engine.ledger.get, job_id)  # type: ignore[union-attr]
    return job


def post(client: TestClient, path: str, **fields: str) -> tuple[int, str]:
    token = csrf_of(client.get("/").text)
    data = {"prompt": "the lighthouse's beam sweeps", "model": "sora-2", "seconds": "4"}
    data |= {"size": "1280x720", "csrf_token": token, **fields}
    answer = client.post(path, data=data, headers=HTMX)
    return answer.status_code, answer.text


def image_jobs(client: TestClient) -> list[JobRecord]:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    jobs, _ = client.portal.call(engine.ledger.list_jobs)  # type: ignore[union-attr]
    return [job for job in jobs if job.kind == "image"]


def test_the_page_offers_the_image_models_and_the_price_before_drawing(
    studio: Studio, settings: Settings
) -> None:
    price_images(settings, 0.25)
    with studio() as client:
        page = client.get("/").text
        assert "Draw the first frame from a prompt" in page
        assert re.search(
            r'value="sim-image" selected>\s*sim-image · simulator · \$0\.25/image', page
        )
        assert "Drawn at 1024x1792 (fitted to 720x1280)" in page  # sora-2 opens on 720x1280
        assert 'estimated <strong class="draw-cost">$0.25</strong>' in page
        landscape = client.get(
            "/create/draw/estimate",
            params={"draw_model": "sim-image", "model": "sora-2", "size": "landscape"},
            headers=HTMX,
        ).text
        assert "Drawn at 1792x1024 (fitted to 1280x720)" in landscape and "$0.25" in landscape
        square = client.get(
            "/create/draw/estimate", params={"model": "fal/seedance-2.0", "size": "square"}
        ).text
        assert "Drawn at 1024x1024 (fitted to 720x720)" in square
        video = client.get("/create/draw/estimate", params={"draw_model": "sora-2"}).text
        assert "sora-2 makes videos" in video
        assert "fal/flux-schnell · fal · $0.0008–0.0047/image" in page  # not $0.00


def test_a_drawing_is_an_image_job_of_the_key_with_its_cost(
    studio: Studio, settings: Settings
) -> None:
    price_images(settings, 0.25)
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        status, html = draw(client, draw_prompt="a lighthouse, seen from the sea", size="portrait")
        assert status == 200, html
        image = job_of(client, drawn_id(html))
        engine = client.app.state.engine  # type: ignore[attr-defined]
        listed = client.portal.call(engine.ledger.list_keys)  # type: ignore[union-attr]
        [alice] = [key for key in listed if key.name == "alice"]
        assert image.kind == "image" and image.owner == alice.id
        assert image.prompt == "a lighthouse, seen from the sea" and image.size == "1024x1792"
        assert image.cost == 0.25 and image.status.value == "completed"
        assert '<strong class="draw-cost">$0.25</strong>' in html and "fitted to 720x1280" in html
        content = client.get(f"/create/drawn/{image.id}")
        assert content.status_code == 200 and content.headers["content-type"] == "image/png"
        assert content.content == Path(image.assets["image"].path).read_bytes()
        # Nothing typed: the video's prompt is drawn.
        status, html = draw(client, draw_prompt="  ")
        assert status == 200 and job_of(client, drawn_id(html)).prompt == "a lighthouse at dusk"
        status, html = draw(client, draw_prompt="", prompt="")
        assert status == 400 and "Write what to draw" in html
        assert len(image_jobs(client)) == 2


def test_the_video_starts_from_the_drawn_image_as_previewed(studio: Studio) -> None:
    with studio() as client:
        _, html = draw(client)
        image_id = drawn_id(html)
        choices = client.get(
            "/create/choices", params={"model": "sora-2", "from_image": image_id}
        ).text
        assert "data-choices" in choices and "renders only from a first-frame image" not in choices
        status, shown = post(client, "/create/preview", from_image=image_id)
        assert status == 200, shown
        frame = frame_of(shown)
        assert frame.size == (1280, 720) and "image -&gt; 1280x720 (crop)" in shown
        status, panel = post(client, "/create", from_image=image_id)
        assert status == 200, panel
        video_id = re.search(r'data-video-id="([^"]+)"', panel)
        assert video_id
        kept = Path(job_of(client, video_id.group(1)).assets["reference"].path).read_bytes()
        assert kept == base64.b64decode(re.findall(r"base64,([^\"]+)", shown)[0])
        # With an upload too: one montage of both, by the rule for several first frames.
        token = csrf_of(client.get("/").text)
        data = {"model": "sora-2", "size": "1280x720", "layout": "Nx1", "from_image": image_id}
        answer = client.post(
            "/create/preview",
            data=data | {"csrf_token": token},
            files=files(picture(RED)),
            headers=HTMX,
        )
        assert answer.status_code == 200 and "a montage of 2 images" in answer.text
        montage = frame_of(answer.text)
        assert montage.size == (1280, 720) and montage.getpixel((960, 360)) == RED


def test_another_keys_image_a_video_or_an_unfinished_image_is_refused(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio() as alice, studio() as bob:
        sign_in(alice, keys["alice"])
        sign_in(bob, keys["bob"])
        _, html = draw(alice)
        image_id = drawn_id(html)
        for path in ("/create", "/create/preview"):
            status, text = post(bob, path, from_image=image_id)
            assert status == 404 and f"No image found with id &#39;{image_id}&#39;" in text, path
        assert bob.get(f"/create/drawn/{image_id}").status_code == 404
        status, panel = post(bob, "/create")
        video_id = re.search(r'data-video-id="([^"]+)"', panel)
        assert status == 200 and video_id
        status, text = post(bob, "/create", from_image=video_id.group(1))
        assert status == 404 and "No image found" in text
        assert [job.owner for job in image_jobs(bob)] == [image_jobs(alice)[0].owner]
        # Bob's own image, recorded but never sent: not ready, so not a first frame yet.
        engine = bob.app.state.engine  # type: ignore[attr-defined]
        listed = bob.portal.call(engine.ledger.list_keys)  # type: ignore[union-attr]
        [bob_key] = [key for key in listed if key.name == "bob"]
        [unsent] = bob.portal.call(  # type: ignore[union-attr]
            lambda: engine.create_image("never sent", owner=Owner(bob_key.id), submit=False)
        )
        status, text = post(bob, "/create", from_image=unsent.id)
        assert status == 400 and f"Image {unsent.id} is not ready" in text
        assert 'role="alert"' in text


def test_a_budget_refusal_is_shown_and_nothing_is_drawn(studio: Studio, settings: Settings) -> None:
    price_images(settings, 0.25)
    keys = make_keys(settings, "alice", budget_usd=0.4)
    with studio() as client:
        sign_in(client, keys["alice"])
        assert draw(client)[0] == 200
        status, html = draw(client)
        assert status == 400 and 'role="alert"' in html
        assert "budget" in html and "$0.40" in html and "it was not sent" in html
        assert "from_image" not in html and len(image_jobs(client)) == 1


def test_a_draw_needs_the_form_token_and_a_sign_in(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        data = {"draw_prompt": "a lighthouse", "model": "sora-2"}
        answer = client.post("/create/draw", data=data, headers=HTMX)
        assert answer.status_code == 401 and answer.headers["hx-redirect"] == "/sign-in"
        sign_in(client, keys["alice"])
        answer = client.post("/create/draw", data=data, headers=HTMX)
        assert answer.status_code == 403 and "reload the page" in answer.text
        assert image_jobs(client) == []
        status, html = draw(client, draw_model="sora-2")
        assert status == 400 and "sora-2 makes videos" in html
        assert client.get("/create/drawn/img_0").status_code == 404


def test_a_refused_or_slow_drawing_says_so_and_leaves_no_first_frame(studio: Studio) -> None:
    with studio() as client:
        status, html = draw(client, draw_prompt="a kite [[moderation_blocked]]")
        assert status == 400 and "moderation refused this drawing" in html
        assert "from_image" not in html
        [refused] = image_jobs(client)
        assert refused.status.value == "failed" and refused.error_code == "moderation_blocked"
        status, text = post(client, "/create", from_image=refused.id)
        assert status == 400 and "is not ready (it is failed)" in text
    with studio(image_wait_seconds=0.05, simulator_render_seconds=2.0) as client:
        status, html = draw(client)
        assert status == 400 and "was not drawn within 0.05 s" in html
        assert "goes on in the background" in html
        [slow] = [job for job in image_jobs(client) if job.id != refused.id]
        engine = client.app.state.engine  # type: ignore[attr-defined]
        done = client.portal.call(engine.wait, slow.id)  # type: ignore[union-attr]
        assert done.status.value == "completed"  # the server followed it to its end


def test_odd_input_to_the_draw_routes_is_never_a_server_error(studio: Studio) -> None:
    with studio() as client:
        token = csrf_of(client.get("/").text)
        for path in (
            "/create/drawn/%00",
            "/create/drawn/" + "x" * 300,
            "/create/draw/estimate?size=9999999x9999999",
            "/create/draw/estimate?draw_model=%00&model=nope",
            "/create/draw/estimate?other_size=0x0",
            "/create/choices?from_image=%00",
        ):
            assert client.get(path).status_code < 500, path
        for body in (
            {
                "content": b"--nope\r\n\r\n",
                "headers": {"content-type": "multipart/form-data", **HTMX},
            },
            {"data": {"csrf_token": token, "draw_prompt": "x" * 40_000}, "headers": HTMX},
            {"data": {"csrf_token": token, "draw_prompt": "a", "size": "1x99999999"}},
            {"data": {"csrf_token": token, "draw_prompt": "a", "draw_model": "\x00"}},
        ):
            answer = client.post("/create/draw", **body)  # type: ignore[arg-type]
            assert 400 <= answer.status_code < 500 and 'role="alert"' in answer.text, body
        for path in ("/create", "/create/preview"):
            assert post(client, path, from_image="img_" + "0" * 32)[0] == 404
        assert image_jobs(client) == []
