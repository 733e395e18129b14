"""The Create page and the job panel, fragment by fragment, through FastAPI's test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from fastapi.testclient import TestClient

from tests.studio.conftest import csrf_of, png

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}


def _create(client: TestClient, **fields: str) -> tuple[int, str]:
    page = client.get("/")
    data = {"prompt": "a red kite over a beach", "model": "sora-2", "seconds": "4"}
    data |= {"size": "1280x720", "csrf_token": csrf_of(page.text), **fields}
    answer = client.post("/create", data=data, headers=HTMX)
    return answer.status_code, answer.text


def _events(client: TestClient, video_id: str) -> str:
    with client.stream("GET", f"/jobs/{video_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        return "".join(stream.iter_text())


def test_open_studio_lists_models_with_provider_price_and_credential(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "sorakit_studio" in page.headers["set-cookie"]  # the CSRF token's anchor
        assert "HttpOnly" in page.headers["set-cookie"]
        assert "samesite=lax" in page.headers["set-cookie"].lower()
        assert re.search(r"sora-2 · simulator · \$0\.10/s · credential set", page.text)
        assert re.search(r"fal/veo-3\.1 · fal · \$0\.40–0\.60/s · no credential", page.text)
        assert 'src="/static/htmx.min.js"' in page.text
        assert 'Estimated cost <strong id="estimate">$0.40</strong>' in page.text  # 4 s x $0.10


def test_static_files_ship_in_the_package(studio: Studio) -> None:
    with studio() as client:
        htmx = client.get("/static/htmx.min.js")
        assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
        assert client.get("/static/htmx-ext-sse.min.js").status_code == 200
        assert client.get("/static/studio.css").headers["content-type"].startswith("text/css")
        assert client.get("/static/..%2Fsession.py").status_code == 404
        assert client.get("/static/nothing.js").status_code == 404


def test_choices_follow_the_model_and_the_mode(studio: Studio) -> None:
    with studio() as client:
        veo = client.get("/create/choices", params={"model": "fal/veo-3.1"}, headers=HTMX)
        assert veo.status_code == 200
        assert re.findall(r'<option value="(\d+)"', veo.text) == ["4", "6", "8"]
        assert 'value="3840x2160"' in veo.text
        # The size of the model before (sora-2's) falls back to this model's default.
        sized = client.get("/create/choices", params={"model": "fal/veo-3.1", "size": "1024x1792"})
        assert 'value="1280x720" selected' in sized.text
        # Only the shapes the model has a size for, each with that size.
        sora = client.get("/create/choices", params={"model": "sora-2"}).text
        assert "portrait (720x1280)" in sora and "square" not in sora
        square = client.get("/create/choices", params={"model": "fal/seedance-2.0"}).text
        assert "square (720x720)" in square
        # With a first frame, runway/gen4.5 offers its image sizes.
        text = client.get("/create/choices", params={"model": "runway/gen4.5"}).text
        image = client.get(
            "/create/choices", params={"model": "runway/gen4.5", "reference": "[object File]"}
        ).text
        assert re.findall(r'value="(\d+x\d+)"', text) != re.findall(r'value="(\d+x\d+)"', image)


def test_estimate_comes_from_the_catalog_price_for_words_too(studio: Studio) -> None:
    with studio() as client:
        params = {"model": "sora-2-pro", "seconds": "8", "size": "1792x1024"}
        assert "$4.00" in client.get("/create/choices", params=params).text  # 8 s x $0.50
        params["size"] = "portrait"
        assert "$2.40" in client.get("/create/choices", params=params).text  # 720x1280: $0.30
        params["model"] = "no-such-model"
        refused = client.get("/create/choices", params=params)
        assert refused.status_code == 404 and "no-such-model" in refused.text


def test_create_follows_progress_to_a_playable_video(studio: Studio) -> None:
    with studio() as client:
        status, panel = _create(client, reference="")
        assert status == 200, panel
        video_id = re.search(r'data-video-id="([^"]+)"', panel)
        assert video_id and 'sse-connect="/jobs/' in panel
        stream = _events(client, video_id.group(1))
        assert "event: progress" in stream and "event: done" in stream
        assert re.search(r"about \d+ s left|almost done", stream)  # the ETA
        assert stream.rsplit("event: ", 1)[-1].startswith("done\n")  # the done event is the last
        assert f'src="/jobs/{video_id.group(1)}/content"' in stream
        content = client.get(f"/jobs/{video_id.group(1)}/content")
        assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
        assert content.content[4:8] == b"ftyp"
        download = client.get(f"/jobs/{video_id.group(1)}/content", params={"download": "1"})
        assert download.headers["content-disposition"].startswith("attachment")
        page = client.get(f"/jobs/{video_id.group(1)}")
        assert page.status_code == 200 and "<video" in page.text


def test_create_with_a_reference_upload_and_an_aspect_word(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/")
        answer = client.post(
            "/create",
            data={"prompt": "waves", "model": "sora-2", "seconds": "4", "size": "portrait"}
            | {"csrf_token": csrf_of(page.text)},
            files={"reference": ("ref.png", png(), "image/png")},
            headers=HTMX,
        )
        assert answer.status_code == 200, answer.text
        assert "720x1280" in answer.text and "Adjusted: size portrait -&gt; 720x1280" in answer.text


def test_missing_or_foreign_csrf_is_refused_and_creates_nothing(studio: Studio) -> None:
    with studio() as client:
        client.get("/")
        data = {"prompt": "a kite", "model": "sora-2", "seconds": "4", "size": "1280x720"}
        missing = client.post("/create", data=data, headers=HTMX)
        assert missing.status_code == 403 and "reload the page" in missing.text
        with TestClient(client.app) as other:  # another browser's token
            token = csrf_of(other.get("/").text)
        foreign = client.post("/create", data=data | {"csrf_token": token}, headers=HTMX)
        assert foreign.status_code == 403
        assert client.get("/v1/videos").json()["data"] == []


def test_a_refused_size_lists_the_allowed_ones(studio: Studio) -> None:
    with studio() as client:
        status, text = _create(client, size="123x45")
        assert status == 400
        assert "Invalid value for &#39;size&#39;" in text
        assert "<code>720x1280</code>, <code>1280x720</code>" in text
        status, text = _create(client, seconds="5")
        assert status == 400 and "<code>4</code>" in text
        status, text = _create(client, prompt=" ")
        assert status == 400 and "prompt" in text
        status, text = _create(client, model="no-such-model")
        assert status == 404 and "no-such-model" in text
        assert client.get("/v1/videos").json()["data"] == []


def test_a_budget_refusal_is_shown_and_nothing_is_sent(studio: Studio) -> None:
    with studio(budget_usd=0.1) as client:
        status, text = _create(client)
        assert status == 400 and "budget" in text.lower()
        assert "Traceback" not in text and 'role="alert"' in text
        assert client.get("/v1/videos").json()["data"] == []


def test_a_moderation_block_keeps_the_providers_words(studio: Studio) -> None:
    with studio() as client:
        status, panel = _create(client, prompt="a kite [[moderation_blocked]]")
        assert status == 200
        video_id = re.search(r'data-video-id="([^"]+)"', panel)
        assert video_id
        stream = _events(client, video_id.group(1))
        assert "moderation blocked this video" in stream
        assert "Your request was blocked by our moderation system." in stream


def test_odd_input_is_never_a_server_error(studio: Studio) -> None:
    with studio() as client:
        token = csrf_of(client.get("/").text)
        for path in (
            "/create/choices?seconds=99999999999999999999&size=%00",
            "/create/choices?model=%F0%9F%8E%A5&seconds=-4",
            "/jobs/%00",
            "/jobs/video_nope/events",
            "/jobs/video_nope/content?download=maybe",
            "/static/%00",
            "/static/.hidden",
        ):
            assert client.get(path).status_code < 500, path
        for data in (
            {"seconds": "4.5", "size": "9999x9999"},
            {"seconds": "1e309", "size": "1:0"},
            {"prompt": "x" * 40_000},
        ):
            form = {"csrf_token": token, "prompt": "a kite", **data}
            answer = client.post("/create", data=form, headers=HTMX)
            assert 400 <= answer.status_code < 500, data
            assert 'role="alert"' in answer.text
