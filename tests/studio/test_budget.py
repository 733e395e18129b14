"""The budget meter and the budget page through FastAPI's test client: spend read from the
ledger, projects made, picked, started anew and closed, a project's cap refusing a job."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from fastapi.testclient import TestClient

from sorakit.settings import Settings
from sorakit.studio.session import Session, SessionCookies
from tests.studio.conftest import csrf_of, make_keys, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}
MONEY = re.compile(r"\$(\d+\.\d\d) spent \+ \$(\d+\.\d\d) reserved(?: of \$(\d+\.\d\d))? · ([^<]+)")
FAST = {"simulator_render_seconds": 0.2}


def meter(client: TestClient) -> tuple[float, float | None, str]:
    """The meter's spent + reserved, its cap and its label."""
    answer = client.get("/budget/meter", headers=HTMX)
    assert answer.status_code == 200, answer.text
    found = MONEY.search(html.unescape(answer.text))
    assert found, answer.text
    spent, reserved, cap, label = found.groups()
    return (
        round(float(spent) + float(reserved), 2),
        None if cap is None else float(cap),
        label.strip(),
    )


def create(client: TestClient, seconds: str = "4") -> tuple[int, str]:
    """A sora-2 video of `seconds` through the Create page ($0.10 a second)."""
    page = client.get("/")
    data = {"prompt": "a red kite over a beach", "model": "sora-2", "seconds": seconds}
    data |= {"size": "1280x720", "csrf_token": csrf_of(page.text)}
    answer = client.post("/create", data=data, headers=HTMX)
    return answer.status_code, html.unescape(answer.text)


def post(client: TestClient, path: str, **fields: str) -> tuple[int, str, dict[str, str]]:
    """A budget-page form, sent as htmx sends it."""
    token = csrf_of(client.get("/budget").text)
    answer = client.post(path, data={"csrf_token": token, **fields}, headers=HTMX)
    return answer.status_code, html.unescape(answer.text), dict(answer.headers)


def scope_ids(page: str) -> list[str]:
    return re.findall(r'action="/budget/projects/(scope_[0-9a-f]+)/reset"', page)


def videos(client: TestClient) -> list[str]:
    return [v["id"] for v in client.get("/v1/videos").json()["data"]]


def test_the_meter_shows_the_spend_and_changes_after_a_job(studio: Studio) -> None:
    with studio(**FAST) as client:
        page = client.get("/")
        assert 'href="/static/budget.css"' in page.text and 'hx-get="/budget/meter"' in page.text
        assert meter(client) == (0.0, None, "all jobs")  # open, no cap: just the spend
        assert create(client)[0] == 200
        assert meter(client) == (0.4, None, "all jobs")
        assert client.get("/static/budget.css").headers["content-type"].startswith("text/css")


def test_the_meter_shows_the_cap_that_binds_first(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice", budget_usd=3.0)
    with studio(budget_usd=10.0, **FAST) as client:
        assert client.get("/budget/meter").status_code == 204  # not signed in: nothing
        sign_in(client, keys["alice"])
        assert meter(client) == (0.0, 3.0, "key alice")  # $3 left beats the ledger's $10
        assert post(client, "/budget/projects", name="Trailer", cap="$5")[0] == 200
        assert meter(client)[1:] == (3.0, "key alice")  # a bigger project cap binds later
        assert post(client, "/budget/projects", name="Teaser", cap="1")[0] == 200
        assert create(client)[0] == 200
        assert meter(client) == (0.4, 1.0, "project Teaser")
        body = html.unescape(client.get("/budget").text)
        assert "of $1.00 · project Teaser" in body and "· project Trailer" not in body
        assert "binds first" in body and "key alice" in body and "the ledger's budget" in body


def test_projects_are_made_picked_started_anew_and_closed(studio: Studio) -> None:
    with studio(**FAST) as client:
        status, body, headers = post(client, "/budget/projects", name="  Trailer ", cap="0.50")
        assert status == 200 and headers["hx-trigger"] == "budget-changed"
        assert (
            "new videos count against <strong>Trailer</strong>" in body
            and "sorakit_studio" in headers.get("set-cookie", "")
        )
        assert meter(client) == (0.0, 0.5, "project Trailer")
        [first_id] = scope_ids(body)

        assert create(client)[0] == 200
        assert meter(client) == (0.4, 0.5, "project Trailer")
        status, refusal = create(client)  # $0.40 more passes the $0.50 cap
        assert status == 400
        assert 'passes project "Trailer"\'s budget of $0.50, so it was not sent.' in refusal
        assert len(videos(client)) == 1  # nothing was sent

        status, body, _ = post(client, f"/budget/projects/{first_id}/reset")
        assert status == 200 and "History" in body and "started anew" in body
        [second_id] = scope_ids(body)
        assert second_id != first_id
        assert meter(client) == (0.0, 0.5, "project Trailer")  # the same project, anew
        assert create(client)[0] == 200
        assert meter(client) == (0.4, 0.5, "project Trailer")

        status, body, _ = post(client, "/budget/active", project="")
        assert status == 200 and "no project is active" in body
        assert meter(client) == (0.8, None, "all jobs")
        assert create(client, "8")[0] == 200  # outside the project: no project cap
        status, body, _ = post(client, "/budget/active", project="Trailer")
        assert "new videos count against <strong>Trailer</strong>" in body
        assert meter(client) == (0.4, 0.5, "project Trailer")

        status, body, _ = post(client, f"/budget/projects/{second_id}/close")
        assert status == 200 and "no project is active" in body and scope_ids(body) == []
        assert meter(client) == (1.6, None, "all jobs")
        assert len(videos(client)) == 3


def test_a_project_closed_elsewhere_refuses_the_job(studio: Studio) -> None:
    with studio(**FAST) as client:
        _, body, _ = post(client, "/budget/projects", name="Trailer")
        [scope_id] = scope_ids(body)
        other = TestClient(client.app, follow_redirects=False)  # another browser, same ledger
        assert post(other, f"/budget/projects/{scope_id}/close")[0] == 200
        status, refusal = create(client)
        assert status == 400 and 'Project "Trailer" is closed; pick another project' in refusal
        assert videos(client) == []
        assert "project Trailer is closed" in client.get("/budget/meter").text


def test_plain_forms_redirect_back_to_the_budget_page(studio: Studio) -> None:
    with studio() as client:
        token = csrf_of(client.get("/budget").text)
        answer = client.post("/budget/projects", data={"name": "Trailer", "csrf_token": token})
        assert (answer.status_code, answer.headers["location"]) == (303, "/budget")
        page = html.unescape(client.get("/budget").text)
        assert (
            "new videos count against <strong>Trailer</strong>" in page and "<td>none</td>" in page
        )


def test_another_tenants_project_is_not_found_nor_usable(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio(**FAST) as alice, studio(**FAST) as bob:
        sign_in(alice, keys["alice"])
        sign_in(bob, keys["bob"])
        _, body, _ = post(alice, "/budget/projects", name="Trailer", cap="1")
        [alice_scope] = scope_ids(body)
        bobs = bob.get("/budget").text
        assert scope_ids(bobs) == [] and 'data-project="Trailer"' not in bobs

        status, refusal, headers = post(bob, "/budget/active", project="Trailer")
        assert status == 404 and 'No open project named "Trailer"' in refusal
        assert headers["hx-retarget"] == "#budget-error"
        for action in ("reset", "close"):
            status, refusal, _ = post(bob, f"/budget/projects/{alice_scope}/{action}")
            assert status == 404 and f"No project found with id '{alice_scope}'" in refusal
        # Bob's own project of the same name is his, apart from Alice's.
        assert post(bob, "/budget/projects", name="Trailer")[0] == 200
        assert create(bob)[0] == 200
        assert meter(bob)[::2] == (0.4, "project Trailer")
        assert meter(alice) == (0.0, 1.0, "project Trailer")
        assert scope_ids(alice.get("/budget").text) == [alice_scope]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Trailer", "cap": "abc"}, "must be an amount in USD, like 5 or 12.50"),
        ({"name": "Trailer", "cap": "5,50"}, "must be an amount in USD"),
        ({"name": "Trailer", "cap": "-2"}, "must be a positive amount in USD"),
        ({"name": "Trailer", "cap": "0"}, "must be a positive amount in USD"),
        ({"name": "", "cap": "5"}, "must be 1 to 128 characters"),
        ({"name": "x" * 200}, "must be 1 to 128 characters"),
    ],
)
def test_bad_project_inputs_are_readable(
    studio: Studio, fields: dict[str, str], message: str
) -> None:
    with studio() as client:
        status, refusal, headers = post(client, "/budget/projects", **fields)
        assert status == 400 and message in refusal and 'role="alert"' in refusal
        assert "Traceback" not in refusal
        assert headers["hx-retarget"] == "#budget-error"
        assert scope_ids(client.get("/budget").text) == []


def test_forms_without_the_csrf_token_are_refused(studio: Studio) -> None:
    with studio() as client:
        client.get("/budget")
        answer = client.post("/budget/projects", data={"name": "Trailer"}, headers=HTMX)
        assert answer.status_code == 403 and "did not come from this studio" in answer.text
        assert scope_ids(client.get("/budget").text) == []


def test_the_budget_page_needs_a_sign_in_once_keys_exist(
    studio: Studio, settings: Settings
) -> None:
    make_keys(settings, "alice")
    with studio() as client:
        answer = client.get("/budget")
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
        assert client.get("/budget/meter").status_code == 204


def test_old_session_cookies_stay_valid_and_the_project_round_trips(
    settings: Settings,
) -> None:
    cookies = SessionCookies.from_settings(settings)
    old = cookies.encode(Session("nonce-1", "sk-x"))  # what a cookie before projects held
    assert cookies.decode(old) == Session("nonce-1", "sk-x", None)
    picked = cookies.encode(Session("nonce-1", None, "Trailer"))
    assert cookies.decode(picked) == Session("nonce-1", None, "Trailer")
