"""No secret reaches a log: a real gateway at DEBUG, every kind of secret configured and used.

The server runs on loopback with the log set-up `sorakit serve -vv` installs (the redacting
formatter), root logging at DEBUG into a file and uvicorn's access log on. Traffic: videos made,
polled and downloaded by the openai SDK on the simulator and on a fake fal (which calls back with
its signed token), bad keys, chat completions with a signed download link, the admin API, tenant
and operator webhooks. Then every output (the log file, the process's stderr and stdout, the
request log and the job rows) is searched for any 12-character piece of any secret.
"""

from __future__ import annotations

import logging
import logging.config
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import openai
import pytest
import uvicorn
from pydantic import SecretStr

from sorakit.engine.callbacks import CallbackSigner
from sorakit.ledger import Ledger
from sorakit.logs import default_log_config, redact
from sorakit.security.secretbox import generate_key
from sorakit.server import create_app, webhooks
from sorakit.server.routes import chat
from sorakit.server.webhooks import PRIVATE_TARGETS, new_signing_secret
from sorakit.settings import Settings
from tests.conftest import ThreadedServer, make_mp4
from tests.gateway.test_chat import LINK, ask, video_of
from tests.gateway.test_tenant_webhooks import Hooks, hooks  # noqa: F401 (a fixture)
from tests.gateway.test_tenants import make_key
from tests.pipelines.chat_fake import FakeChat, serve_chat
from tests.providers.fal_fake import FakeFalQueue, QuickFal

WINDOW = 12
"""A leak is any run of this many characters of a secret."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def pieces(secret: str) -> set[str]:
    """Every WINDOW-character run of a secret (the secret itself when it is shorter)."""
    if len(secret) <= WINDOW:
        return {secret}
    return {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}


def secret_part(token: str) -> str:
    """What is secret in a token: a gateway key's public prefix and `whsec_` are not."""
    if token.startswith("sk-sorakit-"):
        return token.split("-", 3)[3]
    return token.removeprefix("whsec_")


def leaks(text: str, named: dict[str, str]) -> list[str]:
    found = []
    for name, secret in named.items():
        for piece in pieces(secret_part(secret)):
            if piece in text:
                index = text.index(piece)
                found.append(f"{name}: …{text[max(0, index - 80) : index + 40]!r}")
                break
    return found


def debug_logging(path: Path) -> None:
    """`sorakit serve -vv`'s logging, with root at DEBUG also writing every record to `path`.

    Applied once the loopback fakes run: each uvicorn.Config re-configures uvicorn's loggers.
    """
    config = default_log_config(2)
    config["handlers"]["file"] = {
        "class": "logging.FileHandler",
        "formatter": "plain",
        "filename": str(path),
    }
    # sorakit's own records, not redacted: the redactor is a safety net, not where we stop.
    config["formatters"]["raw"] = {"format": "%(levelname)s %(name)s: %(message)s"}
    config["handlers"]["raw"] = {
        "class": "logging.FileHandler",
        "formatter": "raw",
        "filename": str(path.with_suffix(".raw")),
    }
    config["loggers"] = {
        "sorakit": {"level": "DEBUG", "handlers": ["stderr", "file", "raw"], "propagate": False},
        # As `sorakit serve` sets it (access log included), plus the file.
        "uvicorn": {"level": "DEBUG", "handlers": ["stderr", "file"], "propagate": False},
        "uvicorn.access": {"level": "DEBUG", "propagate": True},
        "uvicorn.error": {"level": "DEBUG", "propagate": True},
    }
    config["root"] = {"level": "DEBUG", "handlers": ["file"]}
    logging.config.dictConfig(config)


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for logger in (root, logging.getLogger("sorakit"), logging.getLogger("uvicorn")):
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    "line",
    [
        "POST https://q.example/x?fal_webhook=http%3A%2F%2Fh%2Fcallbacks%2Fv%3Ftoken%3D57f87c98416a4de4",
        "GET /a?next=%2Fb%3Fsignature%253D57f87c98416a4de4 HTTP/1.1",
        "GET /a?Token%3d57f87c98416a4de4%2B57f8 HTTP/1.1",
    ],
)
def test_percent_encoded_query_secrets_are_redacted(line: str) -> None:
    assert "57f87c98" not in redact(line) and "[redacted]" in redact(line)


def test_no_secret_reaches_any_log(
    tmp_path: Path,
    root_logging: None,
    hooks: tuple[Hooks, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hook, hook_base = hooks
    monkeypatch.setattr(webhooks, "tenant_policy", lambda settings: PRIVATE_TARGETS)
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)
    fal_key = f"{secrets.token_hex(8)}:{secrets.token_hex(16)}"
    fal = FakeFalQueue(make_mp4(seconds=1.0, size=(1280, 720)), key=fal_key)
    fal.speed, fal.queue_seconds, fal.render_seconds = 40.0, 2.0, 8.0
    chat_fake = FakeChat(api_key=f"sk-proj-{secrets.token_urlsafe(32)}")
    port = free_port()
    named: dict[str, str] = {
        "operator webhook secret": new_signing_secret(),
        "SORAKIT_SECRET_KEY": generate_key(),
        "FAL_KEY": fal_key,
        "OPENAI_API_KEY": chat_fake.api_key,
        "RUNWAYML_API_SECRET": f"key_{secrets.token_hex(32)}",
        "GEMINI_API_KEY": f"AIza{secrets.token_urlsafe(30)}",
    }
    log_file = tmp_path / "server.log"
    with serve_chat(chat_fake) as chat_url:
        debug_logging(log_file)
        settings = Settings(
            home=tmp_path / "home",
            simulator_render_seconds=0.3,
            secret_key=SecretStr(named["SORAKIT_SECRET_KEY"]),
            webhook_url=f"{hook_base}/operator",
            webhook_secret=SecretStr(named["operator webhook secret"]),
            fal_key=SecretStr(fal_key),
            openai_api_key=SecretStr(named["OPENAI_API_KEY"]),
            chat_base_url=chat_url,
            runway_api_secret=SecretStr(named["RUNWAYML_API_SECRET"]),
            gemini_api_key=SecretStr(named["GEMINI_API_KEY"]),
            public_url=f"http://127.0.0.1:{port}",
            aliases={"sora-2-pro": "fal/kling-3.0-pro"},
        )
        named["admin key"] = make_key(settings, "admin", admin=True)
        named["tenant key"] = make_key(settings, "bob")
        try:
            drive(settings, port, named, fal, hook, hook_base)
        finally:
            fal.close()
    named["callback key"] = (settings.home / "callback.key").read_text().strip()
    named["link key"] = (settings.home / "links.key").read_text().strip()

    captured = capfd.readouterr()
    outputs = {
        "log file": log_file.read_text(),
        "sorakit's records before redaction": log_file.with_suffix(".raw").read_text(),
        "stderr": captured.err,
        "stdout": captured.out,
        **anyio.run(ledger_text, settings),
    }
    log = outputs["log file"]
    # The log really holds this traffic (so an empty log cannot pass): access lines, DEBUG lines.
    assert '"POST /v1/videos HTTP/1.1" 200' in log and " 401" in log and "DEBUG" in log
    assert "/callbacks/" in log and "/v1/links/" in log and "/admin/keys" in log
    found = [f"{where}: {leak}" for where, text in outputs.items() for leak in leaks(text, named)]
    assert not found, "\n".join(found)


def drive(
    settings: Settings,
    port: int,
    named: dict[str, str],
    fal: FakeFalQueue,
    hook: Hooks,
    hook_base: str,
) -> None:
    """Every kind of traffic, each secret used at least once."""
    app = create_app(settings, providers={"fal": QuickFal(key=fal.key, transport=fal.transport())})
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    with ThreadedServer(config).running() as url:
        admin = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {named['admin key']}"}
        )
        made = admin.post("/admin/keys", json={"name": "acme", "webhook_url": f"{hook_base}/ok"})
        assert made.status_code == 200, made.text
        named["created key"], named["tenant webhook secret"] = (
            made.json()["key"],
            made.json()["webhook_secret"],
        )
        patched = admin.patch(
            f"/admin/keys/{made.json()['id']}", json={"webhook_url": f"{hook_base}/ok"}
        )
        named["rotated webhook secret"] = patched.json()["webhook_secret"]
        named["refused webhook token"] = secrets.token_hex(16)
        refused = admin.post(
            "/admin/keys",
            json={
                "name": "eve",
                "webhook_url": f"http://169.254.169.254/x?token={named['refused webhook token']}",
            },
        )
        assert refused.status_code == 400
        for path in ("/admin/keys", "/admin/usage", "/admin/log"):
            assert admin.get(path).status_code == 200

        acme = openai.OpenAI(base_url=f"{url}/v1", api_key=named["created key"], max_retries=0)
        video = acme.videos.create_and_poll(model="sora-2", prompt="a kite", seconds="4")
        assert video.status == "completed"
        assert acme.videos.download_content(video.id).read()[4:8] == b"ftyp"
        on_fal = acme.videos.create(model="sora-2-pro", prompt="a heron on a post")
        bob = openai.OpenAI(base_url=f"{url}/v1", api_key=named["tenant key"], max_retries=0)
        assert [v.id for v in bob.videos.list().data] == []

        # Bad keys: a mistyped gateway key, an OpenAI key sent here by mistake, a key in a query.
        named["mistyped key"] = named["tenant key"][:-6] + "abcdef"
        named["stray OpenAI key"] = f"sk-proj-{secrets.token_urlsafe(40)}"
        named["query key"] = secrets.token_urlsafe(24)
        for bad in (named["mistyped key"], named["stray OpenAI key"]):
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=f"{url}/v1", api_key=bad, max_retries=0).videos.list()
        assert httpx.get(f"{url}/v1/videos?api_key={named['query key']}").status_code == 401

        # Chat: a video with a signed link (downloaded, then forged), and an enhanced prompt.
        text = ask(acme, "sora2-landscape-10s", "a red kite over the dunes")
        (link,) = LINK.findall(text)
        named["link signature"] = link.rsplit("signature=", 1)[1]
        assert httpx.get(link).status_code == 200
        assert httpx.get(link[:-6] + "000000").status_code == 403
        assert video_of(text)
        assert ask(acme, "prompt-enhance-director", "a fox in the snow").startswith("Cinematic")

        # fal calls back on its signed URL; a forged token is refused.
        deadline = time.monotonic() + 30
        while acme.videos.retrieve(on_fal.id).status not in ("completed", "failed"):
            assert time.monotonic() < deadline, "the fal job never finished"
            time.sleep(0.05)
        assert any(status == 204 for _, status in fal.webhook_log), fal.webhook_log
        signer = CallbackSigner.from_settings(settings)
        assert signer is not None
        named["callback token"] = signer.token(on_fal.id)
        forged = httpx.post(
            f"{url}/callbacks/{quote(on_fal.id)}?token={secrets.token_hex(20)}", json={}
        )
        assert forged.status_code in (401, 403, 404)
        hook.wait_for("ok", 2)
        hook.wait_for("operator", 3)
        admin.close()


async def ledger_text(settings: Settings) -> dict[str, str]:
    """The request log and the job rows, as text."""
    ledger = await Ledger.open(settings.ledger_url)
    try:
        requests = await ledger.recent_requests(limit=1000)
        jobs, _ = await ledger.list_jobs(limit=1000)
    finally:
        await ledger.close()
    assert len(requests) > 20
    rows: list[Any] = [*requests, *jobs]
    return {
        "request log": "\n".join(map(repr, requests)),
        "job rows": "\n".join(map(repr, rows[len(requests) :])),
    }
