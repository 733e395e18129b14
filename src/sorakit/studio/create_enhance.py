"""Prompt enhancement on the Create page: the prompt before and after, side by side, to take or
leave. The chat model's styles (`pipelines.enhance`) rewrite it; the looks (`pipelines.styles`)
add their words offline, so something works with no chat model; when nothing changed the page
says why. The job keeps the prompt before enhancement, as `sorakit generate --enhance` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from sorakit.engine.planning import check_prompt
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.pipelines.enhance import STYLES as CHAT_STYLES, enhance_prompt
from sorakit.pipelines.styles import STYLES as LOOKS, apply_styles
from sorakit.studio.render import StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()


@dataclass(frozen=True)
class Enhanced:
    """A prompt before and after; `note` says why nothing changed, when nothing did."""

    original: str
    enhanced: str
    style: str
    model: str | None
    note: str | None

    @property
    def changed(self) -> bool:
        return self.enhanced.strip() != self.original.strip()


def style_choices() -> dict[str, Any]:
    """The styles the engine has, for the page: the chat model's, then the offline looks."""
    return {"chat_styles": tuple(CHAT_STYLES), "looks": tuple(sorted(LOOKS))}


def with_look(prompt: str, look: str) -> str:
    """The prompt with a look's words added, as a `{look}` tag in it would add them."""
    return apply_styles(f"{prompt} {{{look}}}")[0]


@router.post("/create/enhance")
async def enhance(
    studio: StudioDep,
    prompt: Annotated[str, Form()] = "",
    enhance_style: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """The prompt rewritten in a style, beside the original."""
    if (refusal := studio.form_refusal(csrf_token)) is not None:
        return refusal
    try:
        if enhance_style not in CHAT_STYLES and enhance_style not in LOOKS:
            raise InvalidRequestError(
                f"Unknown style {enhance_style!r}; choose one of "
                f"{', '.join([*CHAT_STYLES, *sorted(LOOKS)])}.",
                param="enhance_style",
            )
        if enhance_style not in CHAT_STYLES:  # a look: its words, added here and now
            check_prompt(prompt)
            result = Enhanced(prompt, with_look(prompt, enhance_style), enhance_style, None, None)
        else:
            done = await enhance_prompt(prompt, enhance_style, settings=studio.settings)
            note = done.note
            if note is None and done.enhanced.strip() == prompt.strip():
                note = f"the chat model ({done.model}) left the prompt as it was"
            result = Enhanced(prompt, done.enhanced, done.style, done.model, note)
    except SorakitError as exc:
        return studio.error(exc)
    return studio.render("_create_enhance.html", result=result, looks=tuple(sorted(LOOKS)))
