"""Tenants through the official `openai` SDK: keys, ownership, and limits enforced before upstream."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import anyio
import openai
import pytest
import uvicorn

from sorakit.ledger import Ledger
from sorakit.server import create_app
from sorakit.settings import Settings
from tests.conftest import ThreadedServer


def creates(settings: Settings) -> int:
    log = settings.simulator_dir / "creates.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def make_key(settings: Settings, name: str, **limits: object) -> str:
    async def go() -> str:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            _, token = await ledger.create_key(name, **limits)  # type: ignore[arg-type]
            return token
        finally:
            await ledger.close()

    return anyio.run(go)


@contextlib.contextmanager
def gateway(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    with ThreadedServer(config).running() as url:
        yield f"{url}/v1"


def client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0)


def finished(sdk: openai.OpenAI, video_id: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = sdk.videos.retrieve(video_id).status
        if status in ("completed", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError("the video never finished")


def test_two_tenants_never_see_each_others_videos(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    alice_key, bob_key = make_key(settings, "alice"), make_key(settings, "bob")
    with gateway(settings) as url:
        admin_key = capfd.readouterr().err.split("shown this once")[1].split()[-1]
        alice, bob, admin = client(url, alice_key), client(url, bob_key), client(url, admin_key)
        theirs = alice.videos.create(model="sora-2", prompt="alice's cat", seconds="4")
        assert finished(alice, theirs.id) == "completed"
        mine = bob.videos.create(model="sora-2", prompt="bob's dog", seconds="4")

        for call in (
            lambda: bob.videos.retrieve(theirs.id),
            lambda: bob.videos.download_content(theirs.id),
            lambda: bob.videos.delete(theirs.id),
            lambda: bob.videos.remix(theirs.id, prompt="mine now"),
            lambda: bob.post(
                "/videos/extensions",
                body={"prompt": "more", "video": {"id": theirs.id}, "seconds": "4"},
                cast_to=object,
            ),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        assert [v.id for v in bob.videos.list()] == [mine.id]
        assert [v.id for v in alice.videos.list()] == [theirs.id]
        assert {v.id for v in admin.videos.list()} == {theirs.id, mine.id}
        assert admin.videos.retrieve(theirs.id).id == theirs.id

        # The same Idempotency-Key from two tenants makes two videos, one each.
        same = {"extra_headers": {"Idempotency-Key": "shared-key"}}
        a = alice.videos.create(model="sora-2", prompt="a", seconds="4", **same)  # type: ignore[arg-type]
        b = bob.videos.create(model="sora-2", prompt="b", seconds="4", **same)  # type: ignore[arg-type]
        assert a.id != b.id

        with pytest.raises(openai.AuthenticationError):
            client(url, "sk-sorakit-000000000000-nope").videos.list()
        with pytest.raises(openai.AuthenticationError):
            client(url, "anything").videos.list()


def test_limits_refuse_before_anything_is_sent_upstream(settings: Settings) -> None:
    # sora-2 is $0.10/s: a 4 s clip reserves $0.40.
    token = make_key(settings, "small", budget_usd=0.5, concurrency=1, models=["sora-2"])
    quick = make_key(settings, "quick", rpm=2)
    with gateway(settings) as url:
        small = client(url, token)
        first = small.videos.create(model="sora-2", prompt="one", seconds="4")
        with pytest.raises(openai.RateLimitError) as busy:
            small.videos.create(model="sora-2", prompt="two at once", seconds="4")
        assert busy.value.code == "concurrency_limit_exceeded"
        assert finished(small, first.id) == "completed"
        with pytest.raises(openai.BadRequestError) as broke:
            small.videos.create(model="sora-2", prompt="over budget", seconds="4")
        assert broke.value.code == "budget_exceeded" and "$0.50" in str(broke.value)
        with pytest.raises(openai.PermissionDeniedError):
            small.videos.create(model="sora-2-pro", prompt="not allowed", seconds="4")

        fast = client(url, quick)
        for prompt in ("a", "b"):
            fast.videos.create(model="sora-2", prompt=prompt, seconds="4")
        with pytest.raises(openai.RateLimitError) as limited:
            fast.videos.create(model="sora-2", prompt="c", seconds="4")
        assert limited.value.code == "rate_limit_exceeded"
        assert int(limited.value.response.headers["retry-after"]) > 0
    assert creates(settings) == 3  # every refused request stopped before the provider


def test_revoked_keys_stop_working_and_keys_turn_the_gateway_closed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sorakit.gateway.auth.CACHE_SECONDS", 0.2)
    with gateway(settings) as url:
        assert client(url, "anything").videos.list().data == []  # no keys yet: open, loopback
    token = make_key(settings, "temp")

    async def revoke() -> None:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            (key,) = [k for k in await ledger.list_keys() if k.name == "temp"]
            await ledger.revoke_key(key.id)
        finally:
            await ledger.close()

    with gateway(settings) as url:
        assert client(url, token).videos.list().data == []
        with pytest.raises(openai.AuthenticationError):
            client(url, "anything").videos.list()
        anyio.run(revoke)
        time.sleep(0.3)  # another process revoked it: seen once the short cache ages out
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            client(url, token).videos.list()


def test_serve_refuses_a_public_address_without_keys(settings: Settings) -> None:
    from sorakit.errors import ConfigurationError
    from sorakit.gateway.auth import Gatekeeper
    from sorakit.server.app import check_exposure

    async def check(host: str) -> None:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            await check_exposure(settings.model_copy(update={"host": host}), Gatekeeper(ledger))
        finally:
            await ledger.close()

    anyio.run(check, "127.0.0.1")
    with pytest.raises(ConfigurationError, match="refusing to serve on 0.0.0.0 without API keys"):
        anyio.run(check, "0.0.0.0")
    make_key(settings, "someone")
    anyio.run(check, "0.0.0.0")
