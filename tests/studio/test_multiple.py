"""The Multiple page through FastAPI's test client: prompts in rows, takes of one prompt."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
from fastapi.testclient import TestClient

from sorakit.ledger import PipelineStatus
from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, png, sign_in
from tests.studio.test_batch import (
    drain,
    jobs_of,
    never_overlapping,
    pipelines,
    started_id,
    videos,
)

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}


def start(
    client: TestClient, *, reference: bytes | None = None, csrf: bool = True, **fields: str
) -> httpx.Response:
    """Press Start on the Multiple page with `fields` over the page's defaults."""
    data = {"mode": "prompts", "model": "sora-2", "seconds": "4", "size": "1280x720"}
    data |= {"concurrency": "8", **fields}
    if csrf:
        data["csrf_token"] = csrf_of(client.get("/multiple").text)
    files = {"reference": ("first.png", reference, "image/png")} if reference else None
    return client.post("/multiple", data=data, files=files, headers=HTMX)


def test_the_page_offers_both_modes_the_models_and_an_estimate(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/multiple")
        assert page.status_code == 200
        assert 'aria-current="page">Multiple' in page.text
        assert 'value="prompts" checked' in page.text and 'value="takes"' in page.text
        assert re.search(r"sora-2 · simulator · \$0\.10/s · credential set", page.text)
        for field in ("prompts", "takes", "seconds", "size", "concurrency", "budget", "enhance"):
            assert f'name="{field}"' in page.text, field
        assert '<strong id="estimate">$0.00</strong>' in page.text  # no prompt yet


def choices(client: TestClient, **fields: str) -> httpx.Response:
    """The choices fragment for `fields`, as the page asks for it."""
    token = csrf_of(client.get("/multiple").text)
    data = {"model": "sora-2", "seconds": "8", "size": "1280x720", "mode": "prompts"}
    return client.post(
        "/multiple/choices", data=data | fields | {"csrf_token": token}, headers=HTMX
    )


def test_the_estimate_follows_the_count_the_model_and_the_mode(studio: Studio) -> None:
    with studio() as client:
        rows = choices(client, prompts="a\n\nb\nc\n")
        assert rows.status_code == 200, rows.text
        assert (
            "3 videos × $0.80" in rows.text and '<strong id="estimate">$2.40</strong>' in rows.text
        )
        takes = choices(client, mode="takes", takes="5", prompts="a")
        assert "5 takes × $0.80" in takes.text and "$4.00" in takes.text
        pro = choices(client, model="sora-2-pro", size="1792x1024", prompts="a\nb")
        assert "$8.00" in pro.text  # 2 x 8 s x $0.50
        assert re.findall(r'<option value="(\d+)"', pro.text) == ["4", "8", "12", "16", "20"]
        unknown = choices(client, model="no-such-model")
        assert unknown.status_code == 404 and 'role="alert"' in unknown.text
        client.get("/multiple")
        forged = client.post("/multiple/choices", data={"prompts": "a"}, headers=HTMX)
        assert forged.status_code == 403


def test_prompts_with_trouble_are_refused_by_line_and_nothing_is_sent(studio: Studio) -> None:
    with studio() as client:
        long = "x" * 40_000
        answer = start(client, prompts=f"a kite\n\n{long}\na heron\n")
        assert answer.status_code == 400
        assert re.search(r'<tr data-line="3"><td>line 3</td><td>[^<]*prompt', answer.text)
        assert 'data-line="1"' not in answer.text and 'data-line="4"' not in answer.text
        empty = start(client, prompts=" \n\n")
        assert empty.status_code == 400 and "at least one prompt" in empty.text
        many = start(client, prompts="\n".join(f"shot {i}" for i in range(101)))
        assert many.status_code == 400 and "up to 100" in many.text
        seconds = start(client, prompts="a kite", seconds="7")
        assert seconds.status_code == 400 and "line 1" in seconds.text
        for takes in ("0", "17", "many"):
            answer = start(client, mode="takes", prompts="a kite", takes=takes)
            assert answer.status_code == 400 and "number of takes" in answer.text, takes
        blank = start(client, mode="takes", prompts="  ", takes="2")
        assert blank.status_code == 400 and "prompt" in blank.text
        for answer in (empty, many, seconds, blank):
            assert 'role="alert"' in answer.text and "Traceback" not in answer.text
        assert videos(client) == [] and pipelines(client) == []


def test_start_needs_the_form_token(studio: Studio) -> None:
    with studio() as client:
        client.get("/multiple")
        for mode in ("prompts", "takes"):
            answer = start(client, csrf=False, mode=mode, prompts="a kite", takes="2")
            assert answer.status_code == 403 and "reload the page" in answer.text
        assert videos(client) == [] and pipelines(client) == []


def test_a_budget_refusal_is_shown_and_nothing_is_sent(studio: Studio) -> None:
    with studio() as client:
        rows = start(client, prompts="a\nb\nc", budget="0.5")
        assert rows.status_code == 400 and "estimated at $1.20" in rows.text
        takes = start(client, mode="takes", prompts="a kite", takes="4", budget="1")
        assert takes.status_code == 400 and "4 takes is estimated at $1.60" in takes.text
        assert videos(client) == [] and pipelines(client) == []


def test_prompts_in_rows_make_one_job_each_in_one_batch(studio: Studio) -> None:
    with studio() as client:
        answer = start(client, prompts="a lighthouse\n\na fox in snow\na heron\n")
        pipeline_id = started_id(answer)
        drain(client)
        [pipeline] = pipelines(client)
        assert pipeline.id == pipeline_id and pipeline.kind == "batch"
        assert pipeline.status is PipelineStatus.COMPLETED
        jobs = jobs_of(client, pipeline_id)
        assert sorted(job.prompt for job in jobs) == ["a fox in snow", "a heron", "a lighthouse"]
        assert {(job.model, job.seconds, job.size) for job in jobs} == {("sora-2", 4, "1280x720")}
        assert [row["line"] for row in pipeline.spec["rows"]] == [1, 3, 4]  # the textarea's
        assert len(videos(client)) == 3


def test_takes_of_one_prompt_make_a_variations_run_with_a_contact_sheet(studio: Studio) -> None:
    with studio() as client:
        answer = start(client, mode="takes", prompts="a paper boat\non a pond", takes="3")
        pipeline_id = started_id(answer)
        drain(client)
        [pipeline] = pipelines(client)
        assert pipeline.kind == "variations" and pipeline.status is PipelineStatus.COMPLETED
        assert pipeline.spec["prompt"] == "a paper boat\non a pond"
        assert (pipeline.output or "").endswith("contact.png")
        jobs = jobs_of(client, pipeline_id)
        assert sorted(job.pipeline_step or "" for job in jobs) == ["take-1", "take-2", "take-3"]
        sheet = client.get(f"/runs/{pipeline_id}/content")
        assert sheet.status_code == 200 and sheet.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_key_with_concurrency_1_renders_one_take_at_a_time(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "solo", concurrency=1)
    with studio() as client:
        sign_in(client, keys["solo"])
        answer = start(
            client, mode="takes", prompts="a kite", takes="3", concurrency="3", enhance="clean"
        )
        pipeline_id = started_id(answer)
        drain(client)
        [pipeline] = pipelines(client)
        assert pipeline.spec["request"]["parallel"] == 1 and pipeline.owner is not None
        jobs = jobs_of(client, pipeline_id)
        assert len(jobs) == 3 and all(job.status.value == "completed" for job in jobs)
        assert never_overlapping(jobs), [(j.submitted_at, j.completed_at) for j in jobs]
        # No chat model here: the enhancement keeps the prompt and says why.
        assert pipeline.spec["enhanced"]["style"] == "clean"
        assert any("enhancement failed" in note for note in pipeline.spec["notes"])
        busy = make_keys(settings, "busy", concurrency=1)
        client.cookies.clear()
        sign_in(client, busy["busy"])
        first = started_id(start(client, mode="takes", prompts="a kite", takes="2"))
        deadline = time.monotonic() + 10
        while not any(not job.status.finished for job in jobs_of(client, first)):
            assert time.monotonic() < deadline, "the first take never started"
            time.sleep(0.02)
        refused = start(client, prompts="another")  # its one slot is taken by the takes
        assert refused.status_code == 429 and "videos in progress" in refused.text
        drain(client)
        assert len(jobs_of(client, first)) == 2


def test_a_shared_reference_starts_every_take(studio: Studio) -> None:
    with studio() as client:
        answer = start(
            client, mode="takes", prompts="waves", takes="2", size="", reference=png((1280, 720))
        )
        pipeline_id = started_id(answer)
        drain(client)
        jobs = jobs_of(client, pipeline_id)
        assert {job.size for job in jobs} == {"1280x720"} and len(jobs) == 2
        broken = start(client, mode="takes", prompts="waves", takes="2", reference=b"nope")
        assert broken.status_code == 400 and 'role="alert"' in broken.text
