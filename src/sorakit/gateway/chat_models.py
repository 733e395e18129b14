"""What a sora2api-style chat request asks for: its model name and its last user message.

sora2api's users pick the job with the model name (`sora2-landscape-10s`, `sora2pro-hd-portrait-15s`,
`prompt-enhance-director`, `prompt-enhance-long-15s`) and put everything else in the message: the
prompt, `image_url` parts for the first frame, a video id to remix, `{style}` tags and the
`[5s] … [8s] …` storyboard syntax. This module turns both into a `ChatRequest`; it fetches nothing and creates nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sorakit.catalog import Catalog
from sorakit.errors import InvalidRequestError, NotFoundError
from sorakit.gateway.references import is_image_url, refusal
from sorakit.pipelines.cinematic import (
    DURATIONS as CINEMATIC_DURATIONS,
    LENGTHS as CINEMATIC_LENGTHS,
)
from sorakit.pipelines.enhance import STYLES as ENHANCE_STYLES
from sorakit.pipelines.styles import apply_styles

FAMILIES: Mapping[str, str] = {
    "sora2": "sora-2",
    "sora2pro": "sora-2-pro",
    "sora2pro-hd": "sora-2-pro",
}
"""sora2api's model families and the catalog names they ask for (operator aliases apply)."""
LENGTHS = (10, 15, 25)
"""The lengths sora2api offers; any whole number of seconds is accepted and snapped."""
SIZES = {
    ("landscape", False): "1280x720",
    ("portrait", False): "720x1280",
    ("landscape", True): "1920x1080",
    ("portrait", True): "1080x1920",
}
"""The size each orientation asks for, before snapping into the target model's sizes."""
ENHANCE_PREFIX = "prompt-enhance-"
CINEMATIC = "cinematic"
"""The `enhance` of a `prompt-enhance-{short,medium,long}-{seconds}s` model: the structured
cinematic rewrite (`sorakit.pipelines.cinematic`)."""
MAX_CINEMATIC_SECONDS = 60

_CINEMATIC_NAME = re.compile(r"^(?P<length>short|medium|long)-(?P<seconds>\d{1,3})s$")

_NAME = re.compile(
    r"^(?P<family>sora2pro-hd|sora2pro|sora2)(?:-(?P<orientation>landscape|portrait))?"
    r"(?:-(?P<seconds>\d{1,3})s)?$"
)
_VIDEO_ID = re.compile(r"\bvideo_[0-9a-f]{32}\b")
_SHOT = re.compile(r"(?:^|\s)\[\s*\d+(?:\.\d+)?\s*s\s*\]", re.IGNORECASE)

Orientation = Literal["landscape", "portrait"]


@dataclass(frozen=True)
class ChatModel:
    """A chat model name, understood: a video model with optional shape, or a prompt enhancer."""

    name: str
    """As the client sent it."""
    model: str | None = None
    """The catalog name to create with (None for an enhancer)."""
    seconds: int | None = None
    size: str | None = None
    enhance: str | None = None
    """The enhancement style of a `prompt-enhance-*` model (`cinematic`: the structured
    rewrite, whose `seconds` is the duration it is written for)."""
    length: str | None = None
    """How long a cinematic rewrite is: `short`, `medium` or `long`."""


def parse_model(name: str, catalog: Catalog) -> ChatModel:
    """`name` as a sora2api-style name, an enhancer, or any catalog model; NotFoundError else."""
    if name.startswith(ENHANCE_PREFIX):
        style = name.removeprefix(ENHANCE_PREFIX)
        if style in ENHANCE_STYLES:
            return ChatModel(name, enhance=style)
        cinematic = _CINEMATIC_NAME.match(style)
        duration = int(cinematic.group("seconds")) if cinematic else 0
        if cinematic is None or not 1 <= duration <= MAX_CINEMATIC_SECONDS:
            raise NotFoundError(
                f"The model {name!r} does not exist; the prompt enhancers are "
                f"{', '.join(ENHANCE_PREFIX + s for s in ENHANCE_STYLES)} and "
                f"{ENHANCE_PREFIX}{{short,medium,long}}-{{seconds}}s (1 to "
                f"{MAX_CINEMATIC_SECONDS} s, e.g. {ENHANCE_PREFIX}medium-10s).",
                param="model",
            )
        return ChatModel(
            name, seconds=duration, enhance=CINEMATIC, length=cinematic.group("length")
        )
    if name in catalog:
        return ChatModel(name, model=name)
    match = _NAME.match(name)
    if match is None:
        raise NotFoundError(
            f"The model {name!r} does not exist: use a model from GET /v1/models, or a name "
            "such as sora2-landscape-10s or sora2pro-hd-portrait-15s.",
            param="model",
        )
    family, orientation = match.group("family"), match.group("orientation")
    hd = family == "sora2pro-hd"
    size = SIZES[(orientation, hd)] if orientation else (SIZES[("landscape", True)] if hd else None)
    seconds = int(match.group("seconds")) if match.group("seconds") else None
    if seconds == 0:
        raise InvalidRequestError(f"The model {name!r} asks for 0 seconds.", param="model")
    return ChatModel(name, model=FAMILIES[family], seconds=seconds, size=size)


def chat_model_names(catalog: Catalog) -> Iterator[tuple[str, str | None]]:
    """Every model name the facade offers and the catalog name it creates with (None: no video)."""
    for entry in catalog.videos():  # image models are not video models
        yield entry.name, entry.name
    for alias, target in catalog.aliases.items():  # a key's allowlist names the alias it sends
        if catalog.resolve(target).capabilities.output == "video":
            yield alias, alias
    for family, target in FAMILIES.items():
        if target not in catalog:
            continue
        for orientation in ("landscape", "portrait"):
            for seconds in LENGTHS:
                yield f"{family}-{orientation}-{seconds}s", target
    for style in ENHANCE_STYLES:
        yield f"{ENHANCE_PREFIX}{style}", None
    for length in CINEMATIC_LENGTHS:
        for duration in CINEMATIC_DURATIONS:
            yield f"{ENHANCE_PREFIX}{length}-{duration}s", None


@dataclass(frozen=True)
class ChatRequest:
    """The last user message, understood."""

    prompt: str
    """The text with style tags applied and a remixed video's id taken out."""
    images: list[str] = field(default_factory=list)
    """`image_url` URLs in order: data URLs or http(s) URLs still to fetch."""
    remix_of: str | None = None
    styles: list[str] = field(default_factory=list)
    storyboard: bool = False
    """The text uses the `[5s] …` shot syntax."""
    text: str = ""
    """The text as written, style tags still in it: a storyboard's source, styled shot by shot."""


def _parts(content: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(isinstance(part, Mapping) for part in content):
        return content
    raise InvalidRequestError(
        "A message's 'content' must be a string or a list of content parts.", param="messages"
    )


def _image_url(part: Mapping[str, Any], index: int) -> str:
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(
            "An 'image_url' part needs 'image_url.url': a data URL or an http(s) URL.",
            param=f"messages[{index}].content",
        )
    if not is_image_url(url):  # a path would be read off the server's disk
        raise refusal(f"messages[{index}].content", "image_url.url")
    return url


def parse_messages(messages: object) -> ChatRequest:
    """The last user message as a video request; InvalidRequestError for what cannot be one."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty list.", param="messages")
    last = next(
        (
            (index, message)
            for index, message in reversed(list(enumerate(messages)))
            if isinstance(message, Mapping) and message.get("role") == "user"
        ),
        None,
    )
    if last is None:
        raise InvalidRequestError("There is no user message to make a video of.", param="messages")
    index, message = last
    texts: list[str] = []
    images: list[str] = []
    for part in _parts(message.get("content")):
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            images.append(_image_url(part, index))
        else:
            raise InvalidRequestError(
                f"Unsupported content part {kind!r}: send 'text' and 'image_url' parts.",
                param=f"messages[{index}].content",
            )
    text = "\n".join(texts).strip()
    ids = _VIDEO_ID.findall(text)
    if len(set(ids)) > 1:
        raise InvalidRequestError(
            "The message names more than one video; remix one at a time.", param="messages"
        )
    if ids:
        text = " ".join(_VIDEO_ID.sub(" ", text).split())
    storyboard = bool(_SHOT.search(text))
    if storyboard and (ids or images):
        raise InvalidRequestError(
            "A storyboard is made from its text alone: send it without images or a video id.",
            param="messages",
        )
    prompt, styles = apply_styles(text) if text else (text, [])
    if not prompt:
        raise InvalidRequestError(
            "The last user message has no text: write the prompt.", param="messages"
        )
    return ChatRequest(
        prompt=prompt,
        images=images,
        remix_of=ids[0] if ids else None,
        styles=styles,
        storyboard=storyboard,
        text=text,
    )
