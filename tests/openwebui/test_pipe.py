"""The Open WebUI pipe inside Open WebUI's own code, against a real `sorakit serve` on loopback.

`driver.py` fetches the pipe from the server's stable URL, loads it with Open WebUI's function
loader and calls `pipe()` as Open WebUI does; these tests read its report, Open WebUI's files
table and upload folder, and the server's own answer about the videos.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from sorakit.server.routes import chat
from sorakit.settings import Settings
from tests.gateway.test_chat import png
from tests.gateway.test_tenants import make_key
from tests.openwebui.conftest import Drive

VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")
PERCENT = re.compile(r"(\d+)%")
Serve = Callable[..., contextlib.AbstractContextManager[str]]

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


def scenario(url: str, *turns: str, **valves: Any) -> dict[str, Any]:
    return {
        "pipe_url": f"{url}/openwebui/sorakit_pipe.py",
        "valves": {"SORAKIT_URL": url, "POLL_INTERVAL_SECONDS": 0} | valves,
        "turns": [{"content": text} for text in turns],
    }


def statuses(turn: dict[str, Any]) -> list[dict[str, Any]]:
    events = [item["event"] for item in turn["events"]]
    assert all(event["type"] == "status" for event in events), events
    return [event["data"] for event in events]


def test_a_video_lands_in_open_webuis_store_and_a_second_turn_remixes_it(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 1.0})
    with serve(settings) as url:
        report = drive(
            scenario(
                url, "make a 4 second video of a lighthouse at dusk", "remix it: make it night"
            )
        )
        first, second = report["turns"]
        made = VIDEO_ID.findall(first["answer"])[0]
        remix = VIDEO_ID.findall(second["answer"].split(made, 1)[1])[0]
        remixed = httpx.get(f"{url}/v1/videos/{remix}", headers={"authorization": "Bearer any"})
    # Open WebUI's loader took the served file as a pipe with its frontmatter.
    assert report["served_type"].startswith("text/x-python")
    assert report["kind"] == "pipe"
    assert report["frontmatter"]["title"] == "sorakit video"
    assert report["frontmatter"]["requirements"] == ""
    assert {"sora-2", "sora-2-pro"} <= {model["id"] for model in report["models"]}
    # Status with percent while rendering, then done; the answer keeps sorakit's intro line.
    said = statuses(first)
    rendering = [s for s in said if not s["done"] and PERCENT.search(s["description"])]
    assert rendering, said
    assert {int(PERCENT.search(s["description"]).group(1)) for s in rendering} != {100}  # type: ignore[union-attr]
    assert said[-1]["done"] and said.index(rendering[0]) < len(said) - 1
    assert first["answer"].startswith(f"Creating video {made} with sora-2: 4 s, ")
    # The video is in Open WebUI's store: its row, its file on disk, a real MP4, embedded.
    (row,) = first["files"]
    assert row is not None and row["user_id"] == "user-1"
    assert row["meta"]["content_type"] == "video/mp4" and row["filename"] == f"{made}.mp4"
    path = Path(row["path"])
    assert (
        path.is_relative_to(Path(report["data_dir"])) and path.stat().st_size == row["meta"]["size"]
    )
    with av.open(str(path)) as container:
        assert container.streams.video and container.duration
    content = f"/api/v1/files/{row['id']}/content"
    assert f'<video src="{content}" controls></video>' in first["answer"]
    assert f"[Download {made}.mp4]({content})" in first["answer"]
    assert "/v1/links/" not in first["answer"]  # nothing that expires
    # The second turn remixed the first video, as the server's ledger says.
    assert second["answer"].startswith(f"Creating remix of {made} {remix} with sora-2")
    assert remixed.json()["remixed_from_video_id"] == made
    assert second["files"][0]["filename"] == f"{remix}.mp4"


def test_a_wrong_key_and_a_server_that_is_down_read_as_sentences(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    make_key(settings, "ada")  # keys on: a wrong one is refused
    with serve(settings) as url:
        refused = drive(scenario(url, "a cat", API_KEY="sk-wrong"))
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = scenario(url, "a cat", SORAKIT_URL=closed)
    down["pipe_url"] = f"{url}/openwebui/sorakit_pipe.py"
    with serve(settings) as url:
        down["pipe_url"] = f"{url}/openwebui/sorakit_pipe.py"
        report = drive(down)
    answer = refused["turns"][0]["answer"]
    assert answer.startswith("sorakit refused the API key."), answer
    assert "Traceback" not in answer and refused["turns"][0]["files"] == []
    assert statuses(refused["turns"][0])[-1]["done"]
    assert report["models"][0]["id"] == "sorakit-unreachable"
    assert closed in report["models"][0]["name"]
    assert {"sora-2", "sora-2-pro"} <= {model["id"] for model in report["models"]}
    answer = report["turns"][0]["answer"]
    assert answer.startswith(f"sorakit is not reachable at {closed}"), answer
    assert "Traceback" not in answer


def test_a_per_user_key_and_the_users_image_are_used_and_background_tasks_make_no_video(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    token = make_key(settings, "ada")
    red = f"data:image/png;base64,{base64.b64encode(png((220, 20, 20))).decode()}"
    with serve(settings) as url:
        plan = scenario(url, "a paper boat on a pond", "a paper boat on a pond", API_KEY="sk-wrong")
        plan["turns"][0]["content"] = [
            {"type": "text", "text": "a paper boat on a pond"},
            {"type": "image_url", "image_url": {"url": red}},
        ]
        plan["user_valves"] = {"API_KEY": token}
        plan["turns"][1]["task"] = "title_generation"
        report = drive(plan)
        listed = httpx.get(f"{url}/v1/videos", headers={"authorization": f"Bearer {token}"})
    made, titled = report["turns"]
    assert made["answer"].startswith("Creating video video_"), made["answer"]
    assert titled["answer"] == '{"title": "a paper boat on a pond"}'
    assert titled["events"] == [] and titled["files"] == []
    assert len(listed.json()["data"]) == 1  # the task made no second video
    # The user's image is the video's first frame (the simulator starts from the reference).
    with av.open(made["files"][0]["path"]) as container:
        first_frame = next(container.decode(video=0)).to_image()
    r, g, b = first_frame.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    assert r > 150 and g < 90 and b < 90, (r, g, b)


def test_a_video_over_the_byte_limit_is_refused_before_it_is_stored(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    with serve(settings) as url:
        report = drive(scenario(url, "a short clip of rain", MAX_REMOTE_MEDIA_BYTES=1000))
    (turn,) = report["turns"]
    assert "over the pipe's limit of 1,000" in turn["answer"], turn["answer"]
    assert turn["files"] == []
    uploads = Path(report["data_dir"]) / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_a_video_blocked_by_moderation_reads_as_a_sentence(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    settings = settings.model_copy(update={"simulator_faults": "moderation=1"})
    with serve(settings) as url:
        report = drive(scenario(url, "a storm over the sea"))
    (turn,) = report["turns"]
    assert turn["answer"].startswith("The video was blocked by moderation: "), turn["answer"]
    assert turn["files"] == [] and statuses(turn)[-1]["done"]


def test_an_image_is_stored_and_shown_and_a_later_turn_animates_it(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 0.5})
    with serve(settings) as url:
        story = scenario(url)
        story["turns"] = [
            {"content": "a red kite over the dunes, square", "model": "sorakit.gpt-image-1"},
            {"content": "animate it, 4 seconds"},
        ]
        first, second = drive(story)["turns"]
    # The image is in Open WebUI's store, as a PNG, and shown (not played) in the answer.
    made = re.search(r"img_[0-9a-f]{32}", first["answer"])
    assert made and first["answer"].startswith(f"Creating image {made.group(0)} with ")
    (row,) = first["files"]
    assert row["meta"]["content_type"] == "image/png" and row["filename"] == f"{made.group(0)}.png"
    assert Path(row["path"]).read_bytes().startswith(b"\x89PNG")
    content = f"/api/v1/files/{row['id']}/content"
    assert f"![{made.group(0)}.png]({content})" in first["answer"]
    assert "/v1/images/" not in first["answer"]  # nothing that expires
    assert statuses(first)[-1] == {"description": "Your image is ready.", "done": True}
    # "Animate it" found the image from the pipe's own answer and made a video of it.
    assert second["answer"].startswith("Creating video ")
    assert second["files"][0]["meta"]["content_type"] == "video/mp4"


def test_variations_off_makes_one_video_even_when_takes_are_asked_in_words(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 0.5})
    with serve(settings) as url:
        story = scenario(url, "three takes of a red kite, 4 seconds", ENABLE_VARIATIONS=False)
        (turn,) = drive(story)["turns"]
    assert turn["answer"].startswith("Creating video video_"), turn["answer"]
    assert "1 take, the most at once (not 3)." in turn["answer"]
    assert len(turn["files"]) == 1 and turn["files"][0]["meta"]["content_type"] == "video/mp4"


def test_an_image_attached_as_an_open_webui_file_is_the_first_frame(
    settings: Settings, serve: Serve, drive: Drive
) -> None:
    green = base64.b64encode(png((20, 200, 40))).decode()
    with serve(settings.model_copy(update={"simulator_render_seconds": 0.5})) as url:
        story = scenario(url)
        story["turns"] = [{"content": "a paper boat on a pond, 4 seconds", "upload_png": green}]
        (turn,) = drive(story)["turns"]
    assert turn["answer"].startswith("Creating video video_"), turn["answer"]
    with av.open(turn["files"][0]["path"]) as container:
        first_frame = next(container.decode(video=0)).to_image()
    r, g, b = first_frame.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    assert g > 150 and r < 90 and b < 90, (r, g, b)
