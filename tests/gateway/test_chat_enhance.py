"""The prompt enhancers through the official `openai` SDK against the app on loopback: sora2api's
`prompt-enhance-{short,medium,long}-{10,15,20}s` cinematic rewrites with and without a chat model,
each way a chat model can answer badly, and the last user message read as video models read it."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import pytest
from pydantic import SecretStr

from sorakit.gateway.chat_enhance import IMAGE_NOT_USED
from sorakit.pipelines.cinematic import beats_for
from sorakit.settings import Settings
from tests.gateway.cinematic_chat_fake import API_KEY, CinematicChat, serve_cinematic
from tests.gateway.test_chat import gateway, png
from tests.gateway.test_tenants import client

LENGTHS = ("short", "medium", "long")
DURATIONS = (10, 15, 20)
NAMES = [f"prompt-enhance-{length}-{seconds}s" for length in LENGTHS for seconds in DURATIONS]
BEAT = re.compile(r"^(\d+(?:\.\d+)?)–(\d+(?:\.\d+)?) s: (.+)$", re.M)
IDEA = "An orange cat playing on the windowsill"


def timeline(text: str) -> list[tuple[float, float, str]]:
    """The answer's beats, as (start, end, words)."""
    return [(float(a), float(b), words) for a, b, words in BEAT.findall(text)]


def assert_fits(text: str, seconds: float) -> list[tuple[float, float, str]]:
    """The timeline starts at 0, runs without gap or overlap and ends at `seconds`."""
    beats = timeline(text)
    assert len(beats) >= 2, text
    assert beats[0][0] == 0 and beats[-1][1] == seconds, text
    for (_, end, _), (start, _, _) in zip(beats, beats[1:], strict=False):
        assert start == end, text
    assert all(start < end for start, end, _ in beats)
    return beats


def ask(
    sdk: openai.OpenAI, model: str, content: object, *, stream: bool = False
) -> tuple[str, str | None]:
    """The answer's text and its `x-sorakit-enhancement` header, streamed or not."""
    messages = [{"role": "user", "content": content}]
    if not stream:
        raw = sdk.chat.completions.with_raw_response.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
        )
        answer = raw.parse()
        assert answer.choices[0].finish_reason == "stop"
        return answer.choices[0].message.content or "", raw.headers.get("x-sorakit-enhancement")
    with sdk.chat.completions.with_streaming_response.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        header = response.headers.get("x-sorakit-enhancement")
        *chunks, usage = list(response.parse())
    assert chunks[-1].choices[0].finish_reason == "stop" and usage.choices == []
    return "".join(c.choices[0].delta.content or "" for c in chunks), header


@contextmanager
def with_chat(
    settings: Settings, fake: CinematicChat, model: str = "gpt-4.1-mini"
) -> Iterator[str]:
    """The app on loopback with `fake` as its chat model; yields the app's `/v1` URL."""
    with serve_cinematic(fake) as chat_url:
        chatty = settings.model_copy(
            update={
                "chat_api_key": SecretStr(API_KEY),
                "chat_base_url": chat_url,
                "chat_model": model,
            }
        )
        with gateway(chatty) as url:
            yield url


def test_every_enhancement_model_is_listed_and_answers_offline_without_a_chat_model(
    settings: Settings,
) -> None:
    with gateway(settings) as url:
        sdk = client(url, "anything")
        listed = {m.id for m in sdk.models.list()}
        assert set(NAMES) <= listed and "prompt-enhance-director" in listed
        sizes: dict[int, list[int]] = {}
        for name in NAMES:
            length, seconds = name.split("-")[2], int(name.split("-")[3].removesuffix("s"))
            text, header = ask(sdk, name, IDEA)
            plan, _, note = text.partition("\n\n")
            assert (
                plan.startswith("PRIMARY: An orange cat") and "SETTING: On the windowsill" in plan
            )
            assert f"TIMELINE ({seconds} s):" in plan
            beats = assert_fits(plan, seconds)
            assert len(beats) == beats_for(length, seconds)  # type: ignore[arg-type]
            assert all("orange cat" in words for _, _, words in beats)  # the prompt's own words
            assert "offline rewrite" in note and "no chat model is configured" in note
            assert header and "no chat model is configured" in header
            sizes.setdefault(seconds, []).append(len(plan))
        for seconds, (short, medium, long) in sizes.items():  # the length word is honoured
            assert short < medium < long, (seconds, short, medium, long)
        assert sdk.videos.list().data == []  # an enhancer makes no video


def test_streamed_and_whole_answers_are_the_same_rewrite(settings: Settings) -> None:
    with gateway(settings) as url:
        sdk = client(url, "anything")
        whole, _ = ask(sdk, "prompt-enhance-medium-15s", "a lighthouse in a storm {noir}")
        streamed, header = ask(
            sdk, "prompt-enhance-medium-15s", "a lighthouse in a storm {noir}", stream=True
        )
        assert streamed == whole and header and "no chat model" in header
        assert "Film noir" in whole  # the style tag was applied before the rewrite
        assert "overcast" in whole.split("LIGHT:")[1].split("\n")[0]  # read from "storm"
        assert_fits(whole.partition("\n\n")[0], 15)


def test_a_chat_model_writes_the_plan_for_the_asked_length_and_duration(
    settings: Settings,
) -> None:
    fake = CinematicChat()
    with with_chat(settings, fake) as url:
        sdk = client(url, "anything")
        for index, name in enumerate(NAMES):
            length, seconds = name.split("-")[2], int(name.split("-")[3].removesuffix("s"))
            text, header = ask(sdk, name, IDEA, stream=index % 2 == 1)
            assert header is None and "offline" not in text and "\n\n" not in text
            assert text.startswith(f"PRIMARY: {IDEA}, seen clearly.")
            beats = assert_fits(text, seconds)
            assert len(beats) == beats_for(length, seconds)  # type: ignore[arg-type]
            assert beats[0][2].startswith(f"Beat 1 of {IDEA}. Camera: Camera move 1.")
            sent = fake.requests[-1]
            schema = sent["response_format"]["json_schema"]
            assert schema["strict"] is True and schema["name"] == "cinematic_plan"
            assert f"for {seconds} seconds" in sent["messages"][0]["content"]
            assert (
                IDEA in sent["messages"][1]["content"] and length in sent["messages"][1]["content"]
            )
        budgets = [r["messages"][0]["content"] for r in fake.requests[:: len(DURATIONS)]]
        assert "300 to 650" in budgets[0] and "2200" in budgets[2]  # short asks less than long


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("prose", "the chat model's answer is not valid JSON"),
        ("cut", "the chat model's answer was cut off at its length limit"),
        ("mismatch", "the chat model's answer did not fit the schema (camera: Field required)"),
        ("empty_field", "did not fit the schema (look: Value error, is empty)"),
        ("overlap", "the chat model's timeline did not fit: beat 2 overlaps the one before it"),
        ("short", "the chat model's timeline did not fit: the timeline ends at 8 s, not at the"),
    ],
)
def test_a_bad_answer_falls_back_to_the_offline_rewrite_and_says_why(
    settings: Settings, fault: str, said: str
) -> None:
    fake = CinematicChat(script=[fault, fault])
    with with_chat(settings, fake) as url:
        sdk = client(url, "anything")
        for stream in (False, True):
            text, header = ask(sdk, "prompt-enhance-short-10s", IDEA, stream=stream)
            plan, _, note = text.partition("\n\n")
            assert_fits(plan, 10)
            assert plan.startswith("PRIMARY: An orange cat.")  # sorakit's own, from the words
            assert note.startswith("This is sorakit's offline rewrite") and said in note
            assert header and said.split(" (")[0] in header
    assert len(fake.requests) == 2


def test_a_chat_model_the_endpoint_does_not_know_is_named_in_the_answer(
    settings: Settings,
) -> None:
    fake = CinematicChat()
    with with_chat(settings, fake, model="gpt-nonexistent") as url:
        text, header = ask(client(url, "anything"), "prompt-enhance-long-20s", IDEA)
    assert len(fake.requests) == 1  # asked once, then offline
    assert_fits(text.partition("\n\n")[0], 20)
    said = "the chat model gpt-nonexistent was not found at the chat endpoint"
    assert said in text.partition("\n\n")[2] and header and said in header


def test_the_message_is_read_as_video_models_read_it(settings: Settings) -> None:
    image = "data:image/png;base64," + base64.b64encode(png()).decode()
    with_image = [
        {"type": "text", "text": IDEA},
        {"type": "image_url", "image_url": {"url": image}},
    ]
    history = [
        {"role": "user", "content": "an old idea"},
        {"role": "assistant", "content": "PRIMARY: something"},
        {"role": "user", "content": IDEA},
    ]
    with gateway(settings) as url:
        sdk = client(url, "anything")
        for name in ("prompt-enhance-short-10s", "prompt-enhance-director"):
            text, _ = ask(sdk, name, with_image)
            assert text.endswith(IMAGE_NOT_USED) and "orange cat" in text
        answer = sdk.chat.completions.create(model="prompt-enhance-short-15s", messages=history)  # type: ignore[arg-type]
        assert "orange cat" in (answer.choices[0].message.content or "")
        assert "old idea" not in (answer.choices[0].message.content or "")
        for bad, code in [
            ([{"type": "image_url", "image_url": {"url": "/etc/hostname"}}], "invalid_image_url"),
            ([{"type": "input_audio", "input_audio": {}}], None),
            ("   ", None),
            ("remake https://sora.chatgpt.com/p/s_123 please", None),
        ]:
            refusals = []
            for model in ("sora-2", "prompt-enhance-medium-10s"):
                with pytest.raises(openai.BadRequestError) as refused:
                    ask(sdk, model, bad)
                refusals.append((refused.value.code, refused.value.param))
            assert refusals[0] == refusals[1] and refusals[0][0] == code, bad
        assert sdk.videos.list().data == []


@pytest.mark.parametrize(
    "name", ["prompt-enhance-long", "prompt-enhance-huge-10s", "prompt-enhance-short-0s"]
)
def test_unknown_enhancers_are_not_found_and_the_error_lists_the_real_ones(
    settings: Settings, name: str
) -> None:
    with gateway(settings) as url, pytest.raises(openai.NotFoundError) as missing:
        ask(client(url, "anything"), name, IDEA)
    assert "prompt-enhance-{short,medium,long}-{seconds}s" in str(missing.value)
