"""`sorakit studio`, run for real: it prints the URL, and starts `serve` only when none answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx

from sorakit.settings import Settings
from tests.cli.test_cli import sorakit


def test_studio_opens_a_running_server(
    serve: Callable[..., AbstractContextManager[str]], settings: Settings, isolated_env: Path
) -> None:
    with serve(settings) as base_url:
        port = base_url.rsplit(":", 1)[1]
        result = sorakit("studio", "--no-browser", "--port", port, home=isolated_env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"http://127.0.0.1:{port}/"
        assert "started" not in result.stderr  # the running server was found


def test_studio_starts_serve_when_none_answers(isolated_env: Path) -> None:
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = sorakit("studio", "--no-browser", "--port", str(port), home=isolated_env)
    assert result.returncode == 0, result.stderr
    pid = int(result.stderr.split("(pid ", 1)[1].split(";", 1)[0])
    try:
        url = result.stdout.strip()
        assert url == f"http://127.0.0.1:{port}/"
        page = httpx.get(url)
        assert page.status_code == 200 and "Create a video" in page.text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
