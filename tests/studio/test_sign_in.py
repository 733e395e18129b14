"""Sign-in with a tenant API key, the session cookie, sign-out, and tenant isolation."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from fastapi.testclient import TestClient

from sorakit.settings import Settings
from tests.studio.conftest import csrf_of, make_keys, sign_in

Studio = Callable[..., AbstractContextManager[TestClient]]
HTMX = {"HX-Request": "true"}


def test_with_keys_every_page_asks_to_sign_in(studio: Studio, settings: Settings) -> None:
    make_keys(settings, "alice")
    with studio() as client:
        page = client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/sign-in"
        assert client.get("/create/choices", headers=HTMX).headers["hx-redirect"] == "/sign-in"
        assert client.get("/jobs/video_x/events").status_code == 303
        form = client.get("/sign-in")
        assert form.status_code == 200 and 'name="api_key"' in form.text


def test_a_bad_key_is_refused_in_the_page(studio: Studio, settings: Settings) -> None:
    make_keys(settings, "alice")
    with studio() as client:
        token = csrf_of(client.get("/sign-in").text)
        bad = client.post("/sign-in", data={"api_key": "sk-sorakit-nope", "csrf_token": token})
        assert bad.status_code == 401 and "was not accepted" in bad.text
        empty = client.post("/sign-in", data={"api_key": "", "csrf_token": token})
        assert empty.status_code == 401
        assert client.get("/").status_code == 303


def test_sign_in_needs_the_csrf_token(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        client.get("/sign-in")
        refused = client.post("/sign-in", data={"api_key": keys["alice"]})
        assert refused.status_code == 403 and "reload the page" in refused.text
        assert client.get("/").status_code == 303


def test_sign_in_sets_a_signed_httponly_cookie_and_sign_out_clears_it(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        token = csrf_of(client.get("/sign-in").text)
        answer = client.post("/sign-in", data={"api_key": keys["alice"], "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert keys["alice"] not in cookie and keys["alice"][11:] not in cookie  # sealed
        page = client.get("/")
        assert page.status_code == 200 and "signed in as <strong>alice</strong>" in page.text
        assert csrf_of(page.text) != token  # a new session, a new token
        # A forged cookie is no session.
        value = client.cookies["sorakit_studio"]
        client.cookies.clear()
        client.cookies.set("sorakit_studio", value[:-2] + ("00" if value[-2:] != "00" else "11"))
        assert client.get("/").status_code == 303
        client.cookies.clear()
        client.cookies.set("sorakit_studio", value)
        assert client.post("/sign-out", data={}).status_code == 403  # CSRF on sign-out too
        out = client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/sign-in"
        assert re.match(r'sorakit_studio=""; .*Max-Age=0', out.headers["set-cookie"])


def test_a_tenant_cannot_see_another_tenants_job(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice", "bob")
    with studio() as client:
        sign_in(client, keys["alice"])
        page = client.get("/")
        answer = client.post(
            "/create",
            data={"prompt": "alice's kite", "model": "sora-2", "seconds": "4"}
            | {"size": "1280x720", "csrf_token": csrf_of(page.text)},
            headers=HTMX,
        )
        found = re.search(r'data-video-id="([^"]+)"', answer.text)
        assert found
        video_id = found.group(1)
        with client.stream("GET", f"/jobs/{video_id}/events") as stream:
            assert "event: done" in "".join(stream.iter_text())
        assert client.get(f"/jobs/{video_id}/content").status_code == 200
        with TestClient(client.app, follow_redirects=False) as bob:
            sign_in(bob, keys["bob"])
            for path in ("", "/events", "/content"):
                refused = bob.get(f"/jobs/{video_id}{path}")
                assert refused.status_code == 404, path
                assert f"No video found with id &#39;{video_id}&#39;" in refused.text


def test_a_revoked_key_ends_the_session(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice")
    with studio() as client:
        sign_in(client, keys["alice"])
        assert client.get("/").status_code == 200
        app = client.app
        engine = app.state.engine
        [key] = [k for k in client.portal.call(engine.ledger.list_keys) if k.name == "alice"]
        client.portal.call(engine.ledger.revoke_key, key.id)
        app.state.gatekeeper.forget()
        assert client.get("/").status_code == 303


def test_a_keys_limits_are_the_gatekeepers(studio: Studio, settings: Settings) -> None:
    keys = make_keys(settings, "alice", models=["sora-2"])
    with studio() as client:
        sign_in(client, keys["alice"])
        data = {"prompt": "a kite", "model": "sora-2-pro", "seconds": "4", "size": "1280x720"}
        data["csrf_token"] = csrf_of(client.get("/").text)
        refused = client.post("/create", data=data, headers=HTMX)
        assert refused.status_code == 403
        assert "may not use the model &#39;sora-2-pro&#39;" in refused.text
        # Without htmx (no script), a created job's page is where the browser lands.
        answer = client.post("/create", data=data | {"model": "sora-2"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/jobs/")
        assert client.get(answer.headers["location"]).status_code == 200
