"""The chat facade's prompt enhancers: `prompt-enhance-*` models answer with a better prompt.

The last user message is read by the turn reader every video model uses
(`turns_history.read_conversation`), so its parts, image URLs and refusals are the same; the
`{style}` tags are applied, then the prompt is rewritten in one of the chat model's styles
(`pipelines.enhance`: director, pixar, clean) or as a structured cinematic plan for a duration
(`pipelines.cinematic`: `prompt-enhance-{short,medium,long}-{10,15,20}s`). No video is made.

Whatever happened is said in the visible text, after the prompt and a blank line (chat UIs
never show headers): no chat model, the offline rewrite, the chat model's failure, an image
that the rewrite does not use. `EnhancedAnswer.note` repeats it for the header scripts read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sorakit.errors import InvalidRequestError
from sorakit.gateway.chat_models import CINEMATIC, ChatModel
from sorakit.gateway.chat_turns import enhancement_text
from sorakit.gateway.turns_history import read_conversation
from sorakit.pipelines.cinematic import CinematicRewrite, cinematic_rewrite
from sorakit.pipelines.enhance import enhance_prompt
from sorakit.pipelines.styles import apply_styles
from sorakit.settings import Settings

_SHARE_LINK = re.compile(r"https?://(?:www\.)?sora(?:\.chatgpt)?\.com/\S+", re.I)
"""A share link of the consumer app OpenAI shut down (refused as `turns.understand` does)."""
IMAGE_NOT_USED = (
    "The image is not part of the rewrite: send it with the video request, as its first frame."
)


@dataclass(frozen=True)
class EnhancedAnswer:
    """An enhancer's answer: the visible text, and the note for the header (None: all went
    as asked)."""

    text: str
    note: str | None = None


def cinematic_note(rewrite: CinematicRewrite) -> str | None:
    """What the answer says under an offline cinematic rewrite, and why it is offline."""
    if rewrite.by == "chat":
        return None
    return (
        f"This is sorakit's offline rewrite, made from your prompt's own words and the "
        f"{rewrite.seconds} s timeline: {rewrite.note}."
    )


def _prompt(messages: object) -> tuple[str, int]:
    """The last user message's text with its style tags applied, and how many images it has."""
    conversation = read_conversation(messages)
    if _SHARE_LINK.search(conversation.text):
        raise InvalidRequestError(
            "That is a share link of the old Sora app, which is gone and cannot be opened: "
            "describe the video you want and it will be rewritten.",
            param="messages",
        )
    prompt = apply_styles(conversation.text)[0] if conversation.text else ""
    if not prompt:
        raise InvalidRequestError(
            "The last user message has no text: write the prompt to enhance.", param="messages"
        )
    return prompt, len(conversation.images)


async def enhancement_answer(
    messages: object, chosen: ChatModel, settings: Settings
) -> EnhancedAnswer:
    """The enhanced prompt for a `prompt-enhance-*` model; InvalidRequestError for a message
    that cannot be one."""
    assert chosen.enhance is not None
    prompt, images = _prompt(messages)
    notes: list[str] = []
    if chosen.enhance == CINEMATIC:
        assert chosen.length is not None and chosen.seconds is not None
        rewrite = await cinematic_rewrite(prompt, chosen.length, chosen.seconds, settings=settings)
        text = rewrite.text
        if (said := cinematic_note(rewrite)) is not None:
            notes.append(said)
        header = rewrite.note
    else:
        result = await enhance_prompt(prompt, chosen.enhance, settings=settings)
        text, header = enhancement_text(result), result.note
    if images:
        notes.append(IMAGE_NOT_USED)
    if notes:
        text = "\n\n".join([text, " ".join(notes)])
    return EnhancedAnswer(text, header)
