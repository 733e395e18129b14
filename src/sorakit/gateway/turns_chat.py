"""The chat model's reading of a request: one Structured Outputs call, checked.

The chat model fills the same `Reading` as the offline parser (what the words literally ask:
intent, prompt, length, shape, takes, "it", an earlier image); sorakit then applies the model's
sizes and lengths and writes the notes, as it does offline. The call goes through the settings'
OpenAI-compatible chat endpoint (`pipelines.chat`) with a strict JSON schema, and the answer is
validated with pydantic. Any failure (the model not found, an answer cut off at its length
limit, a timeout, JSON that does not fit) raises `ChatReadingError` with a reason in plain
words, and `turns.understand` falls back to the offline parser and says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sorakit.errors import ProviderError
from sorakit.gateway.turns_history import Conversation
from sorakit.gateway.turns_read import INTENTS, Intent, Reading, ShotAsked
from sorakit.pipelines.chat import chat_api_key, chat_client, complete
from sorakit.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0
"""Seconds to wait for the reading; a person is waiting for the first words of the answer."""
SIZE_WORDS = ("vertical", "portrait", "landscape", "horizontal", "widescreen", "square")

SYSTEM = """\
You read one message a person wrote to a video generator and answer, as JSON, what it \
literally asks for. Do not invent values: null (or false) for anything not said.
- intent: "generate" a new video; "remix" the earlier video (change it: "make it night", \
"now make the cat blue"); "extend" the earlier video (continue it, make it longer); "long" a \
video longer than one clip or called a long video; "storyboard" several shots; "variations" \
several takes of one idea; "image" a still picture, not a video. Remix and extend only when \
earlier_video is true or the person clearly asks for it.
- prompt: what the video shows, in the person's words, without the words that set length, \
shape, number of takes or the request itself ("make a 7 second vertical video of a cat" -> \
"a cat"). For a remix: the change. For an extension: what happens next, or "" if not said.
- seconds: the length asked, in seconds ("half a minute" -> 30); for an extension, the \
seconds to add. null if no length is said.
- size: the shape asked: one of vertical, portrait, landscape, horizontal, widescreen, \
square (phones, TikTok, Reels and Shorts are vertical; YouTube is landscape; Instagram \
posts are square), a ratio such as "16:9", or pixels such as "1920x1080". null if not said.
- takes: how many versions, when a number is said; null otherwise ("a few options" -> null, \
with intent "variations").
- refers_to_earlier_video: the message is about the earlier video ("it", "the video").
- reuse_earlier_image: "latest" or "first" only when the person asks to use an image from an \
earlier message again, or (earlier_image_made) points at the image made last ("animate it", "a video from that image"); "no" otherwise.
- shots: for a storyboard, each shot's prompt and its seconds (null if not said); [] otherwise.\
"""


class ChatShot(BaseModel):
    """One storyboard shot as the chat model read it."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    seconds: float | None = Field(gt=0, le=36_000)


class ChatReading(BaseModel):
    """The answer's shape; the JSON schema sent is made from it."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent
    prompt: str
    seconds: float | None = Field(gt=0, le=36_000)
    size: str | None
    takes: int | None = Field(ge=1, le=1000)
    refers_to_earlier_video: bool
    reuse_earlier_image: Literal["no", "latest", "first"]
    shots: list[ChatShot]

    @field_validator("size")
    @classmethod
    def _known_size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().lower().replace(" ", "")
        if text in SIZE_WORDS or _is_ratio_or_pixels(text):
            return text
        raise ValueError(f"{value!r} is not a size word, a ratio or a WxH size")


def _is_ratio_or_pixels(text: str) -> bool:
    for separator in (":", "x"):
        left, found, right = text.partition(separator)
        if found:
            try:
                return float(left) > 0 and float(right) > 0
            except ValueError:
                return False
    return False


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "intent",
        "prompt",
        "seconds",
        "size",
        "takes",
        "refers_to_earlier_video",
        "reuse_earlier_image",
        "shots",
    ],
    "properties": {
        "intent": {"type": "string", "enum": list(INTENTS)},
        "prompt": {"type": "string"},
        "seconds": _nullable("number"),
        "size": _nullable("string"),
        "takes": _nullable("integer"),
        "refers_to_earlier_video": {"type": "boolean"},
        "reuse_earlier_image": {"type": "string", "enum": ["no", "latest", "first"]},
        "shots": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["prompt", "seconds"],
                "properties": {"prompt": {"type": "string"}, "seconds": _nullable("number")},
            },
        },
    },
}
"""The strict JSON schema of `ChatReading` (every property required, nullable where optional)."""


@dataclass(frozen=True)
class TurnChat:
    """The chat model that reads turns: an `AsyncOpenAI` client (the caller closes it)."""

    client: openai.AsyncOpenAI
    model: str
    timeout: float = DEFAULT_TIMEOUT


def turn_chat(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> TurnChat | None:
    """The settings' chat model for reading turns, or None when no chat key is set."""
    if chat_api_key(settings) is None:
        return None
    client = chat_client(settings, timeout=timeout, max_retries=0)
    return TurnChat(client, settings.chat_model, timeout)


class ChatReadingError(Exception):
    """The chat model gave no usable reading; `reason` says why, in a sentence's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _why(exc: ProviderError, model: str) -> str:
    if exc.status_code == 404:
        return f"the chat model {model} was not found at the chat endpoint"
    return str(exc)


async def read_with_chat(chat: TurnChat, conversation: Conversation, text: str) -> Reading:
    """The chat model's reading of `text` (the last message, video ids taken out)."""
    facts: dict[str, object] = {
        "message": text,
        "earlier_video": conversation.latest is not None and not conversation.image_is_newer,
        "images_in_this_message": len(conversation.images),
        "images_in_earlier_messages": len(conversation.earlier_images),
    }
    if (
        conversation.image_is_newer
    ):  # said only when true: the facts of other turns stay as they were
        facts["earlier_image_made"] = True
    client = chat.client.with_options(timeout=chat.timeout, max_retries=0)
    try:
        content = await complete(
            client,
            model=chat.model,
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": json.dumps(facts, ensure_ascii=False)},
            ],
            json_schema=SCHEMA,
            schema_name="video_request",
        )
    except ProviderError as exc:
        raise ChatReadingError(_why(exc, chat.model)) from exc
    try:
        answer = ChatReading.model_validate_json(content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the answer"
        raise ChatReadingError(
            f"the chat model's answer did not fit the schema ({where}: {first['msg']})"
        ) from exc
    if answer.intent == "storyboard" and not answer.shots:
        raise ChatReadingError("the chat model read a storyboard without shots")
    return _reading(answer)


def _reading(answer: ChatReading) -> Reading:
    intent: Intent = answer.intent
    takes_words = None if answer.takes is None else str(answer.takes)
    if answer.takes is None and intent == "variations":
        takes_words = "several takes"  # asked for, with no number
    return Reading(
        intent,
        answer.prompt.strip(),
        seconds=answer.seconds,
        seconds_words=None if answer.seconds is None else f"{answer.seconds:g} s",
        size=answer.size,
        size_words=answer.size,
        takes=answer.takes,
        takes_words=takes_words,
        it=answer.refers_to_earlier_video and intent in ("remix", "extend"),
        reuse_image=None if answer.reuse_earlier_image == "no" else answer.reuse_earlier_image,
        shots=tuple(ShotAsked(shot.prompt.strip(), shot.seconds) for shot in answer.shots),
    )
