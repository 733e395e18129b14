"""Moderation blocks as a person reads them: which input a provider refused, in its own words
(a limit's countdown is `Studio.error`'s).

Providers say what they refused in different places, each kept in the job's `error_message`
by its provider module: Runway's failure code (`SAFETY.INPUT.TEXT`, `SAFETY.INPUT.IMAGE`,
`SAFETY.OUTPUT.VIDEO`), fal's flagged field (`prompt: …`, `image_url: …`, one per input), and
Google's filter sentence ("… because the input image violates …"). The simulator and an OpenAI
server do not say, and then the page says that it was not said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Refused = Literal["prompt", "image", "both", "video"]

_SAFETY_CODE = re.compile(r"\b(?:[A-Z_]+\.)*SAFETY(?:\.[A-Z0-9_]+)+\b")
"""A Runway failure code with a `SAFETY` part, as its provider module appends it."""
_FLAGGED_FIELD = re.compile(r"(?:^|; )([a-z][a-z0-9_]*(?:\.\d+)?): ")
"""fal's `loc: msg`, one per flagged input, as its provider module joins them."""
_SAYS_IMAGE = re.compile(r"\bimages?\b|\bframes?\b", re.IGNORECASE)
_SAYS_PROMPT = re.compile(r"\bprompts?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Moderation:
    """A moderation block: what was refused (None: the provider did not say), in whose words."""

    refused: Refused | None
    words: str

    @property
    def headline(self) -> str:
        return {
            "prompt": "The provider's moderation refused the prompt.",
            "image": "The provider's moderation refused the image.",
            "both": "The provider's moderation refused both the prompt and the image.",
            "video": "The provider's moderation refused the video it made, not what you sent.",
            None: "The provider's moderation blocked this video; it did not say whether "
            "the prompt or the image was refused.",
        }[self.refused]


def _field_part(field: str) -> Refused | None:
    if "prompt" in field:
        return "prompt"
    if "image" in field or "frame" in field:
        return "image"
    return None


def refused_part(message: str) -> Refused | None:
    """Which input a moderation message says was refused; None where it does not say."""
    for code in _SAFETY_CODE.findall(message):
        parts = code.split(".")
        if "OUTPUT" in parts:
            return "video"
        if "TEXT" in parts:
            return "prompt"
        if "IMAGE" in parts:
            return "image"
    named = {_field_part(field) for field in _FLAGGED_FIELD.findall(message)} - {None}
    if named:
        return "both" if len(named) > 1 else named.pop()
    says_image, says_prompt = _SAYS_IMAGE.search(message), _SAYS_PROMPT.search(message)
    if says_image and not says_prompt:
        return "image"
    if says_prompt and not says_image:
        return "prompt"
    return None


def moderation_of(error_code: str | None, error_message: str | None) -> Moderation | None:
    """The moderation block a failed job's code and message describe, if it is one."""
    if error_code != "moderation_blocked":
        return None
    words = (error_message or "").strip()
    return Moderation(refused_part(words), words or "no reason given")
