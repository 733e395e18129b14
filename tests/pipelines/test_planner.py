"""The long-video planner: offline and through a real chat-completions server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
)
from sorakit.pipelines.chat import chat_client
from sorakit.pipelines.planner import Plan, plan_offline, plan_segments
from sorakit.settings import Settings
from sorakit.wire.videos import PROMPT_MAX_LENGTH
from tests.pipelines.chat_fake import API_KEY, FakeChat, serve_chat

PROMPT = "a red fox crosses a snowy forest at dawn and finds its den"


@pytest.fixture
def fake() -> FakeChat:
    return FakeChat(slow_seconds=1.0)


@pytest.fixture
def chat_url(fake: FakeChat) -> Iterator[str]:
    with serve_chat(fake) as url:
        yield url


@pytest.fixture
def chat_settings(settings: Settings, chat_url: str) -> Settings:
    return settings.model_copy(
        update={"chat_api_key": SecretStr(API_KEY), "chat_base_url": chat_url}
    )


# --- offline ------------------------------------------------------------------------------


def test_the_offline_plan_is_deterministic_and_tells_a_continuing_story() -> None:
    plan = plan_offline(PROMPT, [8, 8, 4, 12])
    assert plan == plan_offline(PROMPT, [8, 8, 4, 12])
    assert plan.planner == "offline" and plan.model is None
    assert plan.seconds == [8, 8, 4, 12] and plan.total_seconds == 32
    assert [segment.title for segment in plan.segments] == [
        "Opening",
        "Development",
        "Climax",
        "Resolution",
    ]
    prompts = [segment.prompt for segment in plan.segments]
    assert len(set(prompts)) == 4
    for index, prompt in enumerate(prompts):
        assert PROMPT in prompt  # self-contained: the video model sees only this
        assert f"Shot {index + 1} of 4, {plan.seconds[index]} seconds" in prompt
        assert ("final frame of the previous shot" in prompt) == (index > 0)
        assert ("next shot continues from" in prompt) == (index < 3)
    assert plan.title == "A red fox crosses a snowy forest at…"  # eight words


@pytest.mark.parametrize(
    ("count", "titles"),
    [
        (1, ["Single shot"]),
        (2, ["Opening", "Resolution"]),
        (3, ["Opening", "Climax", "Resolution"]),
        (
            6,
            ["Opening", "Development", "Development", "Development", "Climax", "Resolution"],
        ),
    ],
)
def test_offline_beats_for_any_count(count: int, titles: list[str]) -> None:
    plan = plan_offline(PROMPT, [4] * count)
    assert [segment.title for segment in plan.segments] == titles
    developments = [s.prompt for s in plan.segments if s.title == "Development"]
    assert len(set(developments)) == len(developments)  # the middle beats vary


def test_a_prompt_too_long_for_beats_is_used_as_is() -> None:
    prompt = "x" * (PROMPT_MAX_LENGTH - 10)
    plan = plan_offline(prompt, [4, 4])
    assert [segment.prompt for segment in plan.segments] == [prompt, prompt]
    assert plan.notes and "too long" in plan.notes[0]


@pytest.mark.parametrize(
    ("prompt", "seconds", "param"),
    [("", [4], "prompt"), ("  ", [4], "prompt"), ("x" * (PROMPT_MAX_LENGTH + 1), [4], "prompt")]
    + [(PROMPT, [], "seconds"), (PROMPT, [4, 0], "seconds")],
)
async def test_impossible_requests_are_refused(
    prompt: str, seconds: list[int], param: str, settings: Settings
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await plan_segments(prompt, seconds, settings=settings, mode="offline")
    assert caught.value.param == param


async def test_offline_mode_never_calls_the_chat_model(
    chat_settings: Settings, fake: FakeChat
) -> None:
    plan = await plan_segments(PROMPT, [4, 8], settings=chat_settings, mode="offline")
    assert plan.planner == "offline" and not plan.notes
    assert fake.count == 0


async def test_auto_without_a_key_plans_offline_and_says_so(settings: Settings) -> None:
    plan = await plan_segments(PROMPT, [4, 4], settings=settings)
    assert plan.planner == "offline"
    assert plan.notes == ["planned offline: no chat API key is set"]


async def test_chat_without_a_key_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="SORAKIT_CHAT_API_KEY"):
        await plan_segments(PROMPT, [4, 4], settings=settings, mode="chat")


# --- saved plans --------------------------------------------------------------------------


def test_a_saved_plan_loads_back_with_the_users_edits(tmp_path: Path) -> None:
    plan = plan_offline(PROMPT, [8, 4])
    path = plan.save(tmp_path / "out" / "plan.json")
    data = json.loads(path.read_text())
    data["segments"][1]["prompt"] = "The fox curls up in its den as the sun rises."
    path.write_text(json.dumps(data))
    loaded = Plan.load(path, seconds=[8, 4])
    assert loaded.segments[1].prompt == "The fox curls up in its den as the sun rises."
    assert loaded.segments[0] == plan.segments[0]
    assert Plan.from_json(plan.to_json()) == plan


def test_a_plan_that_does_not_fit_the_request_is_refused_clearly(tmp_path: Path) -> None:
    path = plan_offline(PROMPT, [8, 8, 4]).save(tmp_path / "plan.json")
    with pytest.raises(InvalidRequestError) as caught:
        Plan.load(path, seconds=[8, 8, 8, 8])
    message = str(caught.value)
    assert "has 3 segments but 4 are asked" in message
    assert "8 + 8 + 4 = 20 s" in message and "8 + 8 + 8 + 8 = 32 s" in message
    assert str(path) in message and caught.value.param == "plan"
    with pytest.raises(InvalidRequestError, match="other lengths than asked"):
        Plan.load(path, seconds=[8, 4, 8])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["segments"][0].update(prompt="   "), "segments.0.prompt"),
        (lambda d: d["segments"][0].update(prompt="x" * (PROMPT_MAX_LENGTH + 1)), "maximum"),
        (lambda d: d["segments"][0].update(seconds=0), "segments.0.seconds"),
        (lambda d: d.update(segments=[]), "segments"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_an_edited_plan_that_breaks_the_rules_is_refused(
    tmp_path: Path, edit: object, expected: str
) -> None:
    data = json.loads(plan_offline(PROMPT, [4, 4]).to_json())
    edit(data)  # type: ignore[operator]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidRequestError, match="is not a valid plan") as caught:
        Plan.load(path)
    assert expected in str(caught.value)


def test_a_missing_or_broken_plan_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="cannot read the plan"):
        Plan.load(tmp_path / "nothing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidRequestError, match="is not a valid plan"):
        Plan.load(broken)


# --- through the chat model ---------------------------------------------------------------


async def test_the_chat_planner_asks_for_a_strict_schema_and_uses_the_answer(
    chat_settings: Settings, fake: FakeChat
) -> None:
    plan = await plan_segments(PROMPT, [8, 4, 12], settings=chat_settings)
    assert fake.count == 1
    body = fake.requests[0]
    assert body["model"] == chat_settings.chat_model
    spec = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and spec["strict"] is True
    segments = spec["schema"]["properties"]["segments"]
    assert segments["minItems"] == segments["maxItems"] == 3
    system, user = body["messages"]
    assert system["role"] == "system" and "exact last frame" in system["content"]
    assert "exactly 3 items" in system["content"]
    assert PROMPT in user["content"] and "clip 3: 12 s" in user["content"]
    assert "total 24 seconds" in user["content"]

    assert plan.planner == "chat" and plan.model == chat_settings.chat_model
    assert plan.seconds == [8, 4, 12] and not plan.notes
    assert plan.title.startswith("title #") and plan.style.startswith("style #")
    for index, segment in enumerate(plan.segments):
        assert segment.prompt.startswith(f"segments[{index}].prompt #")
        assert PROMPT in segment.prompt  # the fake echoes the user message into its strings


async def test_json_wrapped_in_prose_is_still_read(chat_settings: Settings, fake: FakeChat) -> None:
    fake.script = ["fenced"]
    plan = await plan_segments(PROMPT, [4, 8], settings=chat_settings, mode="chat")
    assert plan.planner == "chat" and plan.seconds == [4, 8] and fake.count == 1
    assert plan.segments[1].prompt.startswith("segments[1].prompt #")


@pytest.mark.parametrize("fault", ["malformed", "wrong_count", "empty"])
async def test_a_malformed_answer_is_asked_for_once_more(
    chat_settings: Settings, fake: FakeChat, fault: str
) -> None:
    fake.script = [fault]
    plan = await plan_segments(PROMPT, [4, 4], settings=chat_settings, mode="chat")
    assert plan.planner == "chat" and len(plan.segments) == 2
    assert fake.count == 2
    retry = fake.requests[1]["messages"]
    roles = (
        ["system", "user", "user"] if fault == "empty" else ["system", "user", "assistant", "user"]
    )
    assert [message["role"] for message in retry] == roles
    assert "cannot be used" in retry[-1]["content"] and "exactly 2 segments" in retry[-1]["content"]
    reasons = {
        "malformed": "not valid JSON",
        "wrong_count": "has 3 segments",
        "empty": "the answer is empty",
    }
    assert reasons[fault] in retry[-1]["content"]


async def test_two_malformed_answers_fail_in_chat_mode(
    chat_settings: Settings, fake: FakeChat
) -> None:
    fake.script = ["malformed", "wrong_count"]
    with pytest.raises(ProviderError) as caught:
        await plan_segments(PROMPT, [4, 4], settings=chat_settings, mode="chat")
    assert caught.value.code == "malformed_plan" and caught.value.provider == "chat"
    assert "3 segments; exactly 2 are needed" in str(caught.value)
    assert fake.count == 2


async def test_two_malformed_answers_fall_back_offline_in_auto_mode(
    chat_settings: Settings, fake: FakeChat
) -> None:
    fake.script = ["malformed", "malformed"]
    plan = await plan_segments(PROMPT, [4, 4], settings=chat_settings, mode="auto")
    assert plan.planner == "offline" and fake.count == 2
    assert plan.segments == plan_offline(PROMPT, [4, 4]).segments
    assert len(plan.notes) == 1 and "chat planner failed" in plan.notes[0]


async def test_a_wrong_key_is_an_auth_error_or_an_offline_plan(
    chat_settings: Settings, fake: FakeChat
) -> None:
    wrong = chat_settings.model_copy(update={"chat_api_key": SecretStr("sk-wrong")})
    with pytest.raises(ProviderAuthError) as caught:
        await plan_segments(PROMPT, [4], settings=wrong, mode="chat")
    assert caught.value.status_code == 401 and "Incorrect API key" in str(caught.value)
    plan = await plan_segments(PROMPT, [4], settings=wrong)
    assert plan.planner == "offline" and "HTTP 401" in plan.notes[0]
    assert fake.unauthorized == 2 and fake.count == 0


async def test_the_openai_key_is_the_fallback_credential(
    settings: Settings, chat_url: str, fake: FakeChat
) -> None:
    configured = settings.model_copy(
        update={"openai_api_key": SecretStr(API_KEY), "chat_base_url": chat_url}
    )
    plan = await plan_segments(PROMPT, [4, 4], settings=configured)
    assert plan.planner == "chat" and fake.count == 1


async def test_a_server_error_is_retried_by_the_client_then_raised(
    chat_settings: Settings, fake: FakeChat
) -> None:
    fake.script = ["server_error"]
    async with chat_client(chat_settings, max_retries=1) as client:
        plan = await plan_segments(PROMPT, [4], settings=chat_settings, client=client)
    assert plan.planner == "chat" and fake.count == 2

    fake.script = ["server_error"]
    async with chat_client(chat_settings, max_retries=0) as client:
        with pytest.raises(ProviderUnavailableError) as caught:
            await plan_segments(PROMPT, [4], settings=chat_settings, mode="chat", client=client)
    assert caught.value.status_code == 500 and fake.count == 3


async def test_a_slow_chat_model_times_out(chat_settings: Settings, fake: FakeChat) -> None:
    fake.script = ["slow"]
    async with chat_client(chat_settings, timeout=0.3, max_retries=0) as client:
        with pytest.raises(ProviderConnectionError, match="timed out"):
            await plan_segments(PROMPT, [4], settings=chat_settings, mode="chat", client=client)
        fake.script = ["slow"]
        plan = await plan_segments(PROMPT, [4, 4], settings=chat_settings, client=client)
    assert plan.planner == "offline" and "timed out" in plan.notes[0]
    assert fake.count == 2


async def test_a_rate_limited_chat_model_is_a_rate_limited_error(
    chat_settings: Settings, fake: FakeChat
) -> None:
    from sorakit.errors import RateLimitedError

    fake.script = ["rate_limited"]
    async with chat_client(chat_settings, max_retries=0) as client:
        with pytest.raises(RateLimitedError) as caught:
            await plan_segments(PROMPT, [4], settings=chat_settings, mode="chat", client=client)
    assert caught.value.retry_after == 7 and caught.value.status_code == 429


async def test_a_schema_that_is_not_strict_is_refused_like_openai_does(
    chat_settings: Settings, fake: FakeChat
) -> None:
    from sorakit.errors import ProviderBadRequestError
    from sorakit.pipelines.chat import complete

    loose = {"type": "object", "properties": {"title": {"type": "string"}}, "required": []}
    async with chat_client(chat_settings, max_retries=0) as client:
        with pytest.raises(ProviderBadRequestError) as caught:
            await complete(
                client,
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                json_schema=loose,
            )
    assert caught.value.status_code == 400 and "additionalProperties" in str(caught.value)
