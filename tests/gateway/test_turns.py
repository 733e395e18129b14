"""Understanding a turn: the written requests of turns_cases.yaml, offline and with a chat model.

The chat model is a fake on loopback (`turns_cases.FakeTurnModel`) reached through the `openai`
SDK, as a configured chat endpoint would be; its bad answers must each fall back to the offline
parser with a note. One test reads a real answer of the chat facade, so the marks this module
looks for stay the ones the facade writes.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from pydantic import SecretStr

from sorakit.catalog import Catalog, build_catalog
from sorakit.errors import InvalidRequestError
from sorakit.gateway.links import LinkSigner
from sorakit.gateway.turns import Turn, understand
from sorakit.gateway.turns_chat import SCHEMA, TurnChat, turn_chat
from sorakit.gateway.turns_words import find_seconds, find_shape, find_takes
from sorakit.server import create_app
from sorakit.settings import Settings
from tests.conftest import ThreadedServer
from tests.gateway.turns_cases import (
    API_KEY,
    SIGNER,
    Case,
    FakeTurnModel,
    chat_message,
    fake_for,
    load_cases,
    problems,
    serve_turn_model,
)

CASES = load_cases()
STORYBOARD_TAG = re.compile(r"\[\s*\d+(?:\.\d+)?\s*s\s*\]")


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    return build_catalog(settings)


async def _turn(case: Case, catalog: Catalog, chat: TurnChat | None = None) -> Turn | Exception:
    try:
        return await understand(
            case.messages(),
            catalog=catalog,
            model=case.model,
            seconds=case.seconds,
            size=case.size,
            chat=chat,
            signer=SIGNER,
        )
    except InvalidRequestError as exc:
        return exc


def _problems(case: Case, result: Turn | Exception) -> list[str]:
    if isinstance(result, Exception):
        return problems(case, None, result)
    return problems(case, result)


def test_there_are_at_least_a_hundred_cases_of_every_intent() -> None:
    assert len(CASES) >= 100
    intents = {case.intent for case in CASES}
    assert intents == {"generate", "remix", "extend", "long", "storyboard", "variations", "image"}


def _offline_params() -> list[object]:
    return [
        pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True)])
        if case.offline_miss
        else pytest.param(case, id=case.id)
        for case in CASES
    ]


@pytest.mark.parametrize("case", _offline_params())
async def test_the_offline_parser_understands(case: Case, catalog: Catalog) -> None:
    result = await _turn(case, catalog)
    assert not _problems(case, result), (case.say, _problems(case, result))
    if isinstance(result, Turn):
        assert result.understood_by == "offline"


@contextlib.asynccontextmanager
async def _chat(fake: FakeTurnModel, *, timeout: float = 10.0) -> AsyncIterator[TurnChat]:
    with serve_turn_model(fake) as url:
        client = openai.AsyncOpenAI(api_key=API_KEY, base_url=url, max_retries=0)
        try:
            yield TurnChat(client, fake.model, timeout)
        finally:
            await client.close()


@pytest.fixture(scope="module")
def chat_url() -> Iterator[tuple[FakeTurnModel, str]]:
    fake = fake_for(CASES)
    with serve_turn_model(fake) as url:
        yield fake, url


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_a_chat_model_reading_is_applied_the_same_way(
    case: Case, catalog: Catalog, chat_url: tuple[FakeTurnModel, str]
) -> None:
    fake, url = chat_url
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=url, max_retries=0)
    before = len(fake.requests)
    try:
        result = await _turn(case, catalog, TurnChat(client, fake.model))
    finally:
        await client.close()
    assert not _problems(case, result), (case.say, _problems(case, result))
    asked = fake.requests[before:]
    if STORYBOARD_TAG.search(case.say):  # sora2api's syntax is read as written, no call
        assert not asked
        return
    if case.expect.get("error") and "share link" in case.expect["error"]:
        assert not asked
        return
    assert len(asked) == 1  # one Structured Outputs call per turn
    response_format = asked[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    if isinstance(result, Turn):
        assert result.understood_by == "chat"
        assert not any("without the chat model" in note for note in result.notes)


FALLBACKS = [
    ("invalid_json", "did not fit the schema"),
    ("wrong_types", "did not fit the schema"),
    ("not_found", "the chat model gpt-turns-test was not found"),
    ("length", "cut off at its length limit"),
    ("slow", "timed out"),
    ("server_error", "HTTP 500"),
]


@pytest.mark.parametrize(("fault", "reason"), FALLBACKS, ids=[f for f, _ in FALLBACKS])
async def test_a_bad_chat_answer_falls_back_to_the_offline_parser_and_says_so(
    fault: str, reason: str, catalog: Catalog
) -> None:
    case = CASES[0]  # make a 7 second vertical video of a cat surfing
    fake = fake_for(CASES, script=[fault], slow_seconds=2.0)
    async with _chat(fake, timeout=0.5) as chat:
        result = await _turn(case, catalog, chat)
    assert isinstance(result, Turn)
    assert result.understood_by == "offline"
    assert not problems(case, result), problems(case, result)
    assert result.notes[0].startswith("Read without the chat model: ")
    assert reason in result.notes[0], result.notes
    assert len(fake.requests) == 1  # no retry: a person is waiting


async def test_a_chat_model_that_is_not_configured_is_a_404_fallback(catalog: Catalog) -> None:
    fake = fake_for(CASES)
    async with _chat(fake) as chat:
        missing = TurnChat(chat.client, "gpt-nonexistent")
        result = await _turn(CASES[0], catalog, missing)
    assert isinstance(result, Turn) and result.understood_by == "offline"
    assert "the chat model gpt-nonexistent was not found" in result.notes[0]


async def test_the_chat_model_is_told_about_the_conversation(catalog: Catalog) -> None:
    case = next(c for c in CASES if c.history == "two_images" and c.expect.get("image"))
    fake = fake_for(CASES)
    async with _chat(fake) as chat:
        result = await _turn(case, catalog, chat)
    assert isinstance(result, Turn) and not problems(case, result)
    facts = json.loads(fake.requests[0]["messages"][-1]["content"])
    assert facts == {
        "message": chat_message(case),
        "earlier_video": True,
        "images_in_this_message": 0,
        "images_in_earlier_messages": 2,
    }
    assert fake.requests[0]["model"] == fake.model


def test_the_schema_is_strict() -> None:
    """Every property required and no others allowed, at every level (strict mode's rule)."""

    def check(node: dict[str, Any]) -> None:
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert sorted(node["required"]) == sorted(node["properties"])
            for child in node["properties"].values():
                check(child)
        if node.get("type") == "array":
            check(node["items"])

    check(SCHEMA)


async def test_turn_chat_is_the_settings_chat_model(settings: Settings) -> None:
    assert turn_chat(settings) is None  # no chat key: the offline parser
    keyed = settings.model_copy(
        update={"chat_api_key": SecretStr("sk-test"), "chat_model": "gpt-reader"}
    )
    chat = turn_chat(keyed)
    assert chat is not None and chat.model == "gpt-reader"
    await chat.client.close()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("seven seconds", 7),
        ("twenty-five seconds", 25),
        ("a 7-second clip", 7),
        ("half a minute", 30),
        ("a minute and a half", 90),
        ("one and a half minutes", 90),
        ("2 minutes 10 seconds", 130),
        ("0:30", 30),
        ("1:30", 90),
        ("30s", 30),
        ("8 secs", 8),
        ("a two-minute film", 120),
        ("8 more seconds", 8),
    ],
)
def test_lengths_in_words(text: str, seconds: float) -> None:
    found = find_seconds(text)
    assert found is not None and found.value == seconds


@pytest.mark.parametrize(
    "text",
    ["the 80s", "a 1990s sitcom", "a 70s look", "at 5:30 in the morning", "16:9", "wait a second"],
)
def test_not_lengths(text: str) -> None:
    assert find_seconds(text) is None


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("for TikTok", "vertical"),
        ("an Instagram reel", "vertical"),
        ("for youtube shorts", "vertical"),
        ("for youtube", "16:9"),
        ("in 9:16", "9:16"),
        ("16x9", "16:9"),
        ("for instagram", "square"),
        ("in portrait mode", "portrait"),
        ("1080p vertical", "1080x1920"),
        ("4k", "3840x2160"),
    ],
)
def test_shapes_in_words(text: str, shape: str) -> None:
    found = find_shape(text)
    assert found is not None and found.value == shape


@pytest.mark.parametrize(
    "text", ["a portrait of a woman", "a mountain landscape at dawn", "a man on the phone"]
)
def test_not_shapes(text: str) -> None:
    assert find_shape(text) is None


@pytest.mark.parametrize(
    ("text", "takes"),
    [("three versions", 3), ("2 variations", 2), ("a couple of takes", 2), ("a few options", None)],
)
def test_takes_in_words(text: str, takes: float | None) -> None:
    found = find_takes(text)
    assert found is not None
    assert (found.value if isinstance(found.value, float) else None) == takes


@contextlib.contextmanager
def _gateway(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    with ThreadedServer(config).running() as url:
        yield url


async def test_the_video_of_a_real_chat_answer_is_it(settings: Settings, catalog: Catalog) -> None:
    """The facade's own answer, sent back as history, names the video "remix it" changes."""
    first = {"role": "user", "content": "a red kite over the dunes"}
    with _gateway(settings) as url:
        answer = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "sora2-landscape-4s", "messages": [first]},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    text = answer.json()["choices"][0]["message"]["content"]
    video_id = re.search(r"video_[0-9a-f]{32}", text)
    assert video_id is not None
    messages = [
        first,
        {"role": "assistant", "content": text},
        {"role": "user", "content": "make it night"},
    ]
    turn = await understand(
        messages, catalog=catalog, model="sora-2", signer=LinkSigner.from_settings(settings)
    )
    assert (turn.intent, turn.video_id, turn.prompt) == (
        "remix",
        video_id.group(0),
        "make it night",
    )
    assert turn.earlier is not None and (turn.earlier.seconds, turn.earlier.size) == (4, "1280x720")
    # Another server's key signed nothing here: its link is not sorakit's mark.
    only_link = text[text.index("Your video is ready") :]
    stranger = LinkSigner(b"another-server-key-0123456789ab")
    messages[1] = {"role": "assistant", "content": only_link}
    turn = await understand(messages, catalog=catalog, model="sora-2", signer=stranger)
    assert turn.intent == "generate" and turn.video_id is None
