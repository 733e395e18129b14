"""Signed webhooks: verified by the openai SDK and by standardwebhooks; retried until accepted."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import openai
import pytest
import standardwebhooks
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sorakit.server.webhooks import WebhookSender
from sorakit.settings import get_settings
from sorakit.wire.videos import WebhookEvent, WebhookEventData
from tests.conftest import ThreadedServer

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Receiver:
    """A webhook endpoint on loopback that records what it gets; fails the first `fail` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.arrived = threading.Condition()

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self.arrived:
            self.received.append((body, dict(request.headers)))
            self.arrived.notify_all()
        if len(self.received) <= self.fail:
            return Response(status_code=500)
        return Response(status_code=204)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                self.received
            )


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    app = Starlette(routes=[Route("/hook", hook.endpoint, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    with ThreadedServer(config).running() as url:
        yield hook, f"{url}/hook"


def test_completed_and_failed_events_are_signed(
    tmp_path: Path,
    receiver: tuple[Receiver, str],
    serve: Callable[..., AbstractContextManager[str]],
) -> None:
    hook, hook_url = receiver
    settings = get_settings(
        home=tmp_path / "h",
        simulator_render_seconds=0.3,
        webhook_url=hook_url,
        webhook_secret=SECRET,
    )
    with serve(settings) as url, openai.OpenAI(base_url=f"{url}/v1", api_key="x") as sdk:
        ok = sdk.videos.create_and_poll(prompt="a happy clip")
        bad = sdk.videos.create_and_poll(prompt="a clip [[moderation_blocked]]")
        assert bad.status == "failed" and bad.error and bad.error.code == "moderation_blocked"
        hook.wait_for(2)
        events = {}
        for body, headers in hook.received:
            sdk.webhooks.verify_signature(body.decode(), headers, secret=SECRET)
            payload = standardwebhooks.Webhook(SECRET).verify(body, headers)
            events[payload["data"]["id"]] = payload["type"]
            assert payload["object"] == "event" and payload["id"].startswith("evt_")
        assert events == {ok.id: "video.completed", bad.id: "video.failed"}
        body, headers = hook.received[0]
        with pytest.raises(openai.InvalidWebhookSignatureError):
            sdk.webhooks.verify_signature(body.decode() + " ", headers, secret=SECRET)


async def test_delivery_is_retried_with_backoff(receiver: tuple[Receiver, str]) -> None:
    hook, hook_url = receiver
    hook.fail = 2
    sender = WebhookSender(hook_url, "raw-secret-not-base64", base_delay=0.05)
    event = WebhookEvent(
        id="evt_1",
        created_at=int(time.time()),
        type="video.completed",
        data=WebhookEventData(id="video_1"),
    )
    assert await sender.deliver(event)
    await sender.aclose()
    assert len(hook.received) == 3
    body, headers = hook.received[-1]
    openai.OpenAI(api_key="x").webhooks.verify_signature(
        body.decode(), headers, secret="raw-secret-not-base64"
    )
    assert json.loads(body)["data"]["id"] == "video_1"


async def test_an_unreachable_endpoint_gives_up() -> None:
    sender = WebhookSender("http://127.0.0.1:9/hook", SECRET, attempts=2, base_delay=0.01)
    event = WebhookEvent(
        id="evt_2", created_at=1, type="video.failed", data=WebhookEventData(id="v")
    )
    assert await sender.deliver(event) is False
    await sender.aclose()


def test_webhook_url_without_secret_is_refused(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sorakit.errors import ConfigurationError
    from sorakit.server import create_app

    settings = get_settings(home=tmp_path, webhook_url="http://127.0.0.1:9/x")
    with (
        pytest.raises(ConfigurationError, match="SORAKIT_WEBHOOK_SECRET"),
        TestClient(create_app(settings)),
    ):
        pass
    with pytest.raises(ConfigurationError, match="SORAKIT_WEBHOOK_SECRET.*placeholder"):
        get_settings(webhook_secret="changeme")


async def test_a_refusal_ends_delivery_but_a_429_is_retried() -> None:
    answers = [429, 400, 204]
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0))

    sender = WebhookSender(
        "http://hooks.test/x", SECRET, base_delay=0.01, transport=httpx.MockTransport(answer)
    )
    event = WebhookEvent(
        id="evt_3", created_at=1, type="video.completed", data=WebhookEventData(id="v")
    )
    assert await sender.deliver(event) is False
    await sender.aclose()
    assert len(seen) == 2 and answers == [204]  # the 400 is the receiver's answer: not resent
