"""The Remix chain page through FastAPI's test client: the base picker, the estimate, refusals,
and a chain run to its stitched end."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sorakit import media
from sorakit.ledger import PipelineStatus
from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, sign_in
from tests.studio.test_long_video import bearer, finished, pipelines, started_id, steps_of

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}


def start(client: TestClient, steps: list[str], **fields: str) -> Any:
    form = {"csrf_token": csrf_of(client.get("/remix-chain").text), "base_kind": "prompt"}
    form |= {"base_prompt": "a glass teapot on a table", "model": "sora-2", "seconds": "4"}
    form |= {"size": "1280x720", "stitch": "cut", **fields}
    return client.post("/remix-chain", data={**form, "step": steps}, headers=HTMX)


def make_video(client: TestClient, token: str | None = None) -> str:
    """A finished video of the caller's, made through the Videos API."""
    headers = bearer(token) if token else {}
    video = client.post("/v1/videos", json={"prompt": "a kite", "seconds": "4"}, headers=headers)
    assert video.status_code == 200, video.text
    video_id: str = video.json()["id"]
    for _ in range(200):
        status = client.get(f"/v1/videos/{video_id}", headers=headers).json()["status"]
        if status == "completed":
            return video_id
        assert status in ("queued", "in_progress"), status
        time.sleep(0.1)
    raise AssertionError("the video did not finish")


def test_the_page_offers_a_base_the_remix_rows_and_the_stitch(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/remix-chain")
        assert page.status_code == 200 and 'href="/static/long.css"' in page.text
        assert 'value="prompt" checked' in page.text  # no finished videos yet
        assert "no finished videos yet" in page.text
        assert page.text.count('name="step"') == 2
        assert re.findall(r'name="stitch">\s*(.*?)</select>', page.text, re.S)
        assert 'id="remix-estimate">$1.20<' in page.text  # 3 clips of 4 s at $0.10/s
        row = client.get("/remix-chain/step", headers=HTMX)
        assert row.status_code == 200 and 'name="step"' in row.text
        choices = client.get(
            "/remix-chain/choices",
            params={"model": "sora-2", "seconds": "8", "step": ["a", "b", "c"]},
            headers=HTMX,
        )
        assert "4 clips" in choices.text and "$3.20" in choices.text  # 4 x 8 s x $0.10
        video_id = make_video(client)
        page = client.get("/remix-chain")
        assert 'value="video" checked' in page.text and f'value="{video_id}" selected' in page.text
        choices = client.get(
            "/remix-chain/choices",
            params={"base_kind": "video", "base_video": video_id, "step": ["a"]},
            headers=HTMX,
        )
        assert "1 clip " in choices.text and "$0.40" in choices.text  # one remix of 4 s


def test_a_chain_of_two_remixes_makes_three_jobs_in_order_and_stitches_them(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        answer = start(client, ["make it snow", "", "night falls"])  # an empty row is skipped
        pipeline_id = started_id(answer)
        done = finished(client, pipeline_id)
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        jobs = steps_of(client, pipeline_id)
        assert [job.pipeline_step for job in jobs] == ["base", "remix-1", "remix-2"]
        assert [job.prompt for job in jobs][1:] == ["make it snow", "night falls"]
        assert jobs[1].source_id == jobs[0].id and jobs[2].source_id == jobs[1].id
        assert {job.owner for job in jobs} == {done.owner} and done.owner is not None
        assert done.output is not None and done.output.endswith("video.mp4")
        assert media.probe(done.output).duration == pytest.approx(12.0, abs=0.15)


def test_a_chain_from_an_own_video_crossfades(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        video_id = make_video(client, keys["alice"])
        fields = {"base_kind": "video", "base_video": video_id, "stitch": "crossfade"}
        answer = start(client, ["make it red"], crossfade="1", **fields)
        done = finished(client, started_id(answer))
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        jobs = steps_of(client, done.id)
        assert [job.source_id for job in jobs] == [video_id]
        assert done.output is not None
        assert media.probe(done.output).duration == pytest.approx(7.0, abs=0.15)  # 4 + 4 - 1


def test_another_tenants_video_is_not_found(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio() as client:
        video_id = make_video(client, keys["bob"])
        sign_in(client, keys["alice"])
        assert video_id not in client.get("/remix-chain").text
        answer = start(client, ["make it snow"], base_kind="video", base_video=video_id)
        assert (
            answer.status_code == 404
            and f"No video found with id &#39;{video_id}&#39;" in answer.text
        )
        choices = client.get(
            "/remix-chain/choices", params={"base_kind": "video", "base_video": video_id}
        )
        assert "No video found" in choices.text
        answer = start(client, ["x"], base_kind="video", base_video="../../etc/passwd")
        assert answer.status_code == 404
        assert pipelines(client) == []


def test_refusals_are_readable_and_start_nothing(studio: Studio) -> None:
    with studio() as client:
        answer = start(client, ["make it snow"], model="fal/veo-3.1", seconds="4")
        assert answer.status_code == 400 and "fal/veo-3.1 does not support remixes." in answer.text
        answer = start(client, ["", " "])
        assert answer.status_code == 400 and "at least one remix step" in answer.text
        answer = start(client, ["a"], base_prompt=" ")
        assert answer.status_code == 400 and "prompt is empty" in answer.text
        answer = start(client, ["a"], stitch="crossfade", crossfade="0")
        assert answer.status_code == 400 and "crossfade needs its length" in answer.text
        for fields in (
            {"stitch": "glue"},
            {"seconds": "x"},
            {"model": "no-such"},
            {"enhance": "?"},
        ):
            answer = start(client, ["a"], **fields)
            assert 400 <= answer.status_code < 500 and 'role="alert"' in answer.text, fields
        form = {"base_kind": "prompt", "base_prompt": "a kite", "step": "a"}
        answer = client.post("/remix-chain", data=form, headers=HTMX)
        assert answer.status_code == 403 and "reload the page" in answer.text
        assert pipelines(client) == [] and client.get("/v1/videos").json()["data"] == []


def test_budget_refusals_send_nothing(studio: Studio, settings: Settings) -> None:
    with studio(budget_usd=1.0) as client:
        answer = start(client, ["a", "b"])  # 3 clips of 4 s: $1.20
        assert answer.status_code == 400 and "passes the budget of $1.00" in answer.text
        assert pipelines(client) == [] and client.get("/v1/videos").json()["data"] == []
    with studio() as client:
        answer = start(client, ["a"], budget="0.5")  # 2 clips of 4 s: $0.80
        assert answer.status_code == 400 and "passes its budget of $0.50" in answer.text
        assert pipelines(client) == []
    keys = make_keys(settings, "dora", budget_usd=1.0)
    with studio() as client:
        sign_in(client, keys["dora"])
        answer = start(client, ["a", "b"])
        assert answer.status_code == 400 and "this API key&#39;s budget of $1.00" in answer.text
        assert pipelines(client) == []
