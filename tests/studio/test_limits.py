"""A key's rate limit on every page that starts paid work: the refusal says when to try again,
and the page counts down to it (not only on Create)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from fastapi.testclient import TestClient

from sorakit.settings import Settings
from tests.studio.conftest import make_keys, sign_in
from tests.studio.test_remix_chain import start

Studio = Callable[..., AbstractContextManager[TestClient]]


def test_a_rate_limited_remix_chain_shows_the_countdown_and_starts_nothing(
    studio: Studio, settings: Settings
) -> None:
    keys = make_keys(settings, "alice", rpm=1)
    with studio() as client:
        sign_in(client, keys["alice"])
        first = start(client, ["make it night"])
        assert first.status_code == 200 and first.headers.get("HX-Redirect"), first.text
        refused = start(client, ["make it snow"])
        assert refused.status_code == 429
        seconds = re.search(r'data-retry-after="(\d+)"', refused.text)
        assert seconds is not None and 1 <= int(seconds.group(1)) <= 60, refused.text
        page = client.get("/remix-chain", headers={"HX-Request": "false"})
        assert 'src="/static/studio.js"' in page.text  # the countdown runs on this page
        assert re.search(r'<form id="remix-chain"[^>]*data-creates', page.text)
        ledger = client.app.state.engine.ledger  # type: ignore[attr-defined]
        assert client.portal is not None
        assert len(client.portal.call(ledger.list_pipelines)) == 1  # the refused one: none
