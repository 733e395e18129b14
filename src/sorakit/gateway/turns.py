"""Understanding a turn: what a person typed, as the job to make and the notes to show.

One module for every conversation surface (the chat facade, the Open WebUI pipe's server side):
`understand(messages, catalog=…, model=…)` reads the last user message, in the light of the
conversation, as a `Turn`: the intent (a new video, a remix or an extension of "it", a long
video, a storyboard, variations, an image) and its parameters, snapped to the model's own
capability record with the engine's planning helpers, never a table of its own.

The words are read by the chat model when one is given (`turns_chat`: one Structured Outputs
call) and by the offline parser otherwise, or when the chat model fails (`turns_read`); either
way sorakit makes every choice itself (`turns_resolve`, `turns_derived`), and every choice that
was not literally asked for is a sentence in `Turn.notes` ("8 s: sora-2 makes 4, 8, 12, 16 or
20 s."), for the answer to show.

    understand ─┬─ turns_history   the last message, earlier images, sorakit's latest video
                ├─ turns_chat      the chat model's reading (falls back with a note)
                ├─ turns_read      the offline reading (turns_words: lengths, shapes, takes)
                ├─ turns_resolve   new videos, long videos, takes, storyboards, images
                └─ turns_derived   remix and extend "it"
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Literal

from sorakit.catalog import Catalog
from sorakit.errors import InvalidRequestError
from sorakit.gateway.links import LinkSigner
from sorakit.gateway.turns_chat import ChatReadingError, TurnChat, read_with_chat, turn_chat
from sorakit.gateway.turns_derived import CONTINUE_PROMPT, resolve_derived
from sorakit.gateway.turns_history import Conversation, Earlier, read_conversation
from sorakit.gateway.turns_read import INTENTS, Intent, Reading, ShotAsked, read_words
from sorakit.gateway.turns_resolve import (
    ANIMATE_PROMPT,
    LONG_SECONDS,
    VAGUE_TAKES,
    Turn,
    resolve_image,
    resolve_new as _resolve_new,
)
from sorakit.pipelines.variations import MAX_TAKES

__all__ = [
    "ANIMATE_PROMPT",
    "CONTINUE_PROMPT",
    "INTENTS",
    "LONG_SECONDS",
    "VAGUE_TAKES",
    "Earlier",
    "Intent",
    "ShotAsked",
    "Turn",
    "TurnChat",
    "resolve",
    "turn_chat",
    "understand",
]

logger = logging.getLogger(__name__)

_VIDEO_ID = re.compile(r"\bvideo_[0-9a-f]{32}\b")
_STORYBOARD_TAG = re.compile(r"\[\s*\d+(?:\.\d+)?\s*s\s*\]", re.I)
_SHARE_LINK = re.compile(r"https?://(?:www\.)?sora(?:\.chatgpt)?\.com/\S+", re.I)
"""A share link of the consumer app that OpenAI shut down; nothing can open it any more."""


async def understand(
    messages: object,
    *,
    catalog: Catalog,
    model: str,
    seconds: int | None = None,
    size: str | None = None,
    chat: TurnChat | None = None,
    signer: LinkSigner | None = None,
    max_takes: int = MAX_TAKES,
    image_model: str | None = None,
) -> Turn:
    """The last user message of `messages` as a `Turn` for `model` (a catalog name or alias).

    `seconds` and `size` are the caller's own (a sora2api model name's length and shape, a
    pipe's defaults): used where the words say nothing. `chat` reads the words with a chat
    model (None: the offline parser). `signer` accepts only links sorakit signed as marks of
    earlier videos. `image_model` makes an image asked of a video model (None: the turn says
    "image" and the caller decides). InvalidRequestError for a turn that cannot be made (no prompt, "remix it"
    with no earlier video, two video ids, a share link of the old Sora app).
    """
    conversation = read_conversation(messages, signer)
    if _SHARE_LINK.search(conversation.text):
        raise InvalidRequestError(
            "That is a share link of the old Sora app, which is gone and cannot be opened: "
            "download the video and send it, or describe what you want.",
            param="messages",
        )
    ids = set(_VIDEO_ID.findall(conversation.text))
    if len(ids) > 1:
        raise InvalidRequestError(
            "The message names more than one video; remix one at a time.", param="messages"
        )
    catalog.resolve(model)  # an unknown model is refused before any chat call
    reading: Reading | None = None
    notes: list[str] = []
    if chat is not None and not _STORYBOARD_TAG.search(conversation.text):
        text = " ".join(_VIDEO_ID.sub(" ", conversation.text).split())
        try:
            reading = await read_with_chat(chat, conversation, text)
        except ChatReadingError as exc:
            logger.info("the chat model could not read a turn: %s", exc.reason)
            notes.append(f"Read without the chat model: {exc.reason}.")
        else:
            reading = replace(reading, video_id=next(iter(ids), None))
    how: Literal["chat", "offline"] = "offline" if reading is None else "chat"
    if reading is None:
        newer = conversation.image_is_newer  # "it" is sorakit's latest image, not its video
        reading = read_words(
            conversation.text,
            earlier_video=conversation.latest is not None and not newer,
            earlier_image=newer,
        )
    turn = resolve(
        reading,
        conversation,
        catalog,
        model,
        seconds=seconds,
        size=size,
        max_takes=max_takes,
        image_model=image_model,
    )
    return replace(turn, notes=(*notes, *turn.notes), understood_by=how)


def resolve(
    reading: Reading,
    conversation: Conversation,
    catalog: Catalog,
    model: str,
    *,
    seconds: int | None = None,
    size: str | None = None,
    max_takes: int = MAX_TAKES,
    image_model: str | None = None,
) -> Turn:
    """A reading (offline or the chat model's) made concrete for `model`, with its notes; an
    image model makes images whatever the words, and a video model's "image" turn is made by
    `image_model` when one is given."""
    entry = catalog.resolve(model)
    extras = [f"{reading.size_words} is used; “{extra}” was also said." for extra in reading.extras]
    if entry.capabilities.output == "image":
        return resolve_image(
            reading, conversation, entry, model, size=size, max_takes=max_takes, notes=extras
        )
    if reading.intent == "image" and image_model is not None:
        extras.insert(0, f"Made with {image_model}, sorakit's image model: {model} makes videos.")
        return resolve_image(
            reading,
            conversation,
            catalog.resolve(image_model),
            image_model,
            size=None,
            max_takes=max_takes,
            notes=extras,
        )
    if reading.intent in ("remix", "extend"):
        return resolve_derived(
            reading, conversation, catalog, entry, seconds=seconds, size=size, max_takes=max_takes
        )
    return _resolve_new(
        reading, conversation, entry, seconds=seconds, size=size, max_takes=max_takes
    )
