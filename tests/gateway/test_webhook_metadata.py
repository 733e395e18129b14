"""Cloud metadata endpoints stay out of reach of every webhook, whatever the allowances say:
tenants' webhooks with `SORAKIT_WEBHOOK_ALLOW_PRIVATE=true`, and the operator's own URL."""

from __future__ import annotations

import collections.abc
import contextlib
from pathlib import Path

import httpx
import pytest

from sorakit.security.secretbox import generate_key
from sorakit.server.webhooks import WebhookSender, new_signing_secret
from sorakit.settings import get_settings
from sorakit.wire.videos import WebhookEvent, WebhookEventData
from tests.cli.test_cli import sorakit
from tests.gateway.test_tenants import make_key

METADATA_SPELLINGS = [
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IMDS over IPv6: inside fc00::/7
    "http://[fd00:ec2::23]/",  # EKS Pod Identity over IPv6
    "http://[FD00:EC2:0:0:0:0:0:254]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",  # ECS
    "http://100.100.100.200/latest/meta-data/",  # Alibaba
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
]


@pytest.fixture
def serve_private(
    tmp_path: Path, serve: collections.abc.Callable[..., contextlib.AbstractContextManager[str]]
) -> collections.abc.Iterator[httpx.Client]:
    """A gateway whose tenants may aim webhooks at private addresses, and its admin client."""
    settings = get_settings(
        home=tmp_path / "h", secret_key=generate_key(), webhook_allow_private=True
    )
    token = make_key(settings, "admin", admin=True)
    with (
        serve(settings) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as admin,
    ):
        yield admin


def assert_refused(answer: httpx.Response, url: str) -> None:
    assert answer.status_code == 400, (url, answer.text)
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error", url
    assert error["param"] == "webhook_url" and error["code"] == "ssrf_blocked", url
    assert "metadata" in error["message"], (url, error["message"])


@pytest.mark.parametrize("url", METADATA_SPELLINGS)
def test_allow_private_never_lets_a_key_webhook_reach_metadata(
    serve_private: httpx.Client, url: str
) -> None:
    assert_refused(serve_private.post("/admin/keys", json={"name": "x", "webhook_url": url}), url)
    key = serve_private.post("/admin/keys", json={"name": "later"}).json()
    assert_refused(serve_private.patch(f"/admin/keys/{key['id']}", json={"webhook_url": url}), url)
    # What allow-private is for still works: a private (non-metadata) address is taken.
    private = serve_private.patch(
        f"/admin/keys/{key['id']}", json={"webhook_url": "http://[fd00:1::5]/"}
    )
    assert private.status_code == 200, private.text


@pytest.mark.parametrize(
    "url", ["http://[fd00:ec2::254]/", "http://0xa9fea9fe/", "http://metadata.google.internal./"]
)
def test_serve_refuses_an_operator_webhook_aimed_at_metadata(tmp_path: Path, url: str) -> None:
    env = {"SORAKIT_WEBHOOK_URL": url, "SORAKIT_WEBHOOK_SECRET": new_signing_secret()}
    result = sorakit("serve", "--port", "0", home=tmp_path / "h", env=env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sorakit: SORAKIT_WEBHOOK_URL is refused") and "metadata" in last


async def test_the_operator_webhook_is_not_sent_to_a_name_resolving_to_metadata() -> None:
    sent: list[httpx.Request] = []

    async def rebinder(host: str) -> list[str]:
        return ["fd00:ec2::254"] if host == "hooks.example.com" else ["93.184.215.14"]

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    event = WebhookEvent(
        id="evt_1", created_at=1, type="video.completed", data=WebhookEventData(id="v")
    )
    for url, delivered in (
        ("http://hooks.example.com/h", False),
        ("http://ok.example.com/h", True),
    ):
        sender = WebhookSender(
            url,
            new_signing_secret(),
            attempts=2,
            base_delay=0,
            resolver=rebinder,
            transport=httpx.MockTransport(record),
        )
        assert await sender.deliver(event) is delivered
        await sender.aclose()
    assert [str(request.url) for request in sent] == ["http://ok.example.com/h"]
