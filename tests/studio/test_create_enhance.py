"""Prompt enhancement on the Create page: before and after side by side, offline looks, a chat
model on loopback, a readable sentence when nothing changed, and the job keeping the original."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from sorakit.settings import Settings
from tests.pipelines.chat_fake import API_KEY, FakeChat, serve_chat
from tests.studio.conftest import csrf_of
from tests.studio.test_create import HTMX, Studio, _create

PROMPT = "a red kite over a beach"


def enhance(client: TestClient, style: str, prompt: str = PROMPT) -> tuple[int, str]:
    token = csrf_of(client.get("/").text)
    answer = client.post(
        "/create/enhance",
        data={"prompt": prompt, "enhance_style": style, "csrf_token": token},
        headers=HTMX,
    )
    return answer.status_code, answer.text


def test_a_look_is_added_offline_and_shown_beside_the_prompt(studio: Studio) -> None:
    with studio() as client:
        status, html = enhance(client, "anime")
        assert status == 200, html
        before = re.search(r'<p class="before">(.*?)</p>', html, re.S)
        after = re.search(r'<p class="after">(.*?)</p>', html, re.S)
        assert before and before.group(1) == PROMPT
        assert after and after.group(1).startswith(PROMPT + ". Anime style: hand-drawn cel")
        assert "Use enhanced" in html and "Keep mine" in html
        assert 'data-style="anime"' in html and f'data-original="{PROMPT}"' in html


def test_with_no_chat_model_the_page_says_why_nothing_changed(studio: Studio) -> None:
    with studio() as client:
        status, html = enhance(client, "director")
        assert status == 200
        assert "Nothing changed: prompt enhancement failed (no chat API key is set" in html
        assert "SORAKIT_CHAT_API_KEY" in html and "Use enhanced" not in html
        assert "without a chat model" in html  # the looks are offered instead


@pytest.fixture
def chat(settings: Settings) -> Iterator[tuple[Settings, FakeChat]]:
    fake = FakeChat()
    with serve_chat(fake) as url:
        update = {"chat_api_key": SecretStr(API_KEY), "chat_base_url": url}
        yield settings.model_copy(update=update), fake


def test_a_chat_style_rewrites_it_with_the_chat_model(
    studio: Studio, chat: tuple[Settings, FakeChat]
) -> None:
    chatty, fake = chat
    with studio(**chatty.model_dump(include={"chat_api_key", "chat_base_url"})) as client:
        status, html = enhance(client, "director")
        assert status == 200, html
        assert fake.requests[-1]["messages"][-1] == {"role": "user", "content": PROMPT}
        assert f"Cinematic rewrite: {PROMPT}" in html
        assert f"Enhanced · director · {chatty.chat_model}" in html


def test_unknown_styles_empty_prompts_and_missing_tokens_are_refused(studio: Studio) -> None:
    with studio() as client:
        status, html = enhance(client, "baroque")
        assert status == 400 and "Unknown style" in html and "director" in html and "anime" in html
        status, html = enhance(client, "noir", prompt="  ")
        assert status == 400 and "prompt" in html
        status, html = enhance(client, "anime", prompt="a {nosuchstyle} kite")
        assert status == 400 and "Unknown style {nosuchstyle}" in html
        answer = client.post("/create/enhance", data={"prompt": PROMPT, "enhance_style": "anime"})
        assert answer.status_code == 403


def test_the_job_keeps_the_prompt_before_enhancement(studio: Studio) -> None:
    with studio() as client:
        enhanced = PROMPT + ". Film noir: high-contrast black and white."
        status, panel = _create(
            client,
            prompt=enhanced,
            enhanced_from=PROMPT,
            enhanced_style="noir",
            enhanced_model="",
        )
        assert status == 200, panel
        assert f"Enhanced (noir) from: “{PROMPT}”" in panel
        video_id = re.search(r'data-video-id="([^"]+)"', panel)
        assert video_id
        engine = client.app.state.engine  # type: ignore[attr-defined]
        job = client.portal.call(engine.ledger.get, video_id.group(1))  # type: ignore[union-attr]
        assert job.prompt == enhanced
        assert job.options["enhanced"] == {
            "original": PROMPT,
            "style": "noir",
            "model": None,
            "note": None,
        }
        # Kept mine (or never enhanced): nothing is recorded.
        _, plain = _create(client, enhanced_from="")
        video_id = re.search(r'data-video-id="([^"]+)"', plain)
        assert video_id and "Enhanced" not in plain
