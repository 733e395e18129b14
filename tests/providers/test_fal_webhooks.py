"""fal's webhook: the adapter asks for it on submit, the fake POSTs it over loopback HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fal_client
import httpx
import pytest

from sorakit.providers.fal import FalProvider, RemoteRef
from tests.providers.fal_fake import (
    MEDIA,
    MODERATION_WORD,
    QUEUE,
    FakeFalQueue,
    generate,
)


class Receiver:
    """A loopback endpoint that records each webhook POST; the first `failures` answer 500."""

    def __init__(self, failures: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.failures = failures
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length))
                receiver.attempts += 1
                if receiver.attempts <= receiver.failures:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.bodies.append(body)
                receiver.arrived.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/fal?job=video_1"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, timeout: float = 5.0) -> dict[str, Any]:
        assert self.arrived.wait(timeout), "no webhook arrived"
        return self.bodies[-1]


async def test_a_callback_url_becomes_fal_webhook_and_arrives_once_the_job_is_done(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    with Receiver(failures=1) as receiver:
        job = await provider.submit(generate(callback_url=receiver.url))
        submit = fake.calls("submit")[-1]
        assert submit.url.params["fal_webhook"] == receiver.url  # query-encoded, as fal-client
        rid = RemoteRef.parse(job.id).request_id
        fake.advance(30)  # still rendering: nothing is sent
        time.sleep(0.2)
        assert receiver.attempts == 0
        fake.advance(3600)
        body = receiver.wait()
    assert body["request_id"] == rid and body["gateway_request_id"] == rid
    assert body["status"] == "OK" and body["error"] is None
    assert body["payload"]["video"]["url"].startswith(f"{MEDIA}{rid}/output.mp4")
    assert receiver.attempts == 2  # the first answer was a 500: the fake retried
    deadline = time.monotonic() + 5  # the sender logs the 200 once its POST returns
    while len(fake.webhook_log) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [status for _, status in fake.webhook_log] == [500, 200]
    assert (await provider.retrieve(job.id)).status == "completed"


async def test_a_failed_job_posts_an_error_webhook(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    with Receiver() as receiver:
        job = await provider.submit(
            generate(prompt=f"a {MODERATION_WORD} thing", callback_url=receiver.url)
        )
        fake.advance(3600)
        body = receiver.wait()
    assert body["request_id"] == RemoteRef.parse(job.id).request_id
    assert body["status"] == "ERROR"
    assert "could not be processed" in body["error"]
    assert body["payload"]["detail"][0]["type"] == "content_policy_violation"
    time.sleep(0.1)
    assert receiver.attempts == 1  # delivered once, not again on the next tick


async def test_no_callback_url_means_no_webhook(provider: FalProvider, fake: FakeFalQueue) -> None:
    await provider.submit(generate())
    assert "fal_webhook" not in fake.calls("submit")[-1].url.params
    fake.advance(3600)
    time.sleep(0.1)
    assert fake.webhook_log == []


def test_fal_clients_own_submit_sends_the_same_query(
    fake: FakeFalQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's `submit(webhook_url=...)` is what the adapter mirrors; the fake serves both."""
    with Receiver() as receiver:
        monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", QUEUE)
        client = fal_client.SyncClient(key=fake.key)
        headers = {"Authorization": f"Key {fake.key}"}
        sdk_http = httpx.Client(transport=fake.transport(), headers=headers)
        monkeypatch.setitem(client.__dict__, "_client", sdk_http)  # a cached_property
        handle = client.submit(
            "fal-ai/veo3.1",
            {"prompt": "a cat", "duration": "8s"},
            webhook_url=receiver.url,
        )
        assert fake.calls("submit")[-1].url.params["fal_webhook"] == receiver.url
        fake.advance(3600)
        assert receiver.wait()["request_id"] == handle.request_id
        sdk_http.close()
