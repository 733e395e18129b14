"""The pipe's file as `sorakit serve` hands it out, and its valves' arithmetic (no Open WebUI)."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from fastapi.testclient import TestClient

from sorakit.openwebui import pipe_source, sorakit_pipe as module
from sorakit.server import create_app
from sorakit.settings import Settings


def test_the_pipe_is_served_as_python_at_a_stable_url(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        answer = client.get("/openwebui/sorakit_pipe.py")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/x-python")
    assert answer.text == pipe_source()
    # Open WebUI reads the frontmatter only from a docstring on the very first line.
    assert answer.text.splitlines()[0] == '"""'
    # Its loader rewrites these words anywhere in the source (`from utils` -> `from open_webui…`).
    assert not re.search(r"\bfrom (utils|apps|main|config)", answer.text)
    compile(answer.text, "sorakit_pipe.py", "exec")


@pytest.mark.parametrize(
    ("asked", "valves", "sent"),
    [
        ("sorakit.sora-2", {}, "sora-2"),
        ("sorakit.veo-3.1-fast", {"DEFAULT_DURATION": 8}, "veo-3.1-fast"),  # no name carries it
        ("sorakit.sora-2", {"DEFAULT_DURATION": 8}, "sora2-8s"),
        ("sorakit.sora-2", {"DEFAULT_SIZE": "720x1280"}, "sora2-portrait"),
        (
            "sorakit.sora-2-pro",
            {"DEFAULT_SIZE": "1920x1080", "DEFAULT_DURATION": 12},
            "sora2pro-hd-landscape-12s",
        ),
        ("sorakit.sora-2", {"DEFAULT_SIZE": "640x480"}, "sora-2"),  # not an allowed size
        ("", {"DEFAULT_MODEL": "sora-2-pro"}, "sora-2-pro"),
    ],
)
def test_the_model_sent_carries_the_default_length_and_shape(
    asked: str, valves: dict[str, object], sent: str
) -> None:
    pipe = module.Pipe()
    pipe.valves = pipe.Valves(**valves)  # type: ignore[arg-type]
    assert pipe._model(asked) == sent


def test_invalid_allowed_sizes_are_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipe = module.Pipe()
    pipe.valves = pipe.Valves(ALLOWED_SIZES="1280x720, huge, 720x1280", DEFAULT_SIZE="720x1280")
    with caplog.at_level(logging.WARNING, logger="sorakit_pipe"):
        assert pipe._default_size() == "720x1280"
    assert "ignoring 'huge' in ALLOWED_SIZES" in caplog.text


def test_the_unreachable_entry_answers_in_words() -> None:
    pipe = module.Pipe()
    answer = asyncio.run(pipe.pipe({"model": f"sorakit.{module.UNREACHABLE_ID}", "messages": []}))
    assert answer.startswith("sorakit is not reachable at http://127.0.0.1:8000.")
