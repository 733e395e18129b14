"""The request shapes of the chat-completions video facade, as sora2api's clients send them.

Only what the facade reads is described; the OpenAI SDK's other fields are refused or ignored
by the route, as it says.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ImageURL(BaseModel):
    """Where an image part's picture is."""

    url: str
    """A data URL, or an http(s) URL that the gateway fetches through its SSRF guard."""


class TextPart(BaseModel):
    """A text part of a message."""

    type: Literal["text"]
    """Always `text`."""
    text: str
    """The prompt (style tags, a video id to remix, or `[5s] …` shots included)."""


class ImagePart(BaseModel):
    """An image part of a message: the video's first frame (or a reference after that)."""

    type: Literal["image_url"]
    """Always `image_url`."""
    image_url: ImageURL
    """The image."""


class ChatMessage(BaseModel):
    """One message; the facade reads the last one whose role is `user`."""

    role: str | Literal["system", "user", "assistant"]
    """Who said it."""
    content: str | list[TextPart | ImagePart]
    """The text, or a list of text and image parts."""


class StreamOptions(BaseModel):
    """What a streamed answer carries."""

    include_usage: bool | None = None
    """End the stream with a usage chunk."""


class ChatCompletionParams(BaseModel):
    """The body of `POST /v1/chat/completions`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "sora2-landscape-10s",
                    "messages": [{"role": "user", "content": "a red fox in the snow {anime}"}],
                }
            ]
        }
    )

    model: str = Field(
        min_length=1,
        examples=["sora-2", "sora2-landscape-10s", "sora2pro-portrait-15s", "prompt-enhance-pixar"],
    )
    """A catalog model, a sora2api name (`sora2-landscape-10s`) or a `prompt-enhance-*` model."""
    messages: list[ChatMessage]
    """The conversation; its last user message says what to make."""
    stream: bool | None = None
    """Send progress chunks while the video renders."""
    stream_options: StreamOptions | None = None
    """What the stream carries."""
