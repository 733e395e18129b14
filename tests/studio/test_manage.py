"""The Admin page at /manage: who may see it, and its keys, through FastAPI's test client."""

from __future__ import annotations

import hashlib
import re

import pytest
from pydantic import SecretStr

from sorakit.security.secretbox import generate_key
from sorakit.settings import Settings
from sorakit.studio.manage_common import NOT_ADMIN
from tests.studio import manage_helpers
from tests.studio.conftest import sign_in
from tests.studio.manage_helpers import (
    HTMX,
    SECTIONS,
    Studio,
    bearer,
    post_form,
)

# The Admin page's fixtures: `keys` (an admin and a tenant key) and `admin` (signed in with it).
keys = manage_helpers.keys
admin = manage_helpers.admin


# Who may see the page.


def test_every_section_renders_for_an_admin(admin: Studio) -> None:
    with admin() as client:
        opened = client.get("/manage")
        assert opened.status_code == 303 and opened.headers["location"] == "/manage/keys"
        for path in SECTIONS:
            page = client.get(path)
            assert page.status_code == 200, path
            assert '<a href="/manage" aria-current="page">Admin</a>' in page.text
            assert f'<a href="{path}" aria-current="page">' in page.text
            assert '<link rel="stylesheet" href="/static/manage.css">' in page.text
        assert client.get("/static/manage.css").headers["content-type"].startswith("text/css")


def test_a_tenant_gets_a_readable_403_and_no_data(
    studio: Studio, keys: dict[str, str], settings: Settings
) -> None:
    with studio() as client:
        sign_in(client, keys["alice"])
        for path in ("/manage", *SECTIONS):
            page = client.get(path)
            assert page.status_code == 403, path
            assert NOT_ADMIN.replace("'", "&#39;") in page.text
            assert "root" not in page.text and "key_" not in page.text  # no key, no id
            fragment = client.get(path, headers=HTMX)
            assert fragment.status_code == 403 and 'class="error"' in fragment.text
            assert "<html" not in fragment.text
        refused = post_form(client, "/manage/keys", "/", name="mallory", admin="on")
        assert refused.status_code == 403 and "needs an admin API key" in refused.text
        for path in ("/manage/models/aliases", "/manage/pools/fal/credentials"):
            assert post_form(client, path, "/", name="x", target="sora-2").status_code == 403
        names = [k.name for k in client.portal.call(client.app.state.engine.ledger.list_keys)]
        assert "mallory" not in names


def test_without_a_session_every_section_asks_to_sign_in(
    studio: Studio, keys: dict[str, str]
) -> None:
    with studio() as client:
        for path in ("/manage", *SECTIONS):
            page = client.get(path)
            assert page.status_code == 303 and page.headers["location"] == "/sign-in", path
            assert client.get(path, headers=HTMX).headers["hx-redirect"] == "/sign-in"
        assert client.post("/manage/keys", data={"name": "x"}).status_code == 303


def test_the_open_studio_is_its_own_admin_and_is_warned_a_tenant_key_closes_it(
    studio: Studio,
) -> None:
    with studio() as client:
        page = client.get("/manage/keys")
        assert page.status_code == 200 and "The first tenant key" in page.text
        made = post_form(client, "/manage/keys", "/manage/keys", name="alice")
        assert made.status_code == 200 and "sk-sorakit-" in made.text
        assert client.get("/manage/keys").status_code == 303  # the gateway closed at once


# Keys.


def test_a_new_key_is_shown_once_works_and_stops_working_when_revoked(admin: Studio) -> None:
    with admin() as client:
        made = post_form(
            client,
            "/manage/keys",
            "/manage/keys",
            name="carol",
            budget_usd="5",
            rpm="0.5",
            concurrency="2",
            models="sora-2, sora-2-pro",
        )
        assert made.status_code == 200, made.text
        assert made.headers["cache-control"] == "no-store"
        token = re.search(r'<code id="new-key-token">(sk-sorakit-[^<]+)</code>', made.text)
        assert token, made.text
        token_text = token.group(1)
        assert "shown this once" in made.text
        row = re.search(
            r'<tr data-key-id="(key_[0-9a-f]+)">\s*<td>carol</td>(.*?)</tr>', made.text, re.S
        )
        assert row, "the refreshed list comes along, out of band"
        assert 'id="key-list" class="card" hx-swap-oob="true"' in made.text
        key_id, cells = row.group(1), row.group(2)
        for shown in ("$5.00", "<td>0.5</td>", "<td>2</td>", "sora-2, sora-2-pro", "tenant"):
            assert shown in cells, shown

        page = client.get("/manage/keys")
        assert token_text not in page.text and token_text[11:] not in page.text
        ledger = client.app.state.engine.ledger
        stored = client.portal.call(ledger.get_key, key_id)
        assert stored.secret_hash == hashlib.sha256(token_text.encode()).hexdigest()
        assert stored.budget_usd == 5 and stored.rpm == 0.5 and stored.concurrency == 2

        assert client.get("/v1/videos", headers=bearer(token_text)).status_code == 200
        revoke_path = f"/manage/keys/{key_id}/revoke"
        assert f'hx-post="{revoke_path}"' in page.text and "hx-confirm=" in page.text
        revoked = post_form(client, revoke_path, "/manage/keys")
        assert revoked.status_code == 200 and "Revoked carol" in revoked.text
        assert re.search(rf'data-key-id="{key_id}" class="revoked"', revoked.text)
        refused = client.get("/v1/videos", headers=bearer(token_text))
        assert refused.status_code == 401 and "revoked" in refused.text


def test_a_plain_form_post_gets_the_whole_page_with_the_token_in_it(admin: Studio) -> None:
    with admin() as client:
        made = post_form(
            client, "/manage/keys", "/manage/keys", htmx=False, name="dave", admin="on"
        )
        assert made.status_code == 200 and "<html" in made.text
        assert made.text.count('id="key-list"') == 1  # the page's own list, not a second one
        assert re.search(r"<td>dave</td>.*?<td>admin</td>", made.text, re.S)
        bad = post_form(client, "/manage/keys", "/manage/keys", htmx=False, name="eve", rpm="abc")
        assert bad.status_code == 400 and "<html" in bad.text
        assert "&#39;rpm&#39; must be a number." in bad.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "", "budget_usd": "5"}, "a key&#39;s name must be 1 to 128 characters"),
        ({"name": "   "}, "a key&#39;s name must be 1 to 128 characters"),
        ({"budget_usd": "-5"}, "the budget must be positive"),
        ({"budget_usd": "five"}, "&#39;budget_usd&#39; must be a number."),
        ({"rpm": "abc"}, "&#39;rpm&#39; must be a number."),
        ({"rpm": "nan"}, "&#39;rpm&#39; must be a number."),
        ({"rpm": "0"}, "the rpm must be positive"),
        ({"concurrency": "1.5"}, "&#39;concurrency&#39; must be a whole number from 1 to"),
        ({"concurrency": "-1"}, "the concurrency must be positive"),
        ({"models": "sora-2, sora-9"}, "unknown model: The model &#39;sora-9&#39; does not exist"),
        ({"webhook_url": "https://example.com/hook"}, "needs SORAKIT_SECRET_KEY"),
    ],
)
def test_bad_key_fields_are_refused_in_the_page(
    admin: Studio, fields: dict[str, str], message: str
) -> None:
    with admin() as client:
        answer = post_form(client, "/manage/keys", "/manage/keys", **({"name": "frank"} | fields))
        assert answer.status_code == 400, answer.text
        assert 'class="error"' in answer.text and message in answer.text
        assert "sk-sorakit-" not in answer.text
        names = [k.name for k in client.portal.call(client.app.state.engine.ledger.list_keys)]
        assert "frank" not in names


def test_a_key_form_without_its_csrf_token_is_refused(admin: Studio) -> None:
    with admin() as client:
        client.get("/manage/keys")
        answer = client.post("/manage/keys", data={"name": "gina"}, headers=HTMX)
        assert answer.status_code == 403 and "reload the page" in answer.text
        forged = client.post("/manage/keys", data={"name": "gina", "csrf_token": "x"})
        assert forged.status_code == 403


def test_a_webhook_key_shows_its_signing_secret_once(admin: Studio) -> None:
    changes = {"secret_key": SecretStr(generate_key()), "webhook_allow_private": True}
    with admin(**changes) as client:
        made = post_form(
            client, "/manage/keys", "/manage/keys", name="hooks", webhook_url="http://127.0.0.1:9/h"
        )
        assert made.status_code == 200, made.text
        secret = re.search(r'<code id="new-webhook-secret">([^<]+)</code>', made.text)
        assert secret and secret.group(1) not in client.get("/manage/keys").text
        assert "http://127.0.0.1:9/h" in client.get("/manage/keys").text


def test_your_own_key_is_not_revoked_from_under_you(admin: Studio) -> None:
    with admin() as client:
        ledger = client.app.state.engine.ledger
        [root] = [k for k in client.portal.call(ledger.list_keys) if k.name == "root"]
        page = client.get("/manage/keys")
        assert f'hx-post="/manage/keys/{root.id}/revoke"' not in page.text
        answer = post_form(client, f"/manage/keys/{root.id}/revoke", "/manage/keys")
        assert answer.status_code == 400 and "the key you are signed in with" in answer.text
        assert client.portal.call(ledger.get_key, root.id).active
        missing = post_form(client, "/manage/keys/key_nope/revoke", "/manage/keys")
        assert missing.status_code == 404 and "No API key with id" in missing.text


def test_odd_input_anywhere_is_a_readable_answer_never_a_5xx(admin: Studio) -> None:
    with admin() as client:
        queries = [
            ("/manage/usage", {"start": "0001-01-01", "end": "0001-01-03"}),
            ("/manage/usage", {"end": "0001-01-03"}),
            ("/manage/usage", {"start": "9999-12-01", "end": "9999-12-31"}),
            ("/manage/log", {"cursor": "1e400~1"}),
            ("/manage/log", {"cursor": "nan~0"}),
            ("/manage/log", {"cursor": "1~99999999999999999999999"}),
            ("/manage/log", {"key_id": "x" * 5000, "status": "2xx"}),
        ]
        for path, params in queries:
            for headers in (HTMX, {}):
                answer = client.get(path, params=params, headers=headers)
                assert answer.status_code < 500, (path, params)
        forms = [
            ("/manage/keys", {"name": "n" * 129}),
            ("/manage/keys", {"name": "n", "budget_usd": "1e400", "rpm": "1e308"}),
            ("/manage/keys", {"name": "n", "concurrency": "1e12"}),
            ("/manage/keys", {"name": "n", "models": ",,, ,"}),
            ("/manage/keys/%2e%2e/revoke", {}),
            ("/manage/pools/fal/credentials/x/remove", {}),
            ("/manage/models/prices", {"model": "sora-2", "usd_per_second": "1e400"}),
            ("/manage/models/prices", {"model": "sora-2", "clip_seconds": "9" * 40}),
            ("/manage/models/aliases", {"name": " padded ", "target": "sora-2"}),
        ]
        for path, data in forms:
            for htmx in (True, False):
                answer = post_form(client, path, "/manage/keys", htmx=htmx, **data)
                assert answer.status_code < 500, (path, data)
