"""One chat through a whole `open-webui serve`'s HTTP API, the pipe imported from sorakit's URL.

Opt-in (`OPEN_WEBUI_TEST_SERVE=1`): Open WebUI's slim install is about 630 MB, and the
server took 90 to 150 s to answer `/health` on a busy 2-core machine. The steps are an admin's:
sign up (the first account is the admin), create the function from the served file, switch it
on, set its valves, then chat with `sorakit.sora-2` and fetch the video from Open WebUI's files.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sorakit.server.routes import chat
from sorakit.settings import Settings
from tests.openwebui.conftest import OpenWebUI, _cache_root, build_slim_venv, open_webui_env

FILE = re.compile(r'<video src="(/api/v1/files/[0-9a-f-]{36}/content)" controls></video>')
STARTUP_SECONDS = 600

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("OPEN_WEBUI_TEST_SERVE") != "1",
        reason="a whole open-webui serve is opt-in: OPEN_WEBUI_TEST_SERVE=1",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def slim_open_webui() -> OpenWebUI:
    """Open WebUI's slim install (made on first use, then reused from the cache)."""
    return build_slim_venv(_cache_root())


@contextlib.contextmanager
def open_webui_serve(venv: OpenWebUI, home: Path) -> Iterator[str]:
    """`open-webui serve` on a free loopback port, its data in `home`, until /health answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(venv.python.with_name("open-webui")), "serve", "--host", "127.0.0.1"]
    with (home / "open-webui.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=open_webui_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _healthy(url):
                assert process.poll() is None, (home / "open-webui.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "open-webui serve did not start"
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _chat(client: httpx.Client, sorakit: str) -> httpx.Response:
    """An admin's steps, then one chat; the video file Open WebUI keeps."""
    account = {"name": "Ada", "email": "ada@example.com", "password": "a-long-Passw0rd!"}
    signed = client.post("/api/v1/auths/signup", json=account)
    assert signed.status_code == 200, signed.text
    client.headers["authorization"] = f"Bearer {signed.json()['token']}"
    source = httpx.get(f"{sorakit}/openwebui/sorakit_pipe.py").text
    made = client.post(
        "/api/v1/functions/create",
        json={
            "id": "sorakit",
            "name": "sorakit",
            "content": source,
            "meta": {"description": ""},
        },
    )
    assert made.status_code == 200 and made.json()["type"] == "pipe", made.text
    assert client.post("/api/v1/functions/id/sorakit/toggle").status_code == 200
    valves = client.post(
        "/api/v1/functions/id/sorakit/valves/update", json={"SORAKIT_URL": sorakit}
    )
    assert valves.status_code == 200, valves.text
    models = {model["id"] for model in client.get("/api/models").json()["data"]}
    assert "sorakit.sora-2" in models
    answer = client.post(
        "/api/chat/completions",
        json={
            "model": "sorakit.sora-2",
            "messages": [{"role": "user", "content": "a 4 second video of a lighthouse"}],
            "stream": False,
        },
    )
    assert answer.status_code == 200, answer.text
    text = answer.json()["choices"][0]["message"]["content"]
    assert text.startswith("Creating video video_"), text
    match = FILE.search(text)
    assert match, text
    return client.get(match.group(1))


def test_a_chat_through_open_webuis_api_keeps_the_video_in_its_files(
    settings: Settings,
    serve: Callable[..., contextlib.AbstractContextManager[str]],
    slim_open_webui: OpenWebUI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)
    home = tmp_path / "open-webui"
    home.mkdir()
    with (
        serve(settings) as sorakit,
        open_webui_serve(slim_open_webui, home) as url,
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        video = _chat(client, sorakit)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
