"""Pipelines started from the studio's pages count against the active project (picked on the
budget page), as a video from the Create page does, and a project's cap refuses one it cannot
pay for whole, naming the project, with nothing sent."""

from __future__ import annotations

import html

import pytest

from sorakit.ledger import PipelineStatus
from sorakit.settings import Settings
from tests.studio.conftest import make_keys, sign_in
from tests.studio.test_budget import FAST, HTMX, Studio, meter, post, scope_ids
from tests.studio.test_long_video import call, finished, long_form, pipelines, started_id


def _project_spend(client: object, scope_id: str) -> float:
    ledger = client.app.state.engine.ledger  # type: ignore[attr-defined]
    return float(call(client, ledger.spend, scope_id=scope_id).total)  # type: ignore[arg-type]


def test_a_long_video_counts_against_the_active_project(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice")
    with studio(**FAST) as client:
        sign_in(client, keys["alice"])
        status, page, _ = post(client, "/budget/projects", name="Trailer", cap="5")
        assert status == 200, page
        (trailer,) = scope_ids(page)
        answer = client.post("/long/render", data=long_form(client), headers=HTMX)  # 8 s: $0.80
        done = finished(client, started_id(answer))
        assert done.status is PipelineStatus.COMPLETED, done.error_message
        assert done.spec["request"]["owner_scope_id"] == trailer
        assert _project_spend(client, trailer) == pytest.approx(0.8)
        assert meter(client) == (0.8, 5.0, "project Trailer")
        # With no project active, the next one counts against none.
        assert post(client, "/budget/active", project="")[0] == 200
        answer = client.post("/long/render", data=long_form(client), headers=HTMX)
        again = finished(client, started_id(answer))
        assert again.spec["request"]["owner_scope_id"] is None
        assert _project_spend(client, trailer) == pytest.approx(0.8)


def test_a_project_cap_too_small_refuses_the_start_naming_the_project(studio: Studio) -> None:
    with studio(**FAST) as client:  # the open studio: projects of the keyless ledger
        status, page, _ = post(client, "/budget/projects", name="Teaser", cap="0.50")
        assert status == 200, page
        scope_ids_before = scope_ids(page)
        answer = client.post("/long/render", data=long_form(client), headers=HTMX)
        text = html.unescape(answer.text)
        assert answer.status_code == 400, text
        assert "estimated at $0.80" in text and 'project "Teaser"\'s budget of $0.50' in text
        assert pipelines(client) == [] and client.get("/v1/videos").json()["data"] == []
        # A project closed elsewhere (`sorakit budgets`) while active refuses too, rather
        # than spend outside the project the person thinks is active.
        status, page, _ = post(client, "/budget/projects", name="Gone", cap="")
        assert status == 200, page
        (gone,) = [scope for scope in scope_ids(page) if scope not in scope_ids_before]
        ledger = client.app.state.engine.ledger  # type: ignore[attr-defined]
        call(client, ledger.close_scope, gone)
        answer = client.post("/long/render", data=long_form(client), headers=HTMX)
        assert answer.status_code == 400, answer.text
        assert 'Project "Gone" is closed' in html.unescape(answer.text)
        assert pipelines(client) == []
