"""Prompt enhancement through a real chat-completions server on loopback, and its fallbacks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sorakit.errors import InvalidRequestError
from sorakit.pipelines.chat import chat_client
from sorakit.pipelines.enhance import STYLES, enhance_prompt
from sorakit.settings import Settings
from sorakit.wire.videos import PROMPT_MAX_LENGTH
from tests.pipelines.chat_fake import API_KEY, FakeChat, serve_chat

PROMPT = "a calico cat plays a piano in a small jazz club"


@pytest.fixture
def fake() -> FakeChat:
    return FakeChat(slow_seconds=1.0)


@pytest.fixture
def chat_settings(settings: Settings, fake: FakeChat) -> Iterator[Settings]:
    with serve_chat(fake) as url:
        yield settings.model_copy(update={"chat_api_key": SecretStr(API_KEY), "chat_base_url": url})


def test_the_studios_three_styles_are_offered() -> None:
    assert list(STYLES) == ["director", "pixar", "clean"]
    assert "lens" in STYLES["director"] and "camera movement" in STYLES["director"]
    assert "3D animated feature" in STYLES["pixar"]
    assert "Do not add new details" in STYLES["clean"]
    for system in STYLES.values():
        assert "Keep every" in system and "rewritten prompt only" in system


@pytest.mark.parametrize("style", ["director", "pixar", "clean"])
async def test_each_style_sends_its_system_prompt_and_returns_the_rewrite(
    chat_settings: Settings, fake: FakeChat, style: str
) -> None:
    result = await enhance_prompt(PROMPT, style, settings=chat_settings)
    assert fake.count == 1
    body = fake.requests[0]
    assert body["model"] == chat_settings.chat_model and "response_format" not in body
    assert body["messages"] == [
        {"role": "system", "content": STYLES[style]},
        {"role": "user", "content": PROMPT},
    ]
    assert result.original == PROMPT and result.style == style
    assert result.enhanced == f"Cinematic rewrite: {PROMPT}, golden hour light, slow dolly-in."
    assert not result.used_fallback and result.note is None
    assert result.model == chat_settings.chat_model


async def test_an_unknown_style_is_refused_with_the_list(
    chat_settings: Settings, fake: FakeChat
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await enhance_prompt(PROMPT, "noir", settings=chat_settings)
    assert caught.value.param == "style"
    assert caught.value.allowed == ("director", "pixar", "clean")
    assert "director, pixar, clean" in str(caught.value)
    with pytest.raises(InvalidRequestError, match="empty"):
        await enhance_prompt("  ", "clean", settings=chat_settings)
    assert fake.count == 0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('"A calico cat at the piano."', "A calico cat at the piano."),
        ("Enhanced prompt: “A calico cat at the piano.”", "A calico cat at the piano."),
        ("```text\nA calico cat at the piano.\n```", "A calico cat at the piano."),
        ("  A cat: it plays.  ", "A cat: it plays."),
    ],
)
async def test_wrappers_around_the_rewrite_are_removed(
    chat_settings: Settings, fake: FakeChat, answer: str, expected: str
) -> None:
    fake.reply = lambda _body: answer
    result = await enhance_prompt(PROMPT, "director", settings=chat_settings)
    assert result.enhanced == expected and not result.used_fallback


async def test_without_a_key_the_original_is_used_and_the_user_told(settings: Settings) -> None:
    result = await enhance_prompt(PROMPT, "pixar", settings=settings)
    assert result.used_fallback and result.enhanced == PROMPT == result.original
    assert result.note is not None and "SORAKIT_CHAT_API_KEY" in result.note
    assert result.model is None


async def test_a_wrong_key_falls_back(chat_settings: Settings, fake: FakeChat) -> None:
    wrong = chat_settings.model_copy(update={"chat_api_key": SecretStr("sk-nope")})
    result = await enhance_prompt(PROMPT, "director", settings=wrong)
    assert result.used_fallback and result.enhanced == PROMPT
    assert result.note is not None and "HTTP 401" in result.note
    assert fake.unauthorized == 1


@pytest.mark.parametrize(
    ("script", "requests", "reason"),
    [
        (["server_error", "server_error"], 2, "HTTP 500"),  # one retry by the client, then give up
        (["empty"], 1, "empty message"),
        (["malformed"], 1, "empty message"),
    ],
)
async def test_chat_failures_fall_back_to_the_original(
    chat_settings: Settings, fake: FakeChat, script: list[str], requests: int, reason: str
) -> None:
    fake.script = list(script)
    result = await enhance_prompt(PROMPT, "clean", settings=chat_settings)
    assert result.used_fallback and result.enhanced == PROMPT
    assert result.note is not None and reason in result.note
    assert "the original prompt is used" in result.note
    assert fake.count == requests


async def test_a_slow_chat_model_times_out_and_falls_back(
    chat_settings: Settings, fake: FakeChat
) -> None:
    fake.script = ["slow", "slow"]
    result = await enhance_prompt(PROMPT, "director", settings=chat_settings, timeout=0.2)
    assert result.used_fallback and result.note is not None and "timed out" in result.note


async def test_a_rewrite_over_the_limit_falls_back(chat_settings: Settings, fake: FakeChat) -> None:
    def huge(_body: dict[str, Any]) -> str:
        return "y" * (PROMPT_MAX_LENGTH + 1)

    fake.reply = huge
    result = await enhance_prompt(PROMPT, "director", settings=chat_settings)
    assert result.used_fallback and result.note is not None and "maximum" in result.note


async def test_a_given_client_is_used_and_left_open(
    chat_settings: Settings, fake: FakeChat
) -> None:
    async with chat_client(chat_settings, max_retries=0) as client:
        first = await enhance_prompt(PROMPT, "clean", settings=chat_settings, client=client)
        second = await enhance_prompt("a dog", "clean", settings=chat_settings, client=client)
        assert not client.is_closed()
    assert not first.used_fallback and second.enhanced.endswith(
        "a dog, golden hour light, slow dolly-in."
    )
    assert fake.count == 2
