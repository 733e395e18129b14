"""A client that leaves a live stream: the server stops following it without throwing database
connections away (which, with aiosqlite, logs "Task was destroyed but it is pending" per drop)."""

from __future__ import annotations

import gc
import logging

import httpx
import pytest

from sorakit.server.routes import chat
from sorakit.settings import Settings
from tests.gateway.test_chat import gateway

DROPS = 12


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.01)  # the loop is then mostly ledger reads


def _lost_closes(caplog: pytest.LogCaptureFixture) -> list[str]:
    gc.collect()  # an abandoned close is reported when its task is collected
    return [r.getMessage() for r in caplog.records if "Task was destroyed" in r.getMessage()]


def test_dropping_chat_streams_loses_no_connection(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 30.0})
    caplog.set_level(logging.ERROR, logger="asyncio")
    with gateway(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        for number in range(DROPS):
            body = {
                "model": "sora-2",
                "messages": [{"role": "user", "content": f"a red kite, take {number}"}],
                "stream": True,
            }
            with client.stream("POST", "/chat/completions", json=body) as answer:
                lines = answer.iter_lines()
                next(line for line in lines if '"sorakit"' in line)  # then hang up
            assert client.get("/videos").status_code == 200  # the server goes on serving
    assert _lost_closes(caplog) == []
