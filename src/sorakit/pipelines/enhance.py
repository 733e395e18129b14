"""Prompt enhancement through a chat model, in the Streamlit studio's three styles.

`director` writes a cinematographer's shot description, `pixar` a warm animated-feature look,
`clean` only tidies the prompt. Enhancement never blocks a job: on any failure the original
prompt is kept and `Enhancement.note` says why, for the caller to tell the user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import openai

from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.pipelines.chat import chat_api_key, chat_client, complete
from sorakit.settings import Settings
from sorakit.wire.videos import PROMPT_MAX_LENGTH

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0

_COMMON = """\
You rewrite prompts for a text-to-video model. Answer with the rewritten prompt only: plain \
prose in the present tense, no preamble, no quotes, no markdown, no lists, no title. Keep every \
subject, action, place, number, colour, quoted line of dialogue and constraint the user gave, \
and never contradict them; add nothing that changes the story. Do not add on-screen text, \
logos, or the names of real people or copyrighted characters. Stay under 900 characters.\
"""

STYLES: dict[str, str] = {
    "director": _COMMON
    + """

Style: director. Rewrite the idea as one continuous shot described by a film director and \
cinematographer: the framing and shot size, the lens (e.g. 35 mm, shallow depth of field), \
the camera movement and its speed, the blocking of the subjects and what they do second by \
second, the lighting (key, direction, time of day, practicals), the colour palette and grade, \
the texture (film grain, haze), and the mood. Concrete and visual: describe only what a camera \
would see and a microphone would hear.""",
    "pixar": _COMMON
    + """

Style: pixar. Rewrite the idea as a shot from a warm, family-friendly 3D animated feature: \
expressive stylised characters with big readable emotions and appealing shapes, soft global \
illumination, rich saturated but harmonious colours, subsurface-scattered skin and fur, gentle \
rim light, tactile materials, a playful camera that favours clear staging, and a small moment \
of charm or humour. Original characters only, never existing studio characters.""",
    "clean": _COMMON
    + """

Style: clean. Fix spelling, grammar and word order and remove filler, repetition and \
contradictions, making the prompt clear and specific. Do not add new details, style words or \
camera directions; if the prompt is already clean, return it unchanged.""",
}
"""Each style's system prompt."""


@dataclass(frozen=True)
class Enhancement:
    """A prompt before and after enhancement."""

    original: str
    """The prompt as the user wrote it."""
    enhanced: str
    """The prompt to use: the model's rewrite, or the original when enhancement failed."""
    style: str
    """`director`, `pixar` or `clean`."""
    used_fallback: bool
    """True when the original prompt is used because enhancement failed."""
    note: str | None = None
    """Why enhancement failed, in a sentence for the user; None when it worked."""
    model: str | None = None
    """The chat model that rewrote the prompt, when one did."""

    def record(self) -> dict[str, str | None]:
        """What a pipeline keeps in its spec: the prompt before and after, and why it fell back."""
        return {
            "original": self.original,
            "enhanced": self.enhanced,
            "style": self.style,
            "note": self.note,
        }


def check_style(style: str) -> str:
    """`style` if it is known; else `InvalidRequestError` listing the styles."""
    if style not in STYLES:
        raise InvalidRequestError(
            f"unknown enhancement style {style!r}; choose one of {', '.join(STYLES)}",
            param="style",
            allowed=list(STYLES),
        )
    return style


def _clean(text: str) -> str:
    """The rewrite without the wrappers chat models like to add (fences, quotes, a label)."""
    text = text.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.strip("`").strip()
        first, _, rest = text.partition("\n")
        if rest and first.isalpha():  # a language tag after the opening fence
            text = rest.strip()
    label, colon, rest = text.partition(":")
    if colon and label.strip().lower() in {"prompt", "enhanced prompt", "rewritten prompt"}:
        text = rest.strip()
    if len(text) >= 2 and (text[0] + text[-1]) in ('""', "''", "“”"):
        text = text[1:-1].strip()
    return text


async def enhance_prompt(
    prompt: str,
    style: str,
    *,
    settings: Settings,
    client: openai.AsyncOpenAI | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Enhancement:
    """Rewrite `prompt` in `style` with the chat model; the original is kept on any failure."""
    check_style(style)
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty", param="prompt")

    def fallback(reason: str) -> Enhancement:
        # Info, not warning: the caller tells the user `note` (the CLI prints it), once.
        logger.info("prompt enhancement failed, the original prompt is used: %s", reason)
        return Enhancement(
            original=prompt,
            enhanced=prompt,
            style=style,
            used_fallback=True,
            note=f"prompt enhancement failed ({reason}); the original prompt is used",
        )

    if client is None and chat_api_key(settings) is None:
        return fallback("no chat API key is set: set SORAKIT_CHAT_API_KEY or OPENAI_API_KEY")
    owned = client is None
    active = client or chat_client(settings, timeout=timeout, max_retries=1)
    try:
        answer = await complete(
            active,
            model=settings.chat_model,
            messages=[
                {"role": "system", "content": STYLES[style]},
                {"role": "user", "content": prompt},
            ],
        )
    except SorakitError as exc:
        return fallback(str(exc))
    finally:
        if owned:
            await active.close()
    enhanced = _clean(answer)
    if not enhanced:
        return fallback("the chat model answered with an empty prompt")
    if len(enhanced) > PROMPT_MAX_LENGTH:
        return fallback(
            f"the rewrite is {len(enhanced)} characters long; the maximum is {PROMPT_MAX_LENGTH}"
        )
    return Enhancement(
        original=prompt,
        enhanced=enhanced,
        style=style,
        used_fallback=False,
        model=settings.chat_model,
    )
