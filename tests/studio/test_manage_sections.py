"""The Admin page's usage, request log, pools, aliases and prices, through FastAPI's test client."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sorakit.ledger.requests import RequestRecord
from sorakit.security.secretbox import generate_key
from tests.studio import manage_helpers
from tests.studio.conftest import csrf_of, sign_in
from tests.studio.manage_helpers import (
    HTMX,
    Studio,
    bearer,
    post_form,
)

# The Admin page's fixtures: `keys` (an admin and a tenant key) and `admin` (signed in with it).
keys = manage_helpers.keys
admin = manage_helpers.admin


def _make_video(client: TestClient, prompt: str) -> str:
    data = {"prompt": prompt, "model": "sora-2", "seconds": "4", "size": "1280x720"}
    answer = client.post("/create", data=data | {"csrf_token": csrf_of(client.get("/").text)})
    assert answer.status_code == 303, answer.text
    video_id = answer.headers["location"].removeprefix("/jobs/")
    with client.stream("GET", f"/jobs/{video_id}/events") as stream:
        assert "event: done" in "".join(stream.iter_text())
    return video_id


# Usage.


def test_the_usage_charts_count_a_tenants_videos(studio: Studio, keys: dict[str, str]) -> None:
    with studio(simulator_render_seconds=0.2) as client:
        sign_in(client, keys["alice"])
        for prompt in ("a kite", "a boat"):
            _make_video(client, prompt)
        sign_in(client, keys["root"])
        usage = client.get("/manage/usage", headers=HTMX)
        assert usage.status_code == 200 and "<html" not in usage.text
        today = time.strftime("%Y-%m-%d", time.gmtime())
        labels = re.findall(r"<rect [^>]*><title>([^<]+)</title>", usage.text)
        alice = [label for label in labels if "· alice (key_" in label]
        assert f"{today} · " in alice[0]
        assert any(label.endswith(": 2 jobs") for label in alice), labels
        assert any(label.endswith(": $0.80") for label in alice), labels  # 2 x 4 s x $0.10
        assert usage.text.count("<svg") == 2
        assert re.search(
            rf"<td>{today}</td><td>alice \(key_\w+\)</td><td>sora-2</td>"
            r'<td class="num">2</td><td class="num">\$0\.80</td>',
            usage.text,
        )
        assert "<strong>2</strong> jobs" in usage.text

        before = client.get(
            "/manage/usage", params={"start": "2020-01-01", "end": "2020-01-31"}, headers=HTMX
        )
        assert before.status_code == 200 and "No jobs in this range." in before.text
        assert "<rect" not in before.text
        page = client.get("/manage/usage", params={"start": "2020-01-01"})
        assert page.status_code == 200 and 'value="2020-01-01"' in page.text
        assert "· alice (key_" in page.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-13-45"}, "The start date &#39;2026-13-45&#39; is not a date"),
        ({"end": "yesterday"}, "The end date &#39;yesterday&#39; is not a date"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "starts (2026-03-02) after it ends"),
        ({"start": "1990-01-01", "end": "2026-01-01"}, "at most 3,660 days"),
    ],
)
def test_a_bad_usage_range_is_refused_in_the_page(
    admin: Studio, params: dict[str, str], message: str
) -> None:
    with admin() as client:
        fragment = client.get("/manage/usage", params=params, headers=HTMX)
        assert fragment.status_code == 400 and message in fragment.text
        page = client.get("/manage/usage", params=params)
        assert page.status_code == 400 and message in page.text
        assert 'name="start"' in page.text and "The numbers" in page.text  # the default range


# The request log.


def _flush(client: TestClient) -> None:
    client.portal.call(client.app.state.request_log.flush)


def test_the_request_log_lists_requests_filtered_by_key_and_status(
    admin: Studio, keys: dict[str, str]
) -> None:
    with admin() as client:
        assert client.get("/v1/videos", headers=bearer(keys["alice"])).status_code == 200
        assert client.get("/v1/videos", headers=bearer("sk-sorakit-nope")).status_code == 401
        _flush(client)
        log = client.get("/manage/log")
        assert log.status_code == 200
        rows = re.findall(r'<tr class="status-(\dxx)">(.*?)</tr>', log.text, re.S)
        videos = [(c, cells) for c, cells in rows if "<code>/v1/videos</code>" in cells]
        assert {c for c, _ in videos} == {"2xx", "4xx"}
        assert any("<td>alice</td>" in cells for _, cells in videos)

        errors = client.get("/manage/log", params={"status": "4xx"}, headers=HTMX)
        assert errors.status_code == 200 and "<html" not in errors.text
        classes = set(re.findall(r'<tr class="status-(\dxx)">', errors.text))
        assert classes == {"4xx"}
        ledger = client.app.state.engine.ledger
        [alice] = [k for k in client.portal.call(ledger.list_keys) if k.name == "alice"]
        hers = client.get("/manage/log", params={"key_id": alice.id}, headers=HTMX)
        assert re.findall(r"<td>(\w+)</td><td>GET</td>", hers.text) == ["alice"]
        assert client.get("/manage/log", params={"status": "6xx"}, headers=HTMX).status_code == 400
        bad_cursor = client.get("/manage/log", params={"cursor": "soon"})
        assert bad_cursor.status_code == 400 and "out of date" in bad_cursor.text


def test_the_request_log_pages_back_without_skipping_rows_of_one_instant(admin: Studio) -> None:
    with admin() as client:
        _flush(client)
        ledger = client.app.state.engine.ledger
        start = time.time() + 3600  # after every real request, so these are the newest
        stamps = [start - n for n in range(60)] + [start - 60.5] * 55 + [start - 70.0] * 5
        records = [
            RequestRecord(at, "key_test", "GET", f"/paged/{n}", None, None, 200, 1.0, None)
            for n, at in enumerate(stamps)
        ]
        client.portal.call(ledger.log_requests, records)
        routes: list[str] = []
        path = "/manage/log?key_id=key_test"
        for _ in range(5):
            answer = client.get(path, headers=HTMX)
            assert answer.status_code == 200
            routes += re.findall(r"<code>(/paged/\d+)</code>", answer.text)
            more = re.search(r'hx-get="(/manage/log\?[^"]+)"', answer.text)
            if more is None:
                break
            path = more.group(1).replace("&amp;", "&")
        newest_first = sorted(range(120), key=lambda n: (-stamps[n], -n))  # then the last logged
        assert routes == [f"/paged/{n}" for n in newest_first]  # each once, none skipped


# Pools.


def test_pools_add_list_disable_and_remove_a_credential_never_showing_its_secret(
    admin: Studio,
) -> None:
    with admin(secret_key=SecretStr(generate_key())) as client:
        page = client.get("/manage/pools")
        assert 'id="pool-fal"' in page.text
        added = post_form(
            client,
            "/manage/pools/fal/credentials",
            "/manage/pools",
            secret="fal-secret-1234567890",
            label="team fal",
            max_concurrency="3",
        )
        assert added.status_code == 200, added.text
        assert "Added team fal" in added.text
        found = re.search(r'data-credential-id="(cred_\w+)">\s*<td>team fal', added.text)
        assert found and 'hx-swap-oob="true"' in added.text
        credential = found.group(1)
        assert "fal-secret" not in added.text and "1234567890" not in added.text
        assert "fal-secret" not in client.get("/manage/pools").text

        base = f"/manage/pools/fal/credentials/{credential}"
        off = post_form(client, f"{base}/enabled", "/manage/pools", enabled="false")
        assert off.status_code == 200 and "disabled by an admin" in off.text
        strategy = post_form(
            client, "/manage/pools/fal/strategy", "/manage/pools", strategy="least-loaded"
        )
        assert strategy.status_code == 200 and "now picks least-loaded" in strategy.text
        assert '<option value="least-loaded" selected>' in client.get("/manage/pools").text

        wrong_pool = post_form(
            client, f"/manage/pools/runway/credentials/{credential}/remove", "/manage/pools"
        )
        assert wrong_pool.status_code == 404 and "No runway credential" in wrong_pool.text
        removed = post_form(client, f"{base}/remove", "/manage/pools")
        assert removed.status_code == 200 and f"Removed {credential}" in removed.text
        assert credential not in client.get("/manage/pools").text


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        ("/manage/pools/fal/credentials", {"secret": "  "}, "the credential&#39;s secret is empty"),
        (
            "/manage/pools/fal/credentials",
            {"secret": "s", "max_concurrency": "0"},
            "&#39;max_concurrency&#39; must be a positive integer",
        ),
        ("/manage/pools/fal/credentials", {"secret": "s", "proxy": "ftp://x"}, "proxy"),
        ("/manage/pools/nope/credentials", {"secret": "s"}, "nope"),
        ("/manage/pools/fal/strategy", {"strategy": "random"}, "unknown strategy &#39;random&#39;"),
        (
            "/manage/pools/fal/credentials/cred_x/enabled",
            {"enabled": "maybe"},
            "&#39;enabled&#39; must be true or false",
        ),
    ],
)
def test_bad_pool_fields_are_refused_in_the_page(
    admin: Studio, path: str, fields: dict[str, str], message: str
) -> None:
    with admin(secret_key=SecretStr(generate_key())) as client:
        answer = post_form(client, path, "/manage/pools", **fields)
        assert 400 <= answer.status_code < 500, answer.text
        assert 'class="error"' in answer.text and message in answer.text


def test_a_credential_without_a_secret_key_is_refused_by_name(admin: Studio) -> None:
    with admin() as client:
        answer = post_form(client, "/manage/pools/fal/credentials", "/manage/pools", secret="s")
        assert answer.status_code == 400 and "SORAKIT_SECRET_KEY" in answer.text


# Aliases and prices.


def _model_ids(client: TestClient, token: str) -> list[str]:
    return [m["id"] for m in client.get("/v1/models", headers=bearer(token)).json()["data"]]


def test_an_alias_set_and_removed_here_changes_v1_models(
    admin: Studio, keys: dict[str, str]
) -> None:
    with admin() as client:
        assert "old-app-model" not in _model_ids(client, keys["root"])
        made = post_form(
            client,
            "/manage/models/aliases",
            "/manage/models",
            name="old-app-model",
            target="sora-2-pro",
        )
        assert made.status_code == 200 and "old-app-model now routes to sora-2-pro" in made.text
        assert re.search(
            r'data-alias="old-app-model">\s*<td><code>old-app-model</code></td>'
            r"<td><code>sora-2-pro</code>",
            made.text,
        )
        assert "old-app-model" in _model_ids(client, keys["root"])
        assert client.app.state.engine.catalog.resolve("old-app-model").name == "sora-2-pro"

        gone = post_form(
            client, "/manage/models/aliases/remove", "/manage/models", name="old-app-model"
        )
        assert gone.status_code == 200 and "Removed the alias old-app-model" in gone.text
        assert "old-app-model" not in _model_ids(client, keys["root"])


def test_a_price_set_here_is_the_create_pages_estimate_until_restored(admin: Studio) -> None:
    with admin() as client:

        def estimate() -> str:
            query = {"model": "sora-2", "seconds": "4", "size": "1280x720"}
            choices = client.get("/create/choices", params=query, headers=HTMX)
            found = re.search(r'id="estimate">([^<]+)<', choices.text)
            assert found, choices.text
            return found.group(1)

        assert estimate() == "$0.40"
        priced = post_form(
            client, "/manage/models/prices", "/manage/models", model="sora-2", usd_per_second="0.5"
        )
        assert priced.status_code == 200 and "sora-2 now costs $0.50/s" in priced.text
        assert re.search(
            r'data-model="sora-2" class="overridden">.*?\$0\.50/s.*?\$0\.10/s', priced.text, re.S
        )
        assert estimate() == "$2.00"
        clip = post_form(
            client,
            "/manage/models/prices",
            "/manage/models",
            model="sora-2",
            clip_size="1280x720",
            clip_seconds="4",
            clip_usd="0.25",
        )
        assert clip.status_code == 200 and "1280x720 4 s: $0.25" in clip.text
        assert estimate() == "$0.25"
        restored = post_form(
            client, "/manage/models/prices/restore", "/manage/models", model="sora-2"
        )
        assert restored.status_code == 200 and "back at its list price" in restored.text
        assert estimate() == "$0.40"
        assert 'data-model="sora-2" class="overridden"' not in client.get("/manage/models").text


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        (
            "/manage/models/aliases",
            {"name": "x", "target": "sora-9"},
            "The target &#39;sora-9&#39; is not a known model",
        ),
        (
            "/manage/models/aliases",
            {"name": "", "target": "sora-2"},
            "An alias must be 1 to 128 characters",
        ),
        ("/manage/models/aliases/remove", {"name": "never-set"}, "No alias &#39;never-set&#39;"),
        (
            "/manage/models/prices",
            {"model": "sora-2", "usd_per_second": "cheap"},
            "&#39;usd_per_second&#39; must be a number of USD.",
        ),
        (
            "/manage/models/prices",
            {"model": "sora-2", "usd_per_second": "-1"},
            "&#39;usd_per_second&#39; must be 0 or more",
        ),
        ("/manage/models/prices", {"model": "sora-2"}, "Give &#39;usd_per_second&#39;"),
        (
            "/manage/models/prices",
            {"model": "sora-2", "usd_per_second": "1", "size": "9x9"},
            "sora-2 has no size &#39;9x9&#39;",
        ),
        (
            "/manage/models/prices",
            {"model": "sora-2", "clip_size": "1280x720", "clip_seconds": "7", "clip_usd": "1"},
            "makes no 7 s clips",
        ),
        (
            "/manage/models/prices",
            {"model": "sora-9", "usd_per_second": "1"},
            "The model &#39;sora-9&#39; does not exist",
        ),
        ("/manage/models/prices/restore", {"model": "sora-2"}, "was not overridden"),
    ],
)
def test_bad_alias_and_price_fields_are_refused_in_the_page(
    admin: Studio, path: str, fields: dict[str, str], message: str
) -> None:
    with admin() as client:
        answer = post_form(client, path, "/manage/models", **fields)
        assert 400 <= answer.status_code < 500, answer.text
        assert 'class="error"' in answer.text and message in answer.text
