"""The Batch page through FastAPI's test client: the check, every bad row by line, the start."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sorakit.ledger import JobRecord, PipelineRecord, PipelineStatus
from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, png, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}

GOOD_JSONL = (
    '{"prompt": "a red kite over a beach", "seconds": 4}\n'
    "\n"
    "# a comment line\n"
    '{"prompt": "a lighthouse at night", "model": "sora-2-pro", "size": "1792x1024", "n": 2}\n'
)
"""Two rows on lines 1 and 4: one 4 s sora-2 ($0.40) and two takes of sora-2-pro."""


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def post_batch(
    client: TestClient,
    content: str | bytes,
    *,
    name: str = "shots.jsonl",
    path: str = "/batch/check",
    reference: bytes | None = None,
    csrf: bool = True,
    **fields: str,
) -> httpx.Response:
    """Send a file to the check (or, with `path="/batch"`, to Start) as the page's form does."""
    data = dict(fields)
    if csrf:
        data["csrf_token"] = csrf_of(client.get("/batch").text)
    files: dict[str, tuple[str, bytes, str]] = {
        "file": (name, content.encode() if isinstance(content, str) else content, "text/plain")
    }
    if reference is not None:
        files["reference"] = ("first.png", reference, "image/png")
    return client.post(path, data=data, files=files, headers=HTMX)


def lines_shown(html: str) -> list[int]:
    """The lines of the good rows the check lists, in order."""
    table = html.split('<table class="rows">', 1)[-1] if '<table class="rows">' in html else ""
    return [int(line) for line in re.findall(r'<tr data-line="(\d+)">', table)]


def bad_lines(html: str) -> dict[int, str]:
    """Line -> reason, from the bad rows' table."""
    found = re.findall(r'<tr data-line="(\d+)"><td>line \d+</td><td>([^<]*)</td>', html)
    return {int(line): reason for line, reason in found}


def videos(client: TestClient, token: str | None = None) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data: list[dict[str, Any]] = client.get("/v1/videos", headers=headers).json()["data"]
    return data


def pipelines(client: TestClient) -> list[PipelineRecord]:
    records: list[PipelineRecord] = client.portal.call(
        client.app.state.engine.ledger.list_pipelines
    )
    return records


def jobs_of(client: TestClient, pipeline_id: str) -> list[JobRecord]:
    jobs: list[JobRecord] = client.portal.call(
        client.app.state.engine.ledger.pipeline_jobs, pipeline_id
    )
    return jobs


def drain(client: TestClient) -> None:
    """Wait for every pipeline the server started to end."""
    client.portal.call(client.app.state.pipelines.drain)


def started_id(answer: httpx.Response) -> str:
    """The run page a Start answer sends the browser to."""
    assert answer.status_code in (200, 204, 303), answer.text
    target = answer.headers.get("hx-redirect") or answer.headers.get("location") or ""
    match = re.fullmatch(r"/runs/([\w-]+)", target)
    assert match, (answer.status_code, dict(answer.headers), answer.text)
    return match.group(1)


# the check


def test_the_page_offers_the_file_the_options_and_the_engines_styles(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/batch")
        assert page.status_code == 200
        assert 'aria-current="page">Batch' in page.text
        assert 'hx-post="/batch/check"' in page.text and 'name="file"' in page.text
        for field in ("concurrency", "rpm", "budget", "enhance", "reference", "new"):
            assert f'name="{field}"' in page.text, field
        assert re.findall(r'<option value="(\w+)">', page.text) == ["director", "pixar", "clean"]
        assert client.get("/static/batch.css").headers["content-type"].startswith("text/css")


def test_a_good_jsonl_lists_its_rows_as_planned_with_the_estimate(studio: Studio) -> None:
    with studio() as client:
        answer = post_batch(client, GOOD_JSONL)
        assert answer.status_code == 200, answer.text
        html = answer.text
        assert lines_shown(html) == [1, 4]
        assert bad_lines(html) == {}
        first, second = html.split('<tr data-line="4">')
        assert "sora-2" in first and "4 s" in first and "720x1280" in first and "$0.40" in first
        assert "sora-2-pro" in second and "1792x1024" in second  # 2 takes x 4 s x $0.50
        assert "<td>2</td>" in second and "$4.00" in second
        assert '<th id="batch-total">$4.40</th>' in html
        assert 'id="start"' in html and "Start 3 videos · $4.40" in html
        assert videos(client) == [] and pipelines(client) == []


def test_a_good_csv_lists_its_rows_by_their_lines(studio: Studio) -> None:
    with studio() as client:
        csv_text = 'prompt,seconds,size\n"a fox, in snow",8,720x1280\n\na heron,4,\n'
        answer = post_batch(client, csv_text, name="shots.csv")
        assert answer.status_code == 200, answer.text
        assert lines_shown(answer.text) == [2, 4]
        assert "a fox, in snow" in answer.text and "720x1280" in answer.text
        assert "$0.80" in answer.text and '<th id="batch-total">$1.20</th>' in answer.text
        assert 'id="start"' in answer.text


def test_bad_rows_are_listed_by_line_and_nothing_is_created(studio: Studio) -> None:
    with studio() as client:
        text = (
            '{"prompt": "fine"}\n'
            '{"prompt": "broken\n'
            '{"prompt": "x", "model": "no-such-model"}\n'
            '{"prompt": "x", "seconds": 7}\n'
            '{"prompt": "   "}\n'
            '{"prompt": "x", "reference": "/etc/hostname"}\n'
            '["not", "an", "object"]\n'
            '{"prompt": "also fine", "n": 2}\n'
        )
        answer = post_batch(client, text)
        assert answer.status_code == 200, answer.text
        bad = bad_lines(answer.text)
        assert sorted(bad) == [2, 3, 4, 5, 6, 7], bad
        assert "is not JSON" in bad[2]
        assert "no-such-model" in bad[3]
        assert "7" in bad[4] and "seconds" in bad[4].lower()
        assert "prompt" in bad[5]
        assert "reference" in bad[6] and "hostname" not in answer.text.split("</table>")[0]
        assert "JSON object" in bad[7]
        assert "6 bad rows in shots.jsonl" in answer.text and "nothing was sent" in answer.text
        assert lines_shown(answer.text) == [1, 8]  # the good ones are still listed
        assert 'id="start"' not in answer.text
        started = post_batch(client, text, path="/batch")  # Start pressed anyway
        assert started.status_code == 400 and "line 2, 3, 4, 5, 6, 7" in started.text
        assert videos(client) == [] and pipelines(client) == []


def test_a_csv_without_a_prompt_column_is_refused_by_line(studio: Studio) -> None:
    with studio() as client:
        answer = post_batch(client, "model,seconds\nsora-2,4\nsora-2,8\n", name="rows.csv")
        assert bad_lines(answer.text) == {
            2: "&#39;prompt&#39; is missing",
            3: "&#39;prompt&#39; is missing",
        }
        extra = post_batch(client, "prompt,seconds\na kite,4,oops\nfine,4\n", name="rows.csv")
        assert bad_lines(extra.text) == {2: "has more cells than the header"}
        assert lines_shown(extra.text) == [3]
        assert videos(client) == []


def test_files_that_are_not_batch_text_are_refused_readably(studio: Studio) -> None:
    with studio() as client:
        image = post_batch(client, png(), name="photo.png")
        assert image.status_code == 400 and "not a UTF-8 text file" in image.text
        nul = post_batch(client, "prompt\x00,seconds\n", name="rows.csv")
        assert nul.status_code == 400 and "not a text file" in nul.text
        big = post_batch(client, '{"prompt": "x"}\n' * 70_000)
        assert big.status_code == 400 and "studio takes files up to" in big.text
        empty = post_batch(client, b"")
        assert empty.status_code == 400 and "is empty" in empty.text
        blank = post_batch(client, "\n# only a comment\n")
        assert blank.status_code == 200 and "has no rows" in blank.text
        assert 'id="start"' not in blank.text
        many = post_batch(client, jsonl(*({"prompt": f"shot {i}"} for i in range(501))))
        assert many.status_code == 400 and "up to 500" in many.text
        for answer in (image, nul, big, empty, many):
            assert 'role="alert"' in answer.text and "Traceback" not in answer.text
            assert "/tmp" not in answer.text and "sorakit-batch-" not in answer.text
        assert videos(client) == [] and pipelines(client) == []


def test_a_shared_reference_plans_every_row_from_it(studio: Studio) -> None:
    with studio(fal_key=SecretStr("key-id:key-secret")) as client:
        text = jsonl(
            {"prompt": "waves"},
            {"prompt": "dunes", "size": "720x1280"},
            {"prompt": "rain", "model": "fal/veo-3.1-fast"},
        )
        plain = post_batch(client, text)
        assert lines_shown(plain.text) == [1, 2, 3] and "720x1280" in plain.text
        answer = post_batch(client, text, reference=png((1280, 720)))
        assert answer.status_code == 200, answer.text
        first = answer.text.split('<tr data-line="2">')[0]
        assert "1280x720" in first  # the landscape photo picks the size a row leaves open
        assert lines_shown(answer.text) == [1, 2]
        assert "does not take an image reference" in bad_lines(answer.text)[3]
        broken = post_batch(client, text, reference=b"not an image")
        assert broken.status_code == 400 and 'role="alert"' in broken.text


def test_the_check_and_the_start_need_the_form_token(studio: Studio) -> None:
    with studio() as client:
        client.get("/batch")
        for path in ("/batch/check", "/batch"):
            answer = post_batch(client, GOOD_JSONL, path=path, csrf=False)
            assert answer.status_code == 403 and "reload the page" in answer.text
        assert videos(client) == [] and pipelines(client) == []


def test_bad_options_are_refused_readably_before_anything_is_sent(studio: Studio) -> None:
    with studio() as client:
        for fields, words in (
            ({"concurrency": "0"}, "concurrency must be a whole number"),
            ({"concurrency": "2.5"}, "concurrency must be a whole number"),
            ({"rpm": "-1"}, "RPM must be more than 0"),
            ({"rpm": "fast"}, "RPM must be a number"),
            ({"budget": "nan"}, "budget must be a number"),
            ({"enhance": "baroque"}, "unknown enhancement style"),
        ):
            answer = post_batch(client, GOOD_JSONL, path="/batch", **fields)
            assert answer.status_code == 400 and words in answer.text, (fields, answer.text)
        assert videos(client) == [] and pipelines(client) == []


# budgets


def test_budget_refusals_are_shown_and_nothing_is_sent(studio: Studio, settings: Settings) -> None:
    with studio() as client:  # the batch's own budget
        answer = post_batch(client, GOOD_JSONL, path="/batch", budget="1")
        assert answer.status_code == 400 and "estimated at $4.40" in answer.text
        assert "its budget of $1.00" in answer.text and "nothing was sent" in answer.text
        assert videos(client) == [] and pipelines(client) == []
    with studio(budget_usd=2.0) as client:  # the server's
        answer = post_batch(client, GOOD_JSONL, path="/batch")
        assert answer.status_code == 400 and "the budget of $2.00" in answer.text
        assert videos(client) == [] and pipelines(client) == []
    keys = make_keys(settings, "alice", budget_usd=1.0)
    with studio() as client:  # the key's
        sign_in(client, keys["alice"])
        answer = post_batch(client, GOOD_JSONL, path="/batch")
        assert answer.status_code == 400 and "API key&#39;s budget of $1.00" in answer.text
        assert videos(client, keys["alice"]) == [] and pipelines(client) == []


# the start


def key_id(client: TestClient, name: str) -> str:
    keys = client.portal.call(client.app.state.engine.ledger.list_keys)
    return str(next(key.id for key in keys if key.name == name))


def never_overlapping(jobs: list[JobRecord]) -> bool:
    """Whether no two of the jobs were in flight (submitted, not yet finished) at once."""
    spans = sorted((job.submitted_at or 0.0, job.completed_at or 0.0) for job in jobs)
    return all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))


def test_start_runs_the_batch_for_the_tenant_and_no_other_tenant_sees_it(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio() as client:
        sign_in(client, keys["alice"])
        answer = post_batch(client, GOOD_JSONL, path="/batch")
        pipeline_id = started_id(answer)
        drain(client)
        [pipeline] = pipelines(client)
        alice = key_id(client, "alice")
        assert pipeline.id == pipeline_id and pipeline.kind == "batch"
        assert pipeline.owner == alice and pipeline.status is PipelineStatus.COMPLETED
        assert pipeline.title == "shots.jsonl (2 rows)"
        jobs = jobs_of(client, pipeline_id)
        assert len(jobs) == 3 and {job.owner for job in jobs} == {alice}
        assert {job.status.value for job in jobs} == {"completed"}
        assert sorted(job.pipeline_step or "" for job in jobs) == ["row-1", "row-2", "row-2-v2"]
        assert len(videos(client, keys["alice"])) == 3
        report = json.loads(Path(pipeline.output or "").read_text("utf-8"))
        assert [row["line"] for row in report["rows"]] == [1, 4, 4]  # the person's lines
        assert report["totals"]["completed"] == 3
        assert client.get(f"/runs/{pipeline_id}").status_code == 200
        # Another tenant sees neither the run nor its videos.
        client.cookies.clear()
        sign_in(client, keys["bob"])
        assert client.get(f"/runs/{pipeline_id}").status_code == 404
        assert videos(client, keys["bob"]) == []


def test_the_same_file_again_resumes_its_batch_and_new_starts_another(studio: Studio) -> None:
    with studio() as client:
        first = started_id(post_batch(client, GOOD_JSONL, path="/batch"))
        drain(client)
        again = started_id(post_batch(client, GOOD_JSONL, path="/batch"))
        drain(client)
        assert again == first and len(jobs_of(client, first)) == 3  # nothing paid twice
        other = started_id(post_batch(client, GOOD_JSONL, path="/batch", new="on"))
        drain(client)
        assert other != first and len(pipelines(client)) == 2


def test_a_key_with_concurrency_1_never_has_two_rows_rendering(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "solo", concurrency=1)
    rows = jsonl(*({"prompt": f"shot {i}"} for i in range(3)))
    with studio() as client:
        sign_in(client, keys["solo"])
        pipeline_id = started_id(post_batch(client, rows, path="/batch", concurrency="8"))
        drain(client)
        [pipeline] = pipelines(client)
        assert pipeline.spec["request"]["concurrency"] == 1  # what the key has left
        jobs = jobs_of(client, pipeline_id)
        assert len(jobs) == 3 and all(job.status.value == "completed" for job in jobs)
        assert never_overlapping(jobs), [(j.submitted_at, j.completed_at) for j in jobs]


def test_rows_are_paced_at_the_keys_rpm_and_a_start_counts_once(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "paced", rpm=1)
    rows = jsonl(*({"prompt": f"shot {i}"} for i in range(2)))
    with studio(simulator_render_seconds=0.1) as client:
        sign_in(client, keys["paced"])
        started_id(post_batch(client, rows, path="/batch", rpm="600"))
        # The key's one create a minute is spent on the batch: the next start waits.
        refused = post_batch(client, GOOD_JSONL, path="/batch", new="on")
        assert refused.status_code == 429 and "1 videos per minute" in refused.text
        [pipeline] = pipelines(client)
        assert pipeline.spec["request"]["rpm"] == 1  # the key's, not the 600 asked for
        deadline = time.monotonic() + 10
        while not any(job.submitted_at for job in jobs_of(client, pipeline.id)):
            assert time.monotonic() < deadline, "the first row was never sent"
            time.sleep(0.05)
        time.sleep(1.0)  # at 600 a minute the second would be sent by now; at 1, in a minute
        assert sum(1 for job in jobs_of(client, pipeline.id) if job.submitted_at) == 1
        client.portal.call(client.app.state.pipelines.stop)  # a minute per row: not waited


def test_a_model_the_key_may_not_use_refuses_the_batch(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "narrow", models=["sora-2"])
    with studio() as client:
        sign_in(client, keys["narrow"])
        answer = post_batch(client, GOOD_JSONL, path="/batch")
        assert (
            answer.status_code == 403
            and "may not use the model &#39;sora-2-pro&#39;" in answer.text
        )
        assert pipelines(client) == [] and videos(client, keys["narrow"]) == []
        ok = post_batch(client, jsonl({"prompt": "a kite"}), path="/batch")
        started_id(ok)
        drain(client)


def test_a_shared_reference_and_enhancement_reach_every_row(studio: Studio) -> None:
    with studio() as client:
        text = jsonl({"prompt": "waves"}, {"prompt": "dunes"})
        answer = post_batch(
            client, text, path="/batch", reference=png((1280, 720)), enhance="clean"
        )
        pipeline_id = started_id(answer)
        drain(client)
        jobs = jobs_of(client, pipeline_id)
        assert len(jobs) == 2 and {job.size for job in jobs} == {"1280x720"}
        assert all(job.status.value == "completed" for job in jobs)
        [pipeline] = pipelines(client)
        references = {row["reference"] for row in pipeline.spec["rows"]}
        assert len(references) == 1 and str(settings_home(client)) in next(iter(references))
        # No chat model is configured here: enhancement keeps each prompt as it was.
        assert sorted(row["prompt"] for row in pipeline.spec["rows"]) == ["dunes", "waves"]


def settings_home(client: TestClient) -> object:
    return client.app.state.settings.home


def test_without_javascript_the_check_is_a_page_and_start_redirects(studio: Studio) -> None:
    with studio() as client:
        token = csrf_of(client.get("/batch").text)
        files = {"file": ("shots.jsonl", GOOD_JSONL.encode(), "text/plain")}
        page = client.post("/batch/check", data={"csrf_token": token}, files=files)
        assert page.status_code == 200 and "<html" in page.text and lines_shown(page.text) == [1, 4]
        start = client.post("/batch", data={"csrf_token": token}, files=files)
        assert start.status_code == 303 and start.headers["location"].startswith("/runs/batch_")
        drain(client)
