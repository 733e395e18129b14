"""What follows a finished video (remix, extend, its last frame as a new reference), each for the
owner only, and the refusals a person reads: which input moderation refused, a limit's countdown."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sorakit.errors import ProviderBadRequestError
from sorakit.server import create_app
from sorakit.settings import Settings
from sorakit.studio.create_refusals import refused_part
from tests.conftest import FakeProvider
from tests.studio.conftest import csrf_of, make_keys, sign_in
from tests.studio.test_create import HTMX, Studio, _create, _events


def _finished(client: TestClient, **fields: str) -> tuple[str, str]:
    """A completed video of the signed-in caller: its id and its finished panel."""
    status, panel = _create(client, **fields)
    assert status == 200, panel
    video_id = re.search(r'data-video-id="([^"]+)"', panel)
    assert video_id
    stream = _events(client, video_id.group(1))
    assert "event: done" in stream and "<video" in stream
    return video_id.group(1), stream


def _post(client: TestClient, path: str, **data: str) -> tuple[int, str]:
    token = csrf_of(client.get("/").text)
    answer = client.post(path, data=data | {"csrf_token": token}, headers=HTMX)
    return answer.status_code, answer.text


def _new_id(panel: str) -> str:
    found = re.search(r'data-video-id="([^"]+)"', panel)
    assert found, panel
    return found.group(1)


def test_the_finished_panel_offers_what_the_model_can_do(studio: Studio) -> None:
    with studio() as client:
        video_id, stream = _finished(client)
        assert f'href="/?from_last_frame={video_id}"' in stream
        assert f'hx-post="/jobs/{video_id}/remix"' in stream
        assert f'hx-post="/jobs/{video_id}/extend"' in stream
        done = stream.split("event: done", 1)[1]
        assert re.findall(r'<option value="(\d+)">\d+ s</option>', done) == [
            "4",
            "8",
            "12",
            "16",
            "20",
        ]
        token = csrf_of(client.get("/").text)
        assert f'name="csrf_token" value="{token}"' in stream  # the forms in the event post too
        page = client.get(f"/jobs/{video_id}").text
        assert f'hx-post="/jobs/{video_id}/remix"' in page


def test_remix_and_extend_start_new_jobs_with_live_panels(studio: Studio) -> None:
    with studio() as client:
        video_id, _ = _finished(client)
        status, panel = _post(client, f"/jobs/{video_id}/remix", prompt="make it snow")
        assert status == 200, panel
        remix = _new_id(panel)
        assert remix != video_id and "· remix ·" in panel and "sse-connect" in panel
        assert "<video" in _events(client, remix)
        status, panel = _post(client, f"/jobs/{video_id}/extend", prompt="then rain", seconds="4")
        assert status == 200, panel
        extended = _new_id(panel)
        assert "· extend ·" in panel
        assert "<video" in _events(client, extended)
        assert client.get(f"/v1/videos/{extended}").json()["seconds"] == "8"  # the whole
        status, text = _post(client, f"/jobs/{video_id}/extend", prompt="x", seconds="5")
        assert status == 400 and "<code>4</code>" in text
        status, text = _post(client, f"/jobs/{video_id}/remix", prompt=" ")
        assert status == 400 and "prompt" in text
        answer = client.post(f"/jobs/{video_id}/remix", data={"prompt": "x"}, headers=HTMX)
        assert answer.status_code == 403  # no form token


def test_the_last_frame_opens_the_create_page_as_its_reference(studio: Studio) -> None:
    with studio() as client:
        video_id, _ = _finished(client, size="720x1280")
        frame = client.get(f"/jobs/{video_id}/last-frame")
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(frame.content)).size == (720, 1280)
        page = client.get("/", params={"from_last_frame": video_id}).text
        assert f'name="from_last_frame" value="{video_id}"' in page
        assert 'value="720x1280" selected' in page  # the video's own size, to go on from it
        assert '<select name="layout"' not in page  # one image: no montage yet
        status, panel = _create(client, from_last_frame=video_id, size="portrait")
        assert status == 200, panel
        assert "reference image -&gt; 720x1280" not in panel  # the same size: nothing to fit
        new_id = _new_id(panel)
        engine = client.app.state.engine  # type: ignore[attr-defined]
        job = client.portal.call(engine.ledger.get, new_id)  # type: ignore[union-attr]
        kept = Image.open(job.assets["reference"].path)
        assert kept.size == (720, 1280)
        assert kept.getpixel((360, 640)) == Image.open(io.BytesIO(frame.content)).getpixel(
            (360, 640)
        )


def test_another_tenants_video_is_not_found_for_any_of_it(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio() as alice, studio() as bob:
        sign_in(alice, keys["alice"])
        sign_in(bob, keys["bob"])
        video_id, _ = _finished(alice)
        for path, data in (
            (f"/jobs/{video_id}/remix", {"prompt": "mine now"}),
            (f"/jobs/{video_id}/extend", {"prompt": "mine now", "seconds": "4"}),
        ):
            status, text = _post(bob, path, **data)
            assert status == 404 and "No video found" in text, path
        assert bob.get(f"/jobs/{video_id}/last-frame").status_code == 404
        page = bob.get("/", params={"from_last_frame": video_id}).text
        assert "No video found" in page and 'name="from_last_frame"' not in page
        status, text = _create(bob, from_last_frame=video_id)
        assert status == 404 and "No video found" in text
        status, text = _post(bob, "/create/preview", from_last_frame=video_id)
        assert status == 404
        listing = bob.get("/v1/videos", headers={"authorization": f"Bearer {keys['bob']}"})
        assert listing.json()["data"] == []  # nothing was made for bob either
        status, _ = _post(alice, f"/jobs/{video_id}/remix", prompt="still mine")
        assert status == 200


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        ("The prompt was flagged by content moderation. (SAFETY.INPUT.TEXT)", "prompt"),
        ("The task failed. (SAFETY.INPUT.IMAGE)", "image"),
        ("The task failed. (INPUT_PREPROCESSING.SAFETY.TEXT)", "prompt"),
        ("The task failed. (SAFETY.OUTPUT.VIDEO)", "video"),
        (
            "prompt: The content was flagged by a content checker. (content_policy_violation)",
            "prompt",
        ),
        ("image_url: The content could not be processed (content_policy_violation)", "image"),
        ("prompt: flagged; image_url: flagged (content_policy_violation)", "both"),
        (
            "Veo could not generate videos because the input image violates Agent Platform's "
            "usage guidelines. If you think this was an error, send feedback. Support codes: "
            "15236754",
            "image",
        ),
        ("The prompt was flagged by the content checker (content_policy_violation)", "prompt"),
        ("Your request was blocked by our moderation system.", None),
        ("", None),
    ],
)
def test_which_input_the_providers_words_say_was_refused(message: str, refused: str | None) -> None:
    assert refused_part(message) == refused


@pytest.fixture
def scripted(settings: Settings) -> Iterator[tuple[TestClient, FakeProvider]]:
    """The studio with the Sora models served by a scripted provider."""
    fake = FakeProvider()
    app = create_app(settings, providers={"simulator": fake})
    with TestClient(app, follow_redirects=False) as client:
        yield client, fake


def test_a_refusal_of_the_prompt_says_so_in_the_providers_words(
    scripted: tuple[TestClient, FakeProvider],
) -> None:
    client, fake = scripted
    words = "prompt: The content was flagged by a content checker. (content_policy_violation)"
    fake.fail_with = ("moderation_blocked", words)
    video_id = _new_id(_create(client)[1])
    stream = _events(client, video_id)
    assert "The provider&#39;s moderation refused the prompt." in stream
    assert 'data-refused="prompt"' in stream and words in stream


def test_a_refusal_of_the_image_at_submit_is_shown_on_the_jobs_panel(
    scripted: tuple[TestClient, FakeProvider],
) -> None:
    client, fake = scripted
    words = "The task failed. (SAFETY.INPUT.IMAGE)"
    fake.enqueue("submit", ProviderBadRequestError(words, code="moderation_blocked"))
    status, panel = _create(client)
    assert status == 200, panel
    assert "The provider&#39;s moderation refused the image." in panel and words in panel
    assert client.get("/v1/videos").json()["data"][0]["status"] == "failed"


def test_the_simulators_block_says_it_did_not_say_which(studio: Studio) -> None:
    with studio() as client:
        video_id = _new_id(_create(client, prompt="a kite [[moderation_blocked]]")[1])
        stream = _events(client, video_id)
        assert "did not say whether the prompt or the image was refused" in stream
        assert 'data-refused="unsaid"' in stream


def test_a_rate_limit_counts_down_to_when_the_key_may_try_again(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", rpm=1)
    with studio() as client:
        sign_in(client, keys["alice"])
        assert _create(client)[0] == 200
        status, text = _create(client)
        assert status == 429 and "1 videos per minute" in text
        seconds = re.search(r'data-retry-after="(\d+)"', text)
        assert seconds and 55 <= int(seconds.group(1)) <= 60
        assert f'try again in <span class="seconds">{seconds.group(1)}</span> s' in text
        api = {"authorization": f"Bearer {keys['alice']}"}
        video_id = client.get("/v1/videos", headers=api).json()["data"][0]["id"]
        _events(client, video_id)
        status, text = _post(client, f"/jobs/{video_id}/remix", prompt="again")
        assert status == 429 and "data-retry-after" in text  # a remix waits its turn too
