"""The run page: a tenant's pipeline run by the server, its steps live, its output, its resume."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from starlette.requests import Request

from sorakit import media
from sorakit.engine import Engine, Owner
from sorakit.ledger import JobStatus, PipelineRecord, PipelineStatus
from sorakit.pipelines.batch import Batches, BatchRequest
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.pipelines.remixes import RemixChainRequest, RemixChains
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.pipelines.steps import owner_fields
from sorakit.pipelines.variations import Variations, VariationsRequest
from sorakit.providers.simulator import SimulatorProvider
from sorakit.settings import Settings
from sorakit.studio.render import Studio as StudioView
from sorakit.studio.runs import started
from tests.pipelines.test_long import creates
from tests.pipelines.test_owners import SecondCreateModerated
from tests.studio.conftest import csrf_of, make_keys, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}


def _portal(client: TestClient) -> Any:
    assert client.portal is not None
    return client.portal


def _engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return engine


def _owner(client: TestClient, name: str) -> Owner:
    [key] = [k for k in _portal(client).call(_engine(client).ledger.list_keys) if k.name == name]
    return Owner(key.id, key.budget_usd)


def _start(client: TestClient, owner: Owner, *, htmx: bool = False) -> tuple[PipelineRecord, Any]:
    """Record a 2-segment long video for `owner` and start it as a page does: `runs.started`."""
    app = client.app
    request = LongRequest(
        "a lighthouse through the seasons", 8, segments=2, planner="offline", **owner_fields(owner)
    )

    async def begin() -> tuple[PipelineRecord, Any]:
        pipeline = await LongVideos(_engine(client)).start(request)
        headers = [(b"hx-request", b"true")] if htmx else []
        scope = {"type": "http", "app": app, "headers": headers, "method": "POST", "path": "/"}
        view = StudioView(
            request=Request(scope),
            engine=_engine(client),
            gatekeeper=app.state.gatekeeper,  # type: ignore[attr-defined]
            settings=app.state.settings,  # type: ignore[attr-defined]
            watcher=app.state.supervisor,  # type: ignore[attr-defined]
            session=None,
            principal=None,
        )
        return pipeline, started(view, pipeline)

    result: tuple[PipelineRecord, Any] = _portal(client).call(begin)
    return result


def _drain(client: TestClient) -> None:
    _portal(client).call(client.app.state.pipelines.drain)  # type: ignore[attr-defined]


def _events(client: TestClient, pipeline_id: str) -> str:
    with client.stream("GET", f"/runs/{pipeline_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        return "".join(stream.iter_text())


def test_a_long_video_runs_on_the_server_and_plays_on_its_page(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio() as client:
        sign_in(client, keys["alice"])
        alice = _owner(client, "alice")
        pipeline, answer = _start(client, alice)
        assert answer.status_code == 303 and answer.headers["location"] == f"/runs/{pipeline.id}"
        assert client.app.state.pipelines.running(pipeline.id)  # type: ignore[attr-defined]

        # While it runs, the events send the steps as they change, then `done`.
        stream = _events(client, pipeline.id)
        assert stream.count("event: steps") >= 2 and stream.rstrip().endswith("</div>")
        assert stream.index("event: done") > stream.rindex("event: steps")
        assert "segment-1" in stream and "rendering" not in stream.split("event: done")[1]
        _drain(client)

        page = client.get(f"/runs/{pipeline.id}")
        assert page.status_code == 200
        assert "Long video" in page.text and "/static/runs.css" in page.text
        assert re.search(r'data-status="completed"', page.text)
        jobs = _portal(client).call(_engine(client).ledger.pipeline_jobs, pipeline.id)
        assert [job.pipeline_step for job in jobs] == ["segment-1", "segment-2"]
        assert {job.owner for job in jobs} == {alice.key_id}
        for job in jobs:
            assert f'href="/jobs/{job.id}"' in page.text
        assert page.text.count("100%") >= 2 and "$0.80 spent" in page.text
        assert (
            f'<video id="result" controls preload="metadata" src="/runs/{pipeline.id}/content"'
            in page.text
        )
        assert "sse-connect" not in page.text  # finished: nothing to follow

        video = client.get(f"/runs/{pipeline.id}/content")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        (settings.home / "played.mp4").write_bytes(video.content)
        assert abs(media.probe(settings.home / "played.mp4").duration - 8.0) < 0.2
        part = client.get(f"/runs/{pipeline.id}/content", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100
        download = client.get(f"/runs/{pipeline.id}/content", params={"download": 1})
        assert download.headers["content-disposition"].startswith("attachment")
        done = _events(client, pipeline.id)
        assert done.startswith("event: done") and "event: steps" not in done

        # Bob sees none of it: the same answer as for a pipeline that does not exist.
        sign_in(client, keys["bob"])
        missing = client.get("/runs/long_000000000000000000000000")
        assert missing.status_code == 404
        for path in ("", "/events", "/content"):
            other = client.get(f"/runs/{pipeline.id}{path}")
            assert other.status_code == 404
            assert other.text == missing.text.replace("long_000000000000000000000000", pipeline.id)

        # Nobody signed in is sent to sign in.
        client.cookies.clear()
        for path in ("", "/events", "/content"):
            away = client.get(f"/runs/{pipeline.id}{path}")
            assert away.status_code == 303 and away.headers["location"] == "/sign-in"


def test_started_answers_htmx_with_a_redirect_header(studio: Studio, settings: Settings) -> None:
    make_keys(settings, "alice")
    with studio() as client:
        pipeline, answer = _start(client, _owner(client, "alice"), htmx=True)
        assert answer.status_code == 200 and answer.headers["hx-redirect"] == f"/runs/{pipeline.id}"
        _drain(client)


def test_a_failed_pipeline_says_why_and_its_resume_reuses_the_finished_steps(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        simulator = _engine(client).providers.get("simulator")
        assert isinstance(simulator, SimulatorProvider)
        simulator.faults = SecondCreateModerated()  # segment 2 is refused, once
        pipeline, _ = _start(client, _owner(client, "alice"))
        _drain(client)

        page = client.get(f"/runs/{pipeline.id}")
        assert 'data-status="failed"' in page.text
        assert "moderation" in page.text.lower()  # why, in the provider's words
        assert f'action="/runs/{pipeline.id}/resume"' in page.text
        [first, refused] = _portal(client).call(_engine(client).ledger.pipeline_jobs, pipeline.id)
        assert (first.status, refused.status) == (JobStatus.COMPLETED, JobStatus.FAILED)
        assert creates(settings) == 2

        # A resume without the form's token is refused, and nothing starts.
        forged = client.post(f"/runs/{pipeline.id}/resume", data={"csrf_token": "nope"})
        assert forged.status_code == 403
        assert not client.app.state.pipelines.running(pipeline.id)  # type: ignore[attr-defined]

        resumed = client.post(
            f"/runs/{pipeline.id}/resume", data={"csrf_token": csrf_of(page.text)}
        )
        assert resumed.status_code == 303 and resumed.headers["location"] == f"/runs/{pipeline.id}"
        _drain(client)
        record = _portal(client).call(_engine(client).ledger.get_pipeline, pipeline.id)
        assert record.status is PipelineStatus.COMPLETED
        jobs = _portal(client).call(_engine(client).ledger.pipeline_jobs, pipeline.id)
        assert [job.pipeline_step for job in jobs] == ["segment-1", "segment-2", "segment-2#2"]
        assert jobs[0].id == first.id  # segment 1 was reused, not made (nor paid for) again
        assert creates(settings) == 3

        page = client.get(f"/runs/{pipeline.id}")
        assert 'data-status="completed"' in page.text and "/resume" not in page.text
        assert client.get(f"/runs/{pipeline.id}/content").status_code == 200
        again = client.post(f"/runs/{pipeline.id}/resume", data={"csrf_token": csrf_of(page.text)})
        assert again.status_code == 400 and "only a stopped one can be resumed" in again.text


def _other_kinds(folder: Path) -> dict[str, Any]:
    rows = folder / "rows.jsonl"
    rows.write_text('{"prompt": "a lantern", "seconds": 4}\n{"prompt": "a kite", "n": 2}\n')
    return {
        "batch": (Batches, BatchRequest(str(rows))),
        "variations": (Variations, VariationsRequest("a koi pond", 2, seconds=4)),
        "remix_chain": (RemixChains, RemixChainRequest("a red kite", ["make it blue"])),
        "storyboard": (
            Storyboards,
            StoryboardRequest("[4s] a door opens [4s] a dog runs out", text_only=True),
        ),
    }


def test_every_kind_shows_its_steps_and_its_output(
    studio: Studio, settings: Settings, tmp_path: Path
) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        alice = _owner(client, "alice")
        pages = {}
        for kind, (runner, request) in _other_kinds(tmp_path).items():
            request = replace(request, **owner_fields(alice))
            pipeline = _portal(client).call(runner(_engine(client)).start, request)
            _portal(client).call(_started_here, client, pipeline)
            pages[kind] = pipeline
        _drain(client)
        for kind, pipeline in pages.items():
            page = client.get(f"/runs/{pipeline.id}")
            assert page.status_code == 200, (kind, page.text)
            assert 'data-status="completed"' in page.text, kind
            assert "waiting" not in page.text
        batch = pages["batch"].id
        steps = re.findall(r'data-step="([^"]+)"', client.get(f"/runs/{batch}").text)
        assert steps == ["row-1", "row-2", "row-2-v2"]
        report = client.get(f"/runs/{batch}/files/report.csv")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
        assert "row-2-v2" in report.text
        assert client.get(f"/runs/{batch}/files/rows.jsonl").status_code == 404
        assert client.get(f"/runs/{batch}/content").headers["content-type"] == "application/json"
        takes = client.get(f"/runs/{pages['variations'].id}").text
        assert f'src="/runs/{pages["variations"].id}/content"' in takes  # the contact sheet
        assert takes.count('src="/jobs/') == 2  # each take plays from its own job
        sheet = client.get(f"/runs/{pages['variations'].id}/content")
        assert sheet.headers["content-type"] == "image/png"
        for kind in ("remix_chain", "storyboard"):
            video = client.get(f"/runs/{pages[kind].id}/content")
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"


async def _started_here(client: TestClient, pipeline: PipelineRecord) -> None:
    client.app.state.pipelines.start(pipeline.id)  # type: ignore[attr-defined]
