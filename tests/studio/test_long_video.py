"""The Long video page (prompt and length, and storyboards), fragment by fragment, through
FastAPI's test client: plans and previews, edits, refusals, and pipelines run to the end."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sorakit import media
from sorakit.ledger import JobRecord, PipelineRecord, PipelineStatus
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, png, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}
PROMPT = "A paper boat sails down a rain gutter, out to a river and on to the sea"


class _Fields(HTMLParser):
    """The named fields of a fragment, in order, with their values (as a browser would send)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "input" and named.get("name") and named.get("type") != "file":
            self.fields.append((str(named["name"]), named.get("value") or ""))
        elif tag == "textarea" and named.get("name"):
            self._textarea = str(named["name"])
            self.fields.append((self._textarea, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.fields[-1]
            self.fields[-1] = (name, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def fields_of(html: str) -> list[tuple[str, str]]:
    parser = _Fields()
    parser.feed(html)
    return parser.fields


def long_form(client: TestClient, **changes: str) -> dict[str, str]:
    form = {"prompt": PROMPT, "seconds": "8", "segments": "2", "model": "sora-2"}
    form |= {"size": "1280x720", "mode": "chain", "crossfade": "0"}
    return {"csrf_token": csrf_of(client.get("/long").text), **form, **changes}


def plan(client: TestClient, **changes: str) -> tuple[dict[str, str], Any]:
    form = long_form(client, **changes)
    return form, client.post("/long/plan", data=form, headers=HTMX)


def call(client: TestClient, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one of the app's coroutines on the test client's event loop."""
    assert client.portal is not None

    async def run() -> Any:
        return await function(*args, **kwargs)

    return client.portal.call(run)


def finished(client: TestClient, pipeline_id: str, timeout: float = 60.0) -> PipelineRecord:
    ledger = client.app.state.engine.ledger  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipeline: PipelineRecord = call(client, ledger.get_pipeline, pipeline_id)
        if pipeline.status is not PipelineStatus.RUNNING:
            return pipeline
        time.sleep(0.2)
    raise AssertionError(f"{pipeline_id} did not finish in {timeout} s")


def pipelines(client: TestClient) -> list[PipelineRecord]:
    ledger = client.app.state.engine.ledger  # type: ignore[attr-defined]
    found: list[PipelineRecord] = call(client, ledger.list_pipelines)
    return found


def steps_of(client: TestClient, pipeline_id: str) -> list[JobRecord]:
    ledger = client.app.state.engine.ledger  # type: ignore[attr-defined]
    jobs: list[JobRecord] = call(client, ledger.pipeline_jobs, pipeline_id)
    return jobs


def started_id(answer: Any) -> str:
    """The run page an htmx start is sent to."""
    assert answer.status_code < 400, answer.text
    match = re.fullmatch(r"/runs/([\w-]+)", answer.headers.get("hx-redirect", ""))
    assert match, answer.headers
    return match.group(1)


# --- prompt and length ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["chain", "extend", "keyframes"])
def test_the_plan_is_shown_for_each_mode_as_an_editable_table(studio: Studio, mode: str) -> None:
    with studio() as client:
        page = client.get("/long")
        assert page.status_code == 200 and 'href="/static/long.css"' in page.text
        assert re.findall(r'name="mode" value="(\w+)"', page.text) == [
            "chain",
            "extend",
            "keyframes",
        ]
        form, answer = plan(client, mode=mode, seconds="12", segments="")
        assert answer.status_code == 200, answer.text
        engine = client.app.state.engine  # type: ignore[attr-defined]
        request = LongRequest(PROMPT, 12, model="sora-2", mode=mode)  # type: ignore[arg-type]
        lengths = LongVideos(engine).lengths(request)[1]
        shown = [int(v) for n, v in fields_of(answer.text) if n == "segment_seconds"]
        assert shown == lengths and sum(shown) == 12
        assert answer.text.count('name="segment_prompt"') == len(lengths)
        assert 'id="plan-estimate">$1.20<' in answer.text  # 12 s at $0.10/s
        assert 'formaction="/long/render"' in answer.text
        prompts = [v for n, v in fields_of(answer.text) if n == "segment_prompt"]
        if mode == "keyframes":
            assert all("own start image" in text for text in prompts)
            drawn = f"{len(lengths)} start image{'s' if len(lengths) > 1 else ''} drawn first"
            assert f"keyframes: {drawn} with sim-image ($0.00, in the estimate)" in answer.text
        elif len(prompts) > 1:
            assert "final frame of the previous shot" in prompts[1]
        assert pipelines(client) == []  # planning records nothing


def test_the_estimate_follows_the_length_and_refuses_an_impossible_total(studio: Studio) -> None:
    with studio() as client:
        params = {"model": "sora-2", "seconds": "24", "segments": "3", "mode": "chain"}
        answer = client.get("/long/choices", params=params, headers=HTMX)
        assert answer.status_code == 200
        assert "3 segments (8 + 8 + 8 s)" in answer.text and "$2.40" in answer.text
        params |= {"model": "fal/veo-3.1", "mode": "extend", "seconds": "400", "segments": ""}
        answer = client.get("/long/choices", params=params, headers=HTMX)
        assert answer.status_code == 200 and "148 s by extension" in answer.text
        answer = client.get("/long/choices", params={"model": "no-such"}, headers=HTMX)
        assert answer.status_code == 404 and "no-such" in answer.text


def test_an_edited_plan_is_what_renders_for_the_tenant(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        form, answer = plan(client)
        assert answer.status_code == 200, answer.text
        fields = fields_of(answer.text)
        prompts = [v for n, v in fields if n == "segment_prompt"]
        edited = "EDITED: the boat bobs out into a calm blue sea at sunrise."
        body = [*form.items(), *edit(fields, "segment_prompt", 1, edited)]
        answer = client.post("/long/render", data=_multi(body), headers=HTMX)
        pipeline_id = started_id(answer)

        done = finished(client, pipeline_id)
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        videos = client.get("/v1/videos", headers=bearer(keys["alice"])).json()["data"]
        jobs = steps_of(client, pipeline_id)
        assert [job.pipeline_step for job in jobs] == ["segment-1", "segment-2"]
        assert [job.prompt for job in jobs] == [prompts[0], edited]
        assert {job.owner for job in jobs} == {done.owner} and done.owner is not None
        assert {video["id"] for video in videos} == {job.id for job in jobs}  # the tenant's
        assert done.output is not None
        duration = media.probe(done.output).duration
        assert duration == pytest.approx(8.0, abs=0.15)  # chained: the shared frame once


def edit(fields: list[tuple[str, str]], name: str, index: int, value: str) -> list[tuple[str, str]]:
    """The fields with the `index`-th (0-based) field called `name` set to `value`."""
    places = [i for i, (field, _) in enumerate(fields) if field == name]
    changed = list(fields)
    changed[places[index]] = (name, value)
    return changed


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form pairs as the test client sends repeated fields."""
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def test_a_bad_edit_is_readable_and_starts_nothing(studio: Studio) -> None:
    with studio() as client:
        form, answer = plan(client)
        fields = fields_of(answer.text)

        def render(name: str, value: str) -> Any:
            changed = edit(fields, name, 0, value)
            return client.post("/long/render", data=_multi([*form.items(), *changed]), headers=HTMX)

        refused = render("segment_seconds", "5")
        assert refused.status_code == 400 and 'role="alert"' in refused.text
        assert "the edited plan has segments of other lengths than asked" in refused.text
        assert "5 + 4 = 9 s" in refused.text and "4 + 4 = 8 s" in refused.text
        refused = render("segment_prompt", "  ")
        assert refused.status_code == 400 and "a segment prompt is empty" in refused.text
        refused = render("segment_seconds", "four")
        assert refused.status_code == 400 and "not a valid plan" in refused.text
        assert (
            "Traceback" not in refused.text
            and str(client.app.state.settings.home) not in refused.text
        )  # type: ignore[attr-defined]
        assert pipelines(client) == [] and client.get("/v1/videos").json()["data"] == []
        home = client.app.state.settings.home  # type: ignore[attr-defined]
        assert not list(home.glob("studio/long/*"))  # a refused render keeps no files


def test_render_with_a_first_frame_and_without_an_edited_plan(studio: Studio) -> None:
    with studio() as client:
        form = long_form(client, mode="keyframes")
        files = {"reference": ("first.png", png((1280, 720)), "image/png")}
        pipeline_id = started_id(client.post("/long/render", data=form, files=files, headers=HTMX))
        done = finished(client, pipeline_id)
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        reference = done.spec["request"]["reference"]
        assert reference.startswith(str(client.app.state.settings.home))  # type: ignore[attr-defined]
        bad = {"reference": ("first.png", b"not an image", "image/png")}
        refused = client.post("/long/render", data=form, files=bad, headers=HTMX)
        assert refused.status_code == 400 and "not a readable image" in refused.text


def test_missing_csrf_is_refused_and_plans_nothing(studio: Studio) -> None:
    with studio() as client:
        form = long_form(client)
        del form["csrf_token"]
        for path in ("/long/plan", "/long/render", "/long/storyboard/preview"):
            answer = client.post(path, data=form, headers=HTMX)
            assert answer.status_code == 403 and "reload the page" in answer.text, path
        assert pipelines(client) == []


def test_budget_refusals_are_readable_and_send_nothing(studio: Studio, settings: Settings) -> None:
    with studio(budget_usd=0.5) as client:  # the ledger-wide budget
        answer = client.post("/long/render", data=long_form(client), headers=HTMX)
        assert answer.status_code == 400 and "passes the budget of $0.50" in answer.text
        assert pipelines(client) == [] and client.get("/v1/videos").json()["data"] == []
        own = client.post("/long/render", data=long_form(client, budget="0.5"), headers=HTMX)
        assert own.status_code == 400  # the ledger-wide one refuses first
    with studio() as client:  # the pipeline's own budget
        answer = client.post("/long/render", data=long_form(client, budget="0.79"), headers=HTMX)
        assert answer.status_code == 400 and "passes its budget of $0.79" in answer.text
        board = {"csrf_token": csrf_of(client.get("/long/storyboard").text), "budget": "0.1"}
        board |= {"storyboard": "[4s] a red kite"}
        answer = client.post("/long/storyboard/render", data=board, headers=HTMX)
        assert answer.status_code == 400 and "passes its budget of $0.10" in answer.text
        assert pipelines(client) == [] and client.get("/v1/videos").json()["data"] == []
    keys = make_keys(settings, "bob", budget_usd=0.5)
    with studio() as client:  # the key's own budget
        sign_in(client, keys["bob"])
        answer = client.post("/long/render", data=long_form(client), headers=HTMX)
        assert answer.status_code == 400 and "this API key&#39;s budget of $0.50" in answer.text
        text = "[4s] a red kite [4s] it climbs"
        board = {"csrf_token": csrf_of(client.get("/long/storyboard").text), "storyboard": text}
        answer = client.post("/long/storyboard/render", data=board, headers=HTMX)
        assert answer.status_code == 400 and "this API key&#39;s budget" in answer.text
        assert pipelines(client) == []
        assert client.get("/v1/videos", headers=bearer(keys["bob"])).json()["data"] == []


def test_odd_input_is_never_a_server_error(studio: Studio) -> None:
    with studio() as client:
        for changes in (
            {"seconds": "1e309"},
            {"seconds": "-4"},
            {"segments": "0"},
            {"segments": "x"},
            {"mode": "sideways"},
            {"crossfade": "nan"},
            {"model": "no-such-model"},
            {"planner": "psychic"},
            {"enhance": "baroque"},
            {"budget": "lots"},
            {"budget": "-1"},
            {"prompt": " "},
            {"prompt": "x" * 40_000},
            {"mode": "keyframes", "model": "fal/veo-3.1"},  # no image model for the keyframes
        ):
            for path in ("/long/plan", "/long/render"):
                answer = client.post(path, data=long_form(client, **changes), headers=HTMX)
                assert 400 <= answer.status_code < 500, (path, changes, answer.text)
                assert 'role="alert"' in answer.text
        for query in ("seconds=%00", "segments=-1&seconds=9999999999999", "mode=%F0%9F%8E%A5"):
            assert client.get(f"/long/choices?{query}").status_code < 500
        assert pipelines(client) == []


def test_a_signed_out_browser_is_sent_to_sign_in(studio: Studio, settings: Settings) -> None:
    make_keys(settings, "erin")
    with studio() as client:
        for path in ("/long", "/long/storyboard", "/long/choices", "/remix-chain"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == "/sign-in", path
        for path in ("/long/plan", "/long/render", "/long/storyboard/preview", "/remix-chain"):
            answer = client.post(path, data={"prompt": "a kite"}, headers=HTMX)
            assert answer.status_code == 401 and answer.headers["hx-redirect"] == "/sign-in"
        assert pipelines(client) == []


def test_without_scripts_the_plan_comes_in_the_whole_page(studio: Studio) -> None:
    with studio() as client:
        form = long_form(client)
        answer = client.post("/long/plan", data=form)
        assert answer.status_code == 200 and "<!doctype html>" in answer.text
        assert PROMPT in answer.text and 'name="segment_prompt"' in answer.text
        refused = client.post("/long/plan", data=form | {"model": "no-such-model"})
        assert refused.status_code == 404 and "<!doctype html>" in refused.text
        assert 'role="alert"' in refused.text


# --- storyboards ----------------------------------------------------------------------------


def preview(client: TestClient, text: str, **changes: Any) -> Any:
    form = {"csrf_token": csrf_of(client.get("/long/storyboard").text), "storyboard": text}
    files = changes.pop("files", None)
    form |= {"model": "sora-2", **changes}
    return client.post("/long/storyboard/preview", data=form, files=files, headers=HTMX)


def test_a_bracket_storyboard_is_previewed_shot_by_shot(studio: Studio) -> None:
    with studio() as client:
        page = client.get("/long/storyboard")
        assert page.status_code == 200 and "[4s]" in page.text
        text = "{golden} A harbour at dawn.\n[5s] a fishing boat leaves\n\n[8s] gulls follow it"
        answer = preview(client, text, size="16:9")
        assert answer.status_code == 200, answer.text
        assert answer.text.count('class="shot"') == 2
        assert "13 s stitched" in answer.text and "$1.60" in answer.text  # 8 + 8 s rendered
        assert "(renders 8 s)" in answer.text
        assert "5 s renders as 8 s, trimmed to 5 s" in answer.text
        assert "size 16:9 -&gt; 1280x720" in answer.text
        assert "Golden hour light" in answer.text  # the style tag, applied to every shot
        assert "sora-2 · 1280x720" in answer.text
        assert pipelines(client) == []


def test_a_yaml_storyboard_is_previewed_and_its_errors_name_their_line(studio: Studio) -> None:
    yaml_board = (
        "title: Kites\nsize: 16:9\nscenes:\n"
        "  - prompt: a red kite rises\n    seconds: 4\n"
        "  - prompt: it loops twice\n    seconds: 6\n"
        "    transition: {type: crossfade, seconds: 0.5}\n"
    )
    with studio() as client:
        answer = preview(client, yaml_board, format="yaml")
        assert answer.status_code == 200, answer.text
        assert "Kites" in answer.text and answer.text.count('class="shot"') == 2
        assert "crossfade 0.5 s" in answer.text and "9.5 s stitched" in answer.text
        uploaded = preview(
            client, "", files={"storyboard_file": ("kites.yml", yaml_board.encode())}
        )
        assert uploaded.status_code == 200 and "Kites" in uploaded.text

        typo = yaml_board.replace("    seconds: 6", "    secnds: 6")
        answer = preview(client, typo, format="yaml")
        assert answer.status_code == 400 and "line 7" in answer.text and "secnds" in answer.text
        broken = preview(client, "scenes:\n  - prompt: [unclosed\n", format="yaml")
        assert broken.status_code == 400 and "not valid YAML" in broken.text
        assert "line" in broken.text
        json_board = '{"scenes": [{"prompt": "a kite", "seconds": 4}], "colour": 1}'
        answer = preview(client, json_board, format="json")
        assert answer.status_code == 400 and "colour" in answer.text

        line = preview(client, "[4s] a kite\n[5s] it climbs\n[3s]   \n", format="text")
        assert line.status_code == 400 and "Shot 3 ([3s] at line 3) has no prompt" in line.text


def test_a_template_include_and_a_server_file_are_refused(studio: Studio) -> None:
    with studio() as client:
        include = "template: \"{% include 'secrets.txt' %}\"\nscenes:\n  - a kite\n"
        answer = preview(client, include, format="yaml")
        assert answer.status_code == 400
        assert "may not include, import or extend other templates" in answer.text
        reference = (
            "scenes:\n  - prompt: a kite\n  - prompt: it climbs\n    reference: /etc/hostname\n"
        )
        answer = preview(client, reference, format="yaml")
        assert answer.status_code == 400 and "line 4" in answer.text
        assert "cannot name &#39;reference&#39; images" in answer.text
        answer = preview(
            client, '{"scenes": [{"prompt": "a", "reference": "/etc/x"}]}', format="json"
        )
        assert answer.status_code == 400 and "reference" in answer.text
        # Text is never read as a path on the server, even one that names a file.
        answer = preview(client, "/etc/hostname", format="text")
        assert answer.status_code == 400 and "has no shots" in answer.text
        bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, {reference: /etc/x}]\n"
        answer = preview(client, bomb, format="yaml")
        assert answer.status_code == 400 and "line 4" in answer.text
        home = str(client.app.state.settings.home)  # type: ignore[attr-defined]
        assert not list((client.app.state.settings.home / "studio").glob("storyboards/*"))  # type: ignore[attr-defined]
        assert home not in answer.text


def test_a_storyboard_renders_for_the_tenant_and_is_stitched(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "carol", concurrency=1)
    with studio() as client:
        sign_in(client, keys["carol"])
        board = "title: Two shots\nscenes:\n  - {prompt: a red kite, seconds: 4}\n  - {prompt: it climbs, seconds: 3}\n"
        form = {"csrf_token": csrf_of(client.get("/long/storyboard").text), "storyboard": board}
        form |= {"format": "yaml", "model": "sora-2"}
        pipeline_id = started_id(client.post("/long/storyboard/render", data=form, headers=HTMX))
        done = finished(client, pipeline_id)
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        assert done.spec["request"]["parallel"] == 1  # the key's one slot
        jobs = steps_of(client, pipeline_id)
        assert [job.prompt for job in jobs] == ["a red kite", "it climbs"]
        assert {job.owner for job in jobs} == {done.owner} and done.owner is not None
        assert done.output is not None
        assert media.probe(done.output).duration == pytest.approx(7.0, abs=0.15)


def test_a_keys_concurrency_holds_in_keyframes_mode(studio: Studio, settings: Settings) -> None:
    """Keyframes could render every segment at once; a key with one slot renders one at a time."""
    keys = make_keys(settings, "dana", concurrency=1)
    with studio() as client:
        sign_in(client, keys["dana"])
        form = long_form(client, mode="keyframes", seconds="12", segments="3")
        done = finished(client, started_id(client.post("/long/render", data=form, headers=HTMX)))
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        assert done.spec["request"]["parallel"] == 1  # the key's one slot
        jobs = sorted(steps_of(client, done.id), key=lambda job: job.created_at)
        assert [job.kind for job in jobs] == ["image"] * 3 + ["generate"] * 3  # keyframes first
        for earlier, later in zip(jobs, jobs[1:], strict=False):
            assert earlier.completed_at is not None
            assert later.created_at >= earlier.completed_at, "two jobs ran at once"
