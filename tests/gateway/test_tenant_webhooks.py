"""Tenants' own webhooks: set through the admin API or the CLI, SSRF-checked when set and at every
delivery, signed with the tenant's secret (shown once, sealed at rest), never holding a job up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import openai
import pytest
import standardwebhooks
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sorakit.ledger import ApiKeyRecord, JobStatus, Ledger
from sorakit.security.secretbox import SecretBox, generate_key
from sorakit.server import create_app, webhooks
from sorakit.server.webhooks import PRIVATE_TARGETS, TenantWebhooks, new_signing_secret
from sorakit.settings import Settings, get_settings
from sorakit.wire.videos import WebhookEvent, WebhookEventData
from tests.cli.test_cli import sorakit
from tests.conftest import ThreadedServer
from tests.gateway.test_tenants import client, finished, make_key

OPERATOR_SECRET = new_signing_secret()


class Hooks:
    """Loopback webhook receivers: `/ok` (fails its first `fail` calls), `/moved`, `/slow`."""

    def __init__(self) -> None:
        self.fail = 0
        self.received: dict[str, list[tuple[bytes, dict[str, str]]]] = {}
        self.arrived = threading.Condition()

    async def endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        with self.arrived:
            calls = self.received.setdefault(name, [])
            calls.append((body, dict(request.headers)))
            self.arrived.notify_all()
        if name == "moved":
            return RedirectResponse("/hook/elsewhere", status_code=307)
        if name == "slow":
            await asyncio.sleep(2)
        if name == "gone":
            return Response(status_code=410)
        if name.startswith("ok") and len(calls) <= self.fail:
            return Response(status_code=503)
        return Response(status_code=204)

    def calls(self, name: str) -> list[tuple[bytes, dict[str, str]]]:
        with self.arrived:
            return list(self.received.get(name, []))

    def wait_for(self, name: str, count: int, timeout: float = 30) -> None:
        with self.arrived:
            assert self.arrived.wait_for(
                lambda: len(self.received.get(name, [])) >= count, timeout
            ), self.received


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    hook = Hooks()
    app = Starlette(routes=[Route("/hook/{name}", hook.endpoint, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    with ThreadedServer(config).running() as url:
        yield hook, f"{url}/hook"


@pytest.fixture
def private_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback receivers are allowed (what `webhook_allow_private` turns on)."""
    monkeypatch.setattr(webhooks, "tenant_policy", lambda settings: PRIVATE_TARGETS)


@contextlib.contextmanager
def gateway(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    with ThreadedServer(config).running() as url:
        assert any(isinstance(li, TenantWebhooks) for li in app.state.engine.runner.listeners)
        yield url


def verify(body: bytes, headers: dict[str, str], secret: str) -> dict[str, Any]:
    openai.OpenAI(api_key="x").webhooks.verify_signature(body.decode(), headers, secret=secret)
    payload: dict[str, Any] = standardwebhooks.Webhook(secret).verify(body, headers)
    return payload


def sealed_secret(settings: Settings, key_id: str) -> str | None:
    async def go() -> str | None:
        ledger = await Ledger.open(settings.ledger_url)
        try:
            key = await ledger.get_key(key_id)
            return key.webhook_secret if key else None
        finally:
            await ledger.close()

    return anyio.run(go)


def test_each_tenant_gets_its_own_signed_events(
    tmp_path: Path, hooks: tuple[Hooks, str], private_targets: None
) -> None:
    hook, base = hooks
    settings = get_settings(
        home=tmp_path / "h",
        simulator_render_seconds=0.3,
        secret_key=generate_key(),
        webhook_url=f"{base}/operator",
        webhook_secret=OPERATOR_SECRET,
    )
    admin_token = make_key(settings, "admin", admin=True)
    quiet_token = make_key(settings, "quiet")  # no webhook: only the operator hears of its jobs
    with gateway(settings) as url:
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"})
        made = admin.post("/admin/keys", json={"name": "acme", "webhook_url": f"{base}/ok"})
        assert made.status_code == 200, made.text
        acme_secret = made.json()["webhook_secret"]
        assert acme_secret.startswith("whsec_") and made.json()["webhook_url"] == f"{base}/ok"
        dead = admin.post("/admin/keys", json={"name": "dead", "webhook_url": f"{base}/gone"})
        assert dead.status_code == 200, dead.text

        acme = client(f"{url}/v1", made.json()["key"])
        ok = acme.videos.create(model="sora-2", prompt="acme's happy clip", seconds="4")
        bad = acme.videos.create(model="sora-2", prompt="a clip [[moderation_blocked]]")
        # A refusing webhook neither blocks nor fails its tenant's job.
        dead_sdk = client(f"{url}/v1", dead.json()["key"])
        dead_video = dead_sdk.videos.create(model="sora-2", prompt="dead's clip", seconds="4")
        quiet_video = client(f"{url}/v1", quiet_token).videos.create(model="sora-2", prompt="q")
        assert finished(acme, ok.id) == "completed" and finished(acme, bad.id) == "failed"
        assert finished(dead_sdk, dead_video.id) == "completed"

        hook.wait_for("ok", 2)
        hook.wait_for("gone", 1)
        hook.wait_for("operator", 4)
        events = {}
        for body, headers in hook.calls("ok"):
            payload = verify(body, headers, acme_secret)
            events[payload["data"]["id"]] = payload["type"]
            assert payload["object"] == "event" and payload["id"].startswith("evt_")
            with pytest.raises(standardwebhooks.WebhookVerificationError):
                standardwebhooks.Webhook(OPERATOR_SECRET).verify(body, headers)
        assert events == {ok.id: "video.completed", bad.id: "video.failed"}
        operator_ids = {
            verify(body, headers, OPERATOR_SECRET)["data"]["id"]
            for body, headers in hook.calls("operator")
        }
        assert {ok.id, bad.id, dead_video.id, quiet_video.id} <= operator_ids
        assert len(hook.calls("gone")) == 1  # a 410 is an answer: it is not retried

        # The secret was shown once: never listed, and kept sealed in the ledger.
        listed = admin.get("/admin/keys").json()["data"]
        assert acme_secret not in json.dumps(listed)
        assert {k["name"]: k["webhook_url"] for k in listed}["acme"] == f"{base}/ok"
        key_id = made.json()["id"]
        admin.close()
    sealed = sealed_secret(settings, key_id)
    assert sealed and acme_secret not in sealed
    assert settings.secret_key is not None
    assert SecretBox(settings.secret_key.get_secret_value()).open(sealed) == acme_secret


REFUSED = [
    "http://127.0.0.1:9/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost:8000/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://2130706433/hook",
    "file:///etc/passwd",
    "http://user:pw@93.184.215.14/hook",
]


def test_webhook_urls_are_checked_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings(home=tmp_path / "h", secret_key=generate_key())
    admin_token = make_key(settings, "admin", admin=True)
    with gateway(settings) as url:
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"})
        for target in REFUSED:
            refused = admin.post("/admin/keys", json={"name": "x", "webhook_url": target})
            assert refused.status_code == 400, (target, refused.text)
            error = refused.json()["error"]
            assert error["param"] == "webhook_url" and error["code"] == "ssrf_blocked", target
        assert [k["name"] for k in admin.get("/admin/keys").json()["data"]] == ["admin"]

        # Even where private targets are allowed (tests, dev), metadata never is.
        monkeypatch.setattr(webhooks, "tenant_policy", lambda settings: PRIVATE_TARGETS)
        metadata = admin.post(
            "/admin/keys", json={"name": "x", "webhook_url": "http://169.254.169.254/x"}
        )
        assert metadata.status_code == 400 and "metadata" in metadata.json()["error"]["message"]

        # PATCH sets (a new secret each time) and clears; an unknown key is 404.
        key = admin.post("/admin/keys", json={"name": "later"}).json()
        assert "webhook_secret" not in key and key["webhook_url"] is None
        patched = admin.patch(f"/admin/keys/{key['id']}", json={"webhook_url": "http://10.0.0.7/"})
        assert patched.status_code == 200 and patched.json()["webhook_url"] == "http://10.0.0.7/"
        first = patched.json()["webhook_secret"]
        again = admin.patch(f"/admin/keys/{key['id']}", json={"webhook_url": "http://10.0.0.8/"})
        assert again.json()["webhook_secret"] not in (first, None)
        cleared = admin.patch(f"/admin/keys/{key['id']}", json={"webhook_url": None})
        assert cleared.status_code == 200 and cleared.json()["webhook_url"] is None
        assert "webhook_secret" not in cleared.json()
        missing = admin.patch("/admin/keys/key_nope", json={"webhook_url": "http://10.0.0.7/"})
        assert missing.status_code == 404
        unknown = admin.patch(f"/admin/keys/{key['id']}", json={"name": "renamed"})
        assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "name"
        admin.close()


def test_a_webhook_needs_the_secret_key(tmp_path: Path) -> None:
    settings = get_settings(home=tmp_path / "h")
    admin_token = make_key(settings, "admin", admin=True)
    with gateway(settings) as url:
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"})
        refused = admin.post(
            "/admin/keys", json={"name": "x", "webhook_url": "https://93.184.215.14/hook"}
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["param"] == "webhook_url" and "SORAKIT_SECRET_KEY" in error["message"]
        admin.close()


class FakeDns:
    """A resolver whose answers the test changes (a rebinding attacker's DNS)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.lookups = 0

    async def __call__(self, host: str) -> Sequence[str]:
        self.lookups += 1
        return [self.answer]


async def deliveries(
    settings: Settings, url: str, **options: Any
) -> tuple[TenantWebhooks, Ledger, str, str]:
    ledger = await Ledger.open(settings.ledger_url)
    assert settings.secret_key is not None
    secret = new_signing_secret()
    sealed = SecretBox(settings.secret_key.get_secret_value()).seal(secret)
    key, _ = await ledger.create_key("t", webhook_url=url, webhook_secret=sealed)
    return TenantWebhooks(ledger, settings, base_delay=0.01, **options), ledger, key.id, secret


async def move(ledger: Ledger, key_id: str, url: str) -> None:
    key = await ledger.get_key(key_id)
    assert key is not None
    await ledger.set_key_webhook(key_id, url, key.webhook_secret)


def event(video_id: str = "video_1") -> WebhookEvent:
    data = WebhookEventData(id=video_id)
    return WebhookEvent(id="evt_1", created_at=int(time.time()), type="video.completed", data=data)


async def test_every_delivery_is_checked_again_and_pinned(
    tmp_path: Path, hooks: tuple[Hooks, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, base = hooks
    port = int(base.rsplit(":", 1)[1].split("/")[0])
    settings = get_settings(home=tmp_path / "h", secret_key=generate_key())
    dns = FakeDns("127.0.0.1")
    sender, ledger, key_id, secret = await deliveries(
        settings, f"http://hooks.example.com:{port}/hook/ok", resolver=dns
    )
    try:
        # The name was public when it was set; it now resolves to loopback: nothing is sent.
        assert await sender.deliver(key_id, event()) is False
        assert dns.lookups == 1 and hook.calls("ok") == []  # refused once, not retried

        # Allowed (as on a dev box): the connection goes to the checked address, by name.
        monkeypatch.setattr(webhooks, "tenant_policy", lambda settings: PRIVATE_TARGETS)
        assert await sender.deliver(key_id, event())
        ((body, headers),) = hook.calls("ok")
        assert headers["host"] == f"hooks.example.com:{port}"
        assert verify(body, headers, secret)["data"]["id"] == "video_1"

        # A metadata answer is refused whatever the policy.
        dns.answer = "169.254.169.254"
        assert await sender.deliver(key_id, event()) is False
        assert len(hook.calls("ok")) == 1
    finally:
        await sender.aclose()
        await ledger.close()


async def test_retries_redirects_and_the_time_cap(
    tmp_path: Path, hooks: tuple[Hooks, str], private_targets: None
) -> None:
    hook, base = hooks
    settings = get_settings(home=tmp_path / "h", secret_key=generate_key())
    hook.fail = 2
    sender, ledger, key_id, secret = await deliveries(settings, f"{base}/ok", timeout=1.0)
    try:
        assert await sender.deliver(key_id, event())
        assert len(hook.calls("ok")) == 3  # two 503s, retried with backoff
        verify(*hook.calls("ok")[-1], secret)

        await move(ledger, key_id, f"{base}/moved")
        assert await sender.deliver(key_id, event()) is False
        assert len(hook.calls("moved")) == 1 and hook.calls("elsewhere") == []

        await move(ledger, key_id, f"{base}/slow")
        sender.attempts = 2
        started = time.monotonic()
        assert await sender.deliver(key_id, event()) is False
        assert time.monotonic() - started < 4 and len(hook.calls("slow")) == 2
    finally:
        await sender.aclose()
        await ledger.close()


async def test_a_listener_never_waits_and_skips_keys_without_a_webhook(
    tmp_path: Path, hooks: tuple[Hooks, str], private_targets: None
) -> None:
    hook, base = hooks
    settings = get_settings(home=tmp_path / "h", secret_key=generate_key())
    sender, ledger, key_id, _ = await deliveries(settings, f"{base}/slow")
    plain, _ = await ledger.create_key("plain")
    try:
        job = SimpleNamespace(
            id="video_2", kind="generate", status=JobStatus.COMPLETED, owner=key_id
        )
        started = time.monotonic()
        await sender(job)  # type: ignore[arg-type]
        assert time.monotonic() - started < 0.5  # the slow receiver is not awaited here
        # The background delivery arrives while this loop keeps running (wait in a thread).
        await anyio.to_thread.run_sync(hook.wait_for, "slow", 1)
        assert await sender.deliver(plain.id, event()) is False
        await ledger.revoke_key(key_id)
        assert await sender.deliver(key_id, event()) is False  # a revoked key hears no more
    finally:
        await sender.aclose()
        await ledger.close()


async def keys_in(settings: Settings) -> list[ApiKeyRecord]:
    ledger = await Ledger.open(settings.ledger_url)
    try:
        return await ledger.list_keys()
    finally:
        await ledger.close()


def test_keys_with_webhooks_from_the_command_line(isolated_env: Path) -> None:
    env = {"SORAKIT_SECRET_KEY": generate_key()}
    made = sorakit(
        "keys", "create", "erin", "--webhook-url", "https://93.184.215.14/hook",
        home=isolated_env, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    secret, token = made.stdout.strip().splitlines()[-2:]
    assert secret.startswith("whsec_") and token.startswith("sk-sorakit-")
    settings = get_settings(home=isolated_env, secret_key=env["SORAKIT_SECRET_KEY"])
    (key,) = anyio.run(keys_in, settings)
    assert key.webhook_url == "https://93.184.215.14/hook" and key.webhook_secret
    assert SecretBox(env["SORAKIT_SECRET_KEY"]).open(key.webhook_secret) == secret
    assert secret not in json.dumps(key.public()) and "webhook_secret" not in key.public()

    loopback = sorakit(
        "keys", "webhook", key.id, "http://127.0.0.1:8000/hook", home=isolated_env, env=env
    )
    assert loopback.returncode == 2 and "loopback" in loopback.stderr
    cleared = sorakit("keys", "webhook", key.id, "--clear", home=isolated_env, env=env)
    assert cleared.returncode == 0 and "removed" in cleared.stderr
    (key,) = anyio.run(keys_in, settings)
    assert key.webhook_url is None and key.webhook_secret is None
    no_key = sorakit(
        "keys", "create", "fay", "--webhook-url", "https://93.184.215.14/hook", home=isolated_env
    )
    assert no_key.returncode == 7 and "SORAKIT_SECRET_KEY" in no_key.stderr
