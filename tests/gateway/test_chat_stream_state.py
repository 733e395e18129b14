"""The streamed chat answer's `sorakit` field: the work's id, status, percent and ETA per chunk."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest

from sorakit.server.routes import chat
from sorakit.settings import Settings
from tests.gateway.test_chat import gateway

VIDEO_ID = re.compile(r"video_[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "POLL_SECONDS", 0.05)


def streamed(url: str, content: str, **extra: Any) -> list[dict[str, Any]]:
    """Every event body of one streamed chat answer, [DONE] excluded."""
    body = {"model": "sora-2", "messages": [{"role": "user", "content": content}], "stream": True}
    events = []
    with httpx.stream("POST", f"{url}/chat/completions", json=body | extra, timeout=30) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line.removeprefix("data: ")))
    return events


def test_each_chunk_carries_the_jobs_state_up_to_completed(settings: Settings) -> None:
    settings = settings.model_copy(update={"simulator_render_seconds": 1.0})
    with gateway(settings) as url:
        events = streamed(url, "a lighthouse at dusk")
    role, *rest = [event for event in events if event.get("choices")]
    assert "sorakit" not in role  # the role chunk comes before any work is read
    states = [event["sorakit"] for event in rest if "sorakit" in event]
    intro = rest[0]["choices"][0]["delta"]["content"]
    match = VIDEO_ID.search(intro)
    assert match, intro
    assert {state["id"] for state in states} == {match.group()}
    assert states[-1] == {
        "id": match.group(),
        "kind": "video",
        "status": "completed",
        "progress": 100,
        "eta_seconds": 0.0,
    }
    rendering = [state for state in states[:-1] if state["status"] == "in_progress"]
    assert rendering, states
    percents = [state["progress"] for state in states]
    assert percents == sorted(percents)
    assert any(0 < state["progress"] < 100 for state in rendering)
    # The simulator says how long it takes: the ETA is known while it renders, and shrinks.
    etas = [state["eta_seconds"] for state in rendering]
    assert all(isinstance(eta, float) and 0 <= eta <= 1.0 for eta in etas), etas
    assert etas == sorted(etas, reverse=True)


def test_the_sdk_reads_the_stream_as_before(settings: Settings) -> None:
    with gateway(settings) as url:
        sdk = openai.OpenAI(base_url=url, api_key="sk-any", max_retries=0)
        stream = sdk.chat.completions.create(
            model="sora-2", messages=[{"role": "user", "content": "a red kite"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("Creating video video_")
    assert "/v1/links/video_" in text


def test_variations_report_the_mean_percent_of_their_takes(settings: Settings) -> None:
    with gateway(settings) as url:
        events = streamed(url, "two takes of a paper boat", n=2)
    states = [event["sorakit"] for event in events if "sorakit" in event]
    assert states[0]["kind"] == "pipeline"
    assert states[-1]["status"] == "completed" and states[-1]["progress"] == 100
    percents = [state["progress"] for state in states]
    assert all(0 <= percent <= 100 for percent in percents)
    assert len(set(percents)) > 1, percents
